/**
 * The app's HTTP Passport strategies, reused for sockets through
 * fromPassport(): real passport-jwt, passport-http-bearer and passport-custom,
 * each a `PassportStrategy(Strategy)` subclass provided where the app's HTTP
 * authentication lives, and the same instance serving an HTTP route.
 */
import { Controller, Get, Injectable, Module, Req, UnauthorizedException, UseGuards } from '@nestjs/common';
import { JwtModule, JwtService } from '@nestjs/jwt';
import { AuthGuard, PassportModule, PassportStrategy } from '@nestjs/passport';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import { Strategy as BearerBase } from 'passport-http-bearer';
import { Strategy as CustomBase } from 'passport-custom';
import { ExtractJwt, Strategy as JwtBase } from 'passport-jwt';
import { anyStrategy, Authenticated, AuthSocketConfigError, AuthUser, type AuthPrincipal } from '../../lib/index.js';
import { fromPassport } from '../../lib/passport/index.js';
import { authenticate, captureLogs, connect, connected, createApp, withApp } from '../support/harness.js';

const SECRET = 'passport-socket-test-secret-0123456789';
const refused = (code: string) => ({ ok: false, error: { code, message: expect.any(String) } });

/** What the app's users look like to Passport's validate(). */
const USERS: Record<string, { userId: string; username: string; roles: string[]; locked?: boolean }> = {
  alice: { userId: 'alice', username: 'Alice', roles: ['admin'] },
  mallory: { userId: 'mallory', username: 'Mallory', roles: [], locked: true },
};

@Injectable()
class JwtStrategy extends PassportStrategy(JwtBase) {
  calls = 0;
  constructor() {
    super({ jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(), secretOrKey: SECRET, ignoreExpiration: false });
  }
  validate(payload: { sub: string }) {
    this.calls++;
    const user = USERS[payload.sub];
    if (payload.sub === 'crash') throw new Error('database down near secret-token');
    if (!user || user.locked) throw new UnauthorizedException('Account locked');
    return user;
  }
}

@Injectable()
class BearerStrategy extends PassportStrategy(BearerBase, 'bearer') {
  validate(token: string) {
    return token === 'opaque-alice' ? { id: 'alice', roles: ['admin'] } : false;
  }
}

@Injectable()
class ApiKeyStrategy extends PassportStrategy(CustomBase, 'api-key') {
  calls = 0;
  validate(req: { body?: { apiKey?: unknown } }) {
    this.calls++;
    return req.body?.apiKey === 'device-key-1' ? { id: 'sensor-1', kind: 'device' } : false;
  }
}

@Injectable()
class CookieStrategy extends PassportStrategy(CustomBase, 'cookie') {
  validate(req: IncomingMessage) {
    return /(?:^|; )sid=alice-session(?:;|$)/.test(req.headers?.cookie ?? '') ? { id: 'alice' } : false;
  }
}

@Controller()
class MeController {
  @UseGuards(AuthGuard('jwt'))
  @Get('me')
  me(@Req() req: { user: { userId: string } }) {
    return req.user.userId;
  }
}

/** The app's HTTP authentication module, as Nest's recipe has it: nothing exported for the sockets' sake. */
@Module({
  imports: [PassportModule, JwtModule.register({ secret: SECRET, signOptions: { expiresIn: '5m' } })],
  providers: [JwtStrategy, BearerStrategy, ApiKeyStrategy, CookieStrategy],
  controllers: [MeController],
})
class HttpAuthModule {}

@WebSocketGateway()
class Gateway {
  @Authenticated({ roles: ['admin'] })
  @SubscribeMessage('admin:whoami')
  whoami(@AuthUser() user: AuthPrincipal) {
    return user.id;
  }

  @Authenticated()
  @SubscribeMessage('principal')
  principal(@AuthUser() user: AuthPrincipal) {
    const { id, username, roles, tokenId, issuedAt } = user;
    return { id, username, roles, tokenId, issuedAt };
  }
}

describe('fromPassport(): the app’s Passport strategies for sockets', () => {
  it('passport-jwt: the same strategy instance authenticates HTTP and sockets; validate() shapes the principal, the token gives expiry and ids', async () => {
    await withApp(
      { strategy: fromPassport(JwtStrategy) },
      { imports: [HttpAuthModule], providers: [Gateway] },
      async (t) => {
        const jwt = t.app.get(JwtService);
        const token = await jwt.signAsync({ sub: 'alice' }, { jwtid: 'jti-1' });
        // HTTP, unchanged.
        const http = await fetch(`${t.url}/me`, { headers: { authorization: `Bearer ${token}` } });
        expect(await http.text()).toBe('alice');

        const socket = connect(t.url);
        await connected(socket);
        const ack = await authenticate(socket, { token });
        expect(ack).toMatchObject({ ok: true, user: { id: 'alice' } });
        const claims = jwt.decode(token) as { exp: number; iat: number };
        expect(ack.expiresAt).toBe(claims.exp * 1000);
        expect(await socket.timeout(3000).emitWithAck('principal')).toEqual({
          id: 'alice',
          username: 'Alice',
          roles: ['admin'],
          tokenId: 'jti-1',
          issuedAt: claims.iat * 1000,
        });
        // The roles from validate() reach @Authenticated({ roles }).
        expect(await socket.timeout(3000).emitWithAck('admin:whoami')).toBe('alice');
        expect(t.app.get(JwtStrategy).calls).toBe(2); // one HTTP request, one socket: the app's own instance
      },
    );
  });

  it('passport-jwt refusals are coded, never "Internal server error": bad token, expired, validate() throwing UnauthorizedException, and a crash', async () => {
    const logs = captureLogs();
    try {
      await withApp(
        { strategy: fromPassport(JwtStrategy) },
        { imports: [HttpAuthModule], providers: [Gateway] },
        async (t) => {
          const jwt = t.app.get(JwtService);
          const tryWith = async (token: string) => {
            const socket = connect(t.url);
            await connected(socket);
            return authenticate(socket, { token });
          };
          // Control first: a good token passes.
          expect((await tryWith(await jwt.signAsync({ sub: 'alice' }))).ok).toBe(true);
          expect(await tryWith('not-a-jwt')).toEqual(refused('invalid_credentials'));
          expect(await tryWith(await jwt.signAsync({ sub: 'alice' }, { secret: 'another-secret-0123456789' }))).toEqual(
            refused('invalid_credentials'),
          );
          expect(await tryWith(await jwt.signAsync({ sub: 'alice' }, { expiresIn: -60 }))).toEqual(refused('expired'));
          const locked = await tryWith(await jwt.signAsync({ sub: 'mallory' }));
          expect(locked).toEqual(refused('invalid_credentials'));
          const crash = await tryWith(await jwt.signAsync({ sub: 'crash' }));
          expect(crash).toEqual(refused('server_error'));
          expect(JSON.stringify(crash)).not.toContain('database');
        },
      );
      expect(logs.lines.join('\n')).not.toContain('secret-token');
    } finally {
      logs.restore();
    }
  });

  it('passport-http-bearer reads { token } as the bearer token, and { access_token } from the message as a body field', async () => {
    await withApp(
      { strategy: fromPassport(BearerStrategy) },
      { imports: [HttpAuthModule], providers: [Gateway] },
      async (t) => {
        const a = connect(t.url);
        const b = connect(t.url);
        const c = connect(t.url);
        await Promise.all([a, b, c].map((s) => connected(s)));
        expect(await authenticate(a, { token: 'opaque-alice' })).toMatchObject({ ok: true, user: { id: 'alice' } });
        expect(await authenticate(b, { access_token: 'opaque-alice' })).toMatchObject({ ok: true });
        expect(await authenticate(c, { token: 'opaque-bob' })).toEqual(refused('invalid_credentials'));
      },
    );
  });

  it('passport-custom sees the message as the request body; a message strategy never sees the handshake cookies', async () => {
    await withApp(
      { strategy: fromPassport(ApiKeyStrategy) },
      { imports: [HttpAuthModule], providers: [Gateway] },
      async (t) => {
        const device = connect(t.url);
        const wrong = connect(t.url);
        await Promise.all([device, wrong].map((s) => connected(s)));
        expect(await authenticate(device, { apiKey: 'device-key-1' })).toMatchObject({
          ok: true,
          user: { id: 'sensor-1' },
        });
        expect(await authenticate(wrong, { apiKey: 'guess' })).toEqual(refused('invalid_credentials'));
      },
    );
    // The cookie strategy given message credentials: the browser's cookie is not part of the request it sees.
    await withApp(
      { strategy: fromPassport(CookieStrategy) },
      { imports: [HttpAuthModule], providers: [Gateway] },
      async (t) => {
        const socket = connect(t.url, { extraHeaders: { cookie: 'sid=alice-session' } });
        await connected(socket);
        expect(await authenticate(socket, { any: 'thing' })).toEqual(refused('invalid_credentials'));
      },
    );
  });

  it("with source 'request', a cookie strategy reads the handshake request (and, as every cookie strategy, needs allowedOrigins)", async () => {
    await withApp(
      { strategy: fromPassport(CookieStrategy, { source: 'request' }), allowedOrigins: ['http://chat.test'] },
      { imports: [HttpAuthModule], providers: [Gateway] },
      async (t) => {
        const withCookie = connect(t.url, {
          extraHeaders: { cookie: 'sid=alice-session', origin: 'http://chat.test' },
        });
        const without = connect(t.url, { extraHeaders: { origin: 'http://chat.test' } });
        const welcome = new Promise((resolve) => withCookie.once('authenticated', resolve));
        const refusedEvent = new Promise((resolve) => without.once('unauthorized', resolve));
        expect(await welcome).toMatchObject({ user: { id: 'alice' } });
        expect(await refusedEvent).toMatchObject({ code: 'invalid_credentials' });
      },
    );
  });

  it('a strategy the app does not provide fails at start-up, named', async () => {
    @Injectable()
    class NowhereStrategy extends PassportStrategy(CustomBase, 'nowhere') {
      validate() {
        return { id: 'x' };
      }
    }
    let error: unknown;
    try {
      const t = await createApp(
        { strategy: fromPassport(NowhereStrategy) },
        { imports: [HttpAuthModule], providers: [Gateway] },
      );
      await t.close();
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AuthSocketConfigError);
    expect((error as AuthSocketConfigError).code).toBe('AUTH_SOCKET_INVALID_STRATEGY');
    expect((error as Error).message).toContain('NowhereStrategy is not provided in the app');
  });
});

describe('anyStrategy(): more than one way in', () => {
  it("{ field: 'type' } picks the strategy the credentials name: a JWT for the web, an API key for devices", async () => {
    const strategy = anyStrategy(
      { web: fromPassport(JwtStrategy), device: fromPassport(ApiKeyStrategy) },
      { field: 'type' },
    );
    await withApp({ strategy }, { imports: [HttpAuthModule], providers: [Gateway] }, async (t) => {
      const token = await t.app.get(JwtService).signAsync({ sub: 'alice' });
      const web = connect(t.url);
      const device = connect(t.url);
      const unknown = connect(t.url);
      await Promise.all([web, device, unknown].map((s) => connected(s)));
      expect(await authenticate(web, { type: 'web', token })).toMatchObject({ ok: true, user: { id: 'alice' } });
      expect(await authenticate(device, { type: 'device', apiKey: 'device-key-1' })).toMatchObject({
        ok: true,
        user: { id: 'sensor-1' },
      });
      expect(await authenticate(unknown, { type: 'other', apiKey: 'device-key-1' })).toEqual(
        refused('invalid_credentials'),
      );
      expect(t.app.get(ApiKeyStrategy).calls).toBe(1); // the device strategy only, and only for its own type
    });
  });

  it("'in-order' tries each until one accepts; a refusal by all counts one failure against the budget, not one per strategy", async () => {
    const strategy = anyStrategy({ web: fromPassport(JwtStrategy), device: fromPassport(ApiKeyStrategy) });
    await withApp(
      { strategy, maxFailuresPerAddress: 2 },
      { imports: [HttpAuthModule], providers: [Gateway] },
      async (t) => {
        const token = await t.app.get(JwtService).signAsync({ sub: 'alice' });
        const ok = connect(t.url);
        await connected(ok);
        expect(await authenticate(ok, { apiKey: 'device-key-1' })).toMatchObject({
          ok: true,
          user: { id: 'sensor-1' },
        });
        expect(await authenticate(connect(t.url), { token })).toMatchObject({ ok: true, user: { id: 'alice' } });
        // Two attempts refused by both strategies use the budget of 2 (one each); the third is rate_limited.
        const answers = [];
        for (let i = 0; i < 3; i++) {
          const s = connect(t.url);
          await connected(s);
          answers.push((await authenticate(s, { token: 'forged', apiKey: 'guess' })).error.code);
        }
        expect(answers).toEqual(['invalid_credentials', 'invalid_credentials', 'rate_limited']);
      },
    );
  });
});
