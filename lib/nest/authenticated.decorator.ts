import { applyDecorators, SetMetadata, UseGuards } from '@nestjs/common';
import { AUTHENTICATED_METADATA } from '../auth-socket.constants.js';
import type { AuthRequirement } from '../auth-requirement.js';
import { AuthenticatedGuard } from './authenticated.guard.js';

/**
 * On a gateway class or a `@SubscribeMessage` method: the handler runs only for
 * authenticated sockets, waiting while an authentication is in flight. It
 * carries its own guard, so handlers without it run exactly as in plain Nest.
 *
 * A requirement adds authorization: `{ roles: ['admin'] }` (any of them),
 * `{ scopes: ['chat:write'] }` (all of them), or a predicate. A socket that is
 * authenticated but does not qualify is refused with `forbidden` and stays
 * connected.
 */
export const Authenticated = (requirement?: AuthRequirement): ClassDecorator & MethodDecorator =>
  applyDecorators(SetMetadata(AUTHENTICATED_METADATA, requirement ?? true), UseGuards(AuthenticatedGuard));
