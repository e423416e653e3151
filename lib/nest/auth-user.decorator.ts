import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { principalOf } from '../core/socket-auth.js';

/** The authenticated principal of the calling socket (undefined when not authenticated). */
export const AuthUser = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  return principalOf(context.switchToWs().getClient<Socket>());
});
