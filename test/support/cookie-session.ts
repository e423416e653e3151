/**
 * A cookie-session app, as the README's recipe builds it: express-session on
 * Nest's HTTP routes and on socket.io's engine, a login route, and a strategy
 * with `source: 'request'`.
 */
import { Controller, HttpCode, Injectable, type INestApplication, Post, Req } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import session from 'express-session';
import type { IncomingMessage } from 'node:http';
import type { Server, ServerOptions } from 'socket.io';
import type { AuthPrincipal, AuthSocketModuleOptions, AuthStrategy } from '../../lib/index.js';
import { createApp, type TestApp } from './harness.js';

export type SessionRequest = IncomingMessage & { session?: session.Session & { user?: string } };

const sessionMiddleware = session({
  secret: 'test-session-secret',
  resave: false,
  saveUninitialized: false,
  store: new session.MemoryStore(),
});
export const ORIGIN = 'http://chat.example';

@Controller()
export class LoginController {
  @Post('login')
  @HttpCode(200)
  login(@Req() req: SessionRequest): { ok: true } {
    req.session!.user = 'alice';
    return { ok: true };
  }
}

@Injectable()
export class SessionStrategy implements AuthStrategy {
  readonly source = 'request' as const;
  async authenticate(request: unknown): Promise<AuthPrincipal | null> {
    const user = (request as SessionRequest).session?.user;
    return user ? { id: user } : null;
  }
}

@WebSocketGateway()
export class Gateway {
  @WebSocketServer() server!: Server;
}

class SessionIoAdapter extends IoAdapter {
  createIOServer(port: number, options?: ServerOptions): Server {
    const server = super.createIOServer(port, options) as Server;
    server.engine.use(sessionMiddleware);
    return server;
  }
}

export async function login(url: string): Promise<string> {
  const res = await fetch(`${url}/login`, { method: 'POST' });
  const cookie = res.headers.get('set-cookie');
  if (!cookie) throw new Error('no session cookie');
  return cookie.split(';')[0];
}

/** The app: the session middleware on both sides, allowedOrigins [ORIGIN]. */
export function cookieApp(
  options: Partial<AuthSocketModuleOptions> = {},
  controllers: Array<new (...args: never[]) => unknown> = [],
): Promise<TestApp> {
  return createApp(
    { strategy: SessionStrategy, timeout: 2000, allowedOrigins: [ORIGIN], ...options },
    { providers: [Gateway], controllers: [LoginController, ...controllers] },
    (app: INestApplication) => {
      app.use(sessionMiddleware);
      app.useWebSocketAdapter(new SessionIoAdapter(app));
    },
  );
}
