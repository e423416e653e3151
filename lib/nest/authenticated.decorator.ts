import { SetMetadata } from '@nestjs/common';
import { AUTHENTICATED_METADATA } from '../auth-socket.constants.js';

/**
 * On a gateway class or a `@SubscribeMessage` method: the handler runs only for
 * authenticated sockets, waiting while an authentication is in flight.
 */
export const Authenticated = (): ClassDecorator & MethodDecorator => SetMetadata(AUTHENTICATED_METADATA, true);
