import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { principalOf } from '../core/socket-auth.js';

/**
 * The authenticated principal of the calling socket (undefined when not
 * authenticated), or one of its fields: `@AuthUser('id') id: string`.
 */
export const AuthUser = createParamDecorator((field: string | undefined, context: ExecutionContext) => {
  const principal = principalOf(context.switchToWs().getClient<Socket>());
  return field === undefined ? principal : (principal as Record<string, unknown> | undefined)?.[field];
});
