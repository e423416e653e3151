import { SetMetadata } from '@nestjs/common';
import { PUBLIC_NAMESPACE_METADATA } from '../auth-socket.constants.js';

/**
 * On a gateway class: its namespace is public. Its sockets receive broadcasts
 * without authenticating, are never timed out, and are not counted as pending.
 * They may still authenticate, to use `@Authenticated()` handlers there.
 * Every other namespace stays gated.
 */
export const Public = (): ClassDecorator => SetMetadata(PUBLIC_NAMESPACE_METADATA, true);
