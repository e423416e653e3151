import { SetMetadata } from '@nestjs/common';
import { PUBLIC_NAMESPACE_METADATA } from '../auth-socket.constants.js';

/**
 * On a gateway class: its namespace is public. Its sockets receive broadcasts
 * without authenticating, are never timed out, and are not counted as pending.
 * They may still authenticate, to use `@Authenticated()` handlers there.
 * Every other namespace stays gated.
 */
export const PublicNamespace = (): ClassDecorator => SetMetadata(PUBLIC_NAMESPACE_METADATA, true);

/**
 * The same as {@link PublicNamespace}.
 * @deprecated Use `@PublicNamespace()`: `Public` is easily mistaken for the app's own `@Public()` of Nest's
 * authentication recipe, which marks HTTP routes. This alias goes in 0.3.0.
 */
export const Public = PublicNamespace;
