/**
 * Authentication from the handshake request, for cookie sessions: the same
 * express-session instance on Nest's HTTP routes and on socket.io's engine
 * (socket.io's documented `io.engine.use(sessionMiddleware)` pattern).
 */
import { Controller, HttpCode, Injectable, type INestApplication, Post, Req } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import session from 'express-session';
import type { IncomingMessage } from 'node:http';
import type { Server, ServerOptions } from 'socket.io';
import type { AuthPrincipal, AuthStrategy } from '../../lib/index.js';
import { closeClients, connect, createApp, once, record, sleep, type TestApp } from '../support/harness.js';

type SessionRequest = IncomingMessage & { session?: session.Session & { user?: string } };

const sessionMiddleware = session({
  secret: 'test-session-secret',
  resave: false,
  saveUninitialized: false,
  store: new session.MemoryStore(),
});
const ORIGIN = 'http://chat.example';

@Controller()
class LoginController {
  @Post('login')
  @HttpCode(200)
  login(@Req() req: SessionRequest): { ok: true } {
    req.session!.user = 'alice';
    return { ok: true };
  }
}

@Injectable()
class SessionStrategy implements AuthStrategy {
  readonly source = 'request' as const;
  async authenticate(request: unknown): Promise<AuthPrincipal | null> {
    const user = (request as SessionRequest).session?.user;
    return user ? { id: user } : null;
  }
}

@WebSocketGateway()
class Gateway {
  @WebSocketServer() server!: Server;
}

class SessionIoAdapter extends IoAdapter {
  createIOServer(port: number, options?: ServerOptions): Server {
    const server = super.createIOServer(port, options) as Server;
    server.engine.use(sessionMiddleware);
    return server;
  }
}

async function login(url: string): Promise<string> {
  const res = await fetch(`${url}/login`, { method: 'POST' });
  const cookie = res.headers.get('set-cookie');
  if (!cookie) throw new Error('no session cookie');
  return cookie.split(';')[0];
}

describe('cookie sessions: a strategy with source "request"', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createApp(
      { strategy: SessionStrategy, timeout: 2000, allowedOrigins: [ORIGIN] },
      { providers: [Gateway], controllers: [LoginController] },
      (app: INestApplication) => {
        app.use(sessionMiddleware);
        app.useWebSocketAdapter(new SessionIoAdapter(app));
      },
    );
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  it('a logged-in session cookie authenticates at connect, with no message, and the socket gets broadcasts', async () => {
    const cookie = await login(t.url);
    const c = connect(t.url, { extraHeaders: { cookie, origin: ORIGIN } });
    const sent = record(c, 'authentication');
    expect(await once(c, 'authenticated')).toEqual({ user: { id: 'alice' } });
    expect(sent).toEqual([]);
    t.app.get(Gateway).server.emit('news', 'hello');
    expect(await once(c, 'news')).toBe('hello');
  });

  it('no cookie: refused invalid_credentials and disconnected', async () => {
    const c = connect(t.url, { extraHeaders: { origin: ORIGIN } });
    const gone = once(c, 'disconnect');
    expect(await once(c, 'unauthorized')).toMatchObject({ code: 'invalid_credentials' });
    await gone;
  });

  it('a foreign cookie (not signed by this app) is refused; the real one next to it works', async () => {
    const forged = connect(t.url, { extraHeaders: { cookie: 'connect.sid=s%3Aforged.c2lnbmF0dXJl', origin: ORIGIN } });
    expect(await once(forged, 'unauthorized')).toMatchObject({ code: 'invalid_credentials' });
    const real = connect(t.url, { extraHeaders: { cookie: await login(t.url), origin: ORIGIN } });
    expect(await once(real, 'authenticated')).toEqual({ user: { id: 'alice' } });
  });

  it('a cross-origin handshake with a valid cookie is refused before anything runs (no hijacking)', async () => {
    const cookie = await login(t.url);
    const c = connect(t.url, { extraHeaders: { cookie, origin: 'http://evil.example' } });
    const error = await once<{ data: { code: string } }>(c, 'connect_error');
    expect(error.data.code).toBe('forbidden_origin');
    await sleep(50);
    expect(t.auth.stats().authenticated).toBe(0);
  });
});
