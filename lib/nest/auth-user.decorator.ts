import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { sessionOf } from '../core/session.js';

/** The authenticated principal of the calling socket (undefined when not authenticated). */
export const AuthUser = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  const session = sessionOf(context.switchToWs().getClient<Socket>());
  return session?.state === 'authenticated' ? session.principal : undefined;
});
