/**
 * The sample's session lifecycle over real HTTP and socket.io: short access
 * tokens renewed from an httpOnly refresh cookie, logout (this token and this
 * cookie) and log out everywhere (every credential of the user issued before
 * it, and every socket), revalidation of live sessions against the users.
 * Every refusal has a positive control beside it.
 */
import { jest } from '@jest/globals';
import type { Socket as ClientSocket } from 'socket.io-client';
import { authenticate } from '../../lib/client/index.js';
import { AuthSocketService } from '../../lib/index.js';
import { ChatJwtStrategy } from '../../sample/chat-jwt.strategy.js';
import { UsersService } from '../../sample/users.service.js';
import { closeClients, connect, once, record, until } from '../support/harness.js';
import {
  attempt,
  claims,
  login,
  loginFull,
  logout,
  logoutAll,
  nextSecond,
  refresh,
  startSample,
  type Sample,
} from './sample-app.js';

const env = { ...process.env };
afterEach(() => {
  closeClients();
  jest.restoreAllMocks();
});
afterAll(() => {
  process.env = env;
});

/** The cookie's value: the refresh JWT itself. */
const cookieToken = (cookie: string): string => cookie.slice(cookie.indexOf('=') + 1);

describe('tokens and the refresh cookie', () => {
  let sample: Sample;
  beforeAll(async () => {
    delete process.env.REDIS_URL;
    delete process.env.TOKEN_TTL_SECONDS;
    delete process.env.REFRESH_TTL_SECONDS;
    sample = await startSample();
  });
  afterAll(() => sample.close());

  it('login returns a minutes-long access token and sets a week-long httpOnly, SameSite=Strict, Path=/auth refresh cookie of its own audience', async () => {
    const { token, cookie, setCookie } = await loginFull(sample.url, 'alice');
    const access = claims(token);
    expect(access).toMatchObject({ sub: 'alice', aud: 'sample-chat' });
    expect(access.exp - access.iat).toBe(300);
    const refreshClaims = claims(cookieToken(cookie));
    expect(refreshClaims).toMatchObject({ sub: 'alice', aud: 'sample-chat-refresh' });
    expect(refreshClaims.exp - refreshClaims.iat).toBe(7 * 24 * 3600);
    expect(refreshClaims.jti).toEqual(expect.any(String));
    expect(refreshClaims.jti).not.toBe(access.jti);
    const attributes = setCookie.split(';').map((a) => a.trim().toLowerCase());
    expect(attributes).toEqual(
      expect.arrayContaining(['httponly', 'samesite=strict', 'path=/auth', `max-age=${7 * 24 * 3600}`]),
    );
    expect(attributes).not.toContain('secure'); // plain http here; set over HTTPS
  });

  it('POST /auth/refresh trades the cookie for a fresh access token that opens a socket; no cookie, a forged one or an access token as the cookie is 401', async () => {
    const { token, cookie } = await loginFull(sample.url, 'bob');
    const res = await refresh(sample.url, cookie);
    expect(res.status).toBe(200);
    const fresh = (await res.json()).token;
    expect(claims(fresh)).toMatchObject({ sub: 'bob', aud: 'sample-chat' });
    expect(claims(fresh).jti).not.toBe(claims(token).jti);
    expect((await attempt(sample.url, fresh)).reply).toMatchObject({ ok: true, user: { id: 'bob' } });

    expect((await fetch(`${sample.url}/auth/refresh`, { method: 'POST' })).status).toBe(401);
    expect((await refresh(sample.url, `sample_refresh=${cookieToken(cookie).slice(0, -4)}AAAA`)).status).toBe(401);
    expect((await refresh(sample.url, `sample_refresh=${token}`)).status).toBe(401); // other audience
    // A refused cookie is cleared.
    const refused = await refresh(sample.url, `sample_refresh=${token}`);
    expect(refused.headers.getSetCookie().join()).toMatch(/sample_refresh=;.*Max-Age=0/);
    // Control: the same cookie, read among others, still works.
    expect((await refresh(sample.url, `theme=dark; ${cookie}; other=1`)).status).toBe(200);
  });

  it('a refresh token is refused as socket credentials (invalid_credentials), where the access token of the same login is accepted', async () => {
    const { token, cookie } = await loginFull(sample.url, 'alice');
    expect((await attempt(sample.url, cookieToken(cookie))).reply).toMatchObject({
      ok: false,
      error: { code: 'invalid_credentials' },
    });
    expect((await attempt(sample.url, token)).reply).toMatchObject({ ok: true, user: { id: 'alice' } });
  });

  it('a refresh from another origin or site is 403 (SameSite=Strict lets a sibling subdomain through; Sec-Fetch-Site and Origin do not)', async () => {
    const { cookie } = await loginFull(sample.url, 'alice');
    const host = new URL(sample.url).host;
    expect((await refresh(sample.url, cookie, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await refresh(sample.url, cookie, { 'sec-fetch-site': 'same-site' })).status).toBe(403);
    expect((await refresh(sample.url, cookie, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await refresh(sample.url, cookie, { origin: 'null' })).status).toBe(403);
    // Controls: the page's own requests, as a browser labels them.
    expect((await refresh(sample.url, cookie, { 'sec-fetch-site': 'same-origin' })).status).toBe(200);
    expect((await refresh(sample.url, cookie, { origin: `http://${host}` })).status).toBe(200);
  });
});

describe('logout and log out everywhere', () => {
  let sample: Sample;
  beforeAll(async () => {
    delete process.env.REDIS_URL;
    sample = await startSample();
  });
  afterAll(() => sample.close());

  /** A socket authenticated with `token`. */
  async function socketWith(token: string): Promise<ClientSocket> {
    const { socket, reply } = await attempt(sample.url, token);
    expect(reply.ok).toBe(true);
    return socket;
  }

  it('logout revokes only this token and this cookie: its socket ends, another login of the same user keeps its socket, its cookie and new logins', async () => {
    const mine = await loginFull(sample.url, 'alice');
    const other = await loginFull(sample.url, 'alice');
    const mySocket = await socketWith(mine.token);
    const otherSocket = await socketWith(other.token);
    const otherTold = record(otherSocket, 'unauthorized');
    const told = once(mySocket, 'unauthorized');
    const gone = once(mySocket, 'disconnect');

    const res = await logout(sample.url, mine.token, mine.cookie);
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie().join()).toMatch(/sample_refresh=;.*Max-Age=0.*Path=\/auth/);
    expect(await told).toEqual({ code: 'revoked', message: 'Logged out' });
    await gone;

    // Refused from now on: the token on a new socket, the cookie at refresh, a second logout.
    expect((await attempt(sample.url, mine.token)).reply).toMatchObject({ ok: false, error: { code: 'revoked' } });
    expect((await refresh(sample.url, mine.cookie)).status).toBe(401);
    expect((await logout(sample.url, mine.token, mine.cookie)).status).toBe(401);

    // Controls: the other login's socket is live and chats, its cookie refreshes, a new login (even in the same
    // second: logout is not "issued before") authenticates.
    expect(await otherSocket.timeout(3000).emitWithAck('chat:send', { text: 'still here' })).toEqual({ ok: true });
    expect(otherTold).toEqual([]);
    expect((await refresh(sample.url, other.cookie)).status).toBe(200);
    expect((await attempt(sample.url, await login(sample.url, 'alice'))).reply).toMatchObject({ ok: true });
    await nextSecond();
    expect((await attempt(sample.url, await login(sample.url, 'alice'))).reply).toMatchObject({ ok: true });
  });

  it('logout with the cookie alone revokes the cookie; with neither credential it is 401', async () => {
    const { token, cookie } = await loginFull(sample.url, 'bob');
    const res = await fetch(`${sample.url}/auth/logout`, { method: 'POST', headers: { cookie } });
    expect(res.status).toBe(200);
    expect((await refresh(sample.url, cookie)).status).toBe(401);
    expect((await attempt(sample.url, token)).reply.ok).toBe(true); // control: only what was presented is revoked
    expect((await fetch(`${sample.url}/auth/logout`, { method: 'POST' })).status).toBe(401);
  });

  it('log out everywhere ends every socket of the user and refuses their older tokens and cookies; other users are untouched, and a login from the next second works', async () => {
    const first = await loginFull(sample.url, 'alice');
    const second = await loginFull(sample.url, 'alice');
    const bob = await loginFull(sample.url, 'bob');
    const sockets = [await socketWith(first.token), await socketWith(second.token)];
    const bobSocket = await socketWith(bob.token);
    const bobTold = record(bobSocket, 'unauthorized');
    const told = sockets.map((s) => once(s, 'unauthorized'));
    const gone = sockets.map((s) => once(s, 'disconnect'));
    expect((await refresh(sample.url, second.cookie)).status).toBe(200); // control: the cookie worked before

    const res = await logoutAll(sample.url, first.token);
    const revokedAt = Date.now();
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, disconnected: 2 });
    for (const payload of await Promise.all(told))
      expect(payload).toEqual({ code: 'revoked', message: 'Logged out everywhere' });
    await Promise.all(gone);

    // The other login's token and cookie, never logged out themselves, are refused: they were issued before.
    expect((await attempt(sample.url, second.token)).reply).toMatchObject({ ok: false, error: { code: 'revoked' } });
    expect((await refresh(sample.url, second.cookie)).status).toBe(401);
    expect((await refresh(sample.url, first.cookie)).status).toBe(401);
    expect((await logoutAll(sample.url, second.token)).status).toBe(401);

    // Controls: bob is untouched; alice logs in again from the next second on (iat has whole seconds).
    expect(await bobSocket.timeout(3000).emitWithAck('chat:send', { text: 'hi' })).toEqual({ ok: true });
    expect(bobTold).toEqual([]);
    expect((await refresh(sample.url, bob.cookie)).status).toBe(200);
    await nextSecond(revokedAt);
    const again = await loginFull(sample.url, 'alice');
    expect((await attempt(sample.url, again.token)).reply).toMatchObject({ ok: true, user: { id: 'alice' } });
    expect((await refresh(sample.url, again.cookie)).status).toBe(200);
  });
});

describe('a socket kept alive by the client helper and /auth/refresh', () => {
  const TTL = 3;
  let sample: Sample;
  beforeAll(async () => {
    delete process.env.REDIS_URL;
    process.env.TOKEN_TTL_SECONDS = String(TTL);
    sample = await startSample();
  });
  afterAll(async () => {
    delete process.env.TOKEN_TTL_SECONDS;
    await sample.close();
  });

  it('stays authenticated across three token expiries with no unauthorized and no disconnect, each token from the cookie', async () => {
    const { token, cookie } = await loginFull(sample.url, 'bob');
    const tokens = [token];
    let first: string | undefined = token; // the login's own token, for the first authentication
    const fromCookie = async () => {
      const given = first ?? (await (await refresh(sample.url, cookie)).json()).token;
      if (!first) tokens.push(given);
      first = undefined;
      return { token: given };
    };
    const socket = connect(sample.url);
    const auth = authenticate(socket, fromCookie);
    const unauthorized = record(socket, 'unauthorized');
    const disconnects = record(socket, 'disconnect');
    const warned = record(socket, 'refresh_required');
    await auth;
    const expired = () => tokens.filter((t) => claims(t).exp * 1000 < Date.now()).length;
    await until(() => expired() >= 3, 6 * TTL * 1000, 'three expired tokens');
    expect(unauthorized).toEqual([]);
    expect(disconnects).toEqual([]);
    expect(auth.state).toBe('authenticated');
    expect(auth.expiresAt).toBeGreaterThan(Date.now());
    expect(await socket.timeout(3000).emitWithAck('chat:send', { text: 'after three expiries' })).toEqual({ ok: true });
    // The helper refreshes ahead of the server's refresh_required, which it would also have answered.
    expect(warned.length).toBeLessThanOrEqual(tokens.length);
    auth.close();
  }, 30_000);

  it('a session whose refresh did not come in time (onExpiry: reauthenticate) is asked again on the same socket, and a token from the cookie brings it back', async () => {
    const { token, cookie } = await loginFull(sample.url, 'bob');
    let calls = 0;
    const socket = connect(sample.url);
    // refresh: false stands for a refresh that never made it (a sleeping laptop): the session reaches its expiry.
    const auth = authenticate(
      socket,
      async () => ({ token: calls++ === 0 ? token : (await (await refresh(sample.url, cookie)).json()).token }),
      { refresh: false },
    );
    await auth;
    const disconnects = record(socket, 'disconnect');
    const expired = once(socket, 'unauthorized', (TTL + 2) * 1000);
    const again = new Promise<void>((resolve) =>
      auth.onStateChange((state) => state === 'authenticated' && calls === 2 && resolve()),
    );
    expect(await expired).toMatchObject({ code: 'expired', reauthenticate: true });
    await again;
    expect(disconnects).toEqual([]);
    expect(await socket.timeout(3000).emitWithAck('chat:send', { text: 'back after expiry' })).toEqual({ ok: true });
    auth.close();
  });

  it('without refreshes the same session ends at its expiry (control): unauthorized expired, asked to authenticate again', async () => {
    const socket = connect(sample.url);
    const auth = authenticate(socket, { token: await login(sample.url, 'bob') });
    await auth;
    expect(await once(socket, 'unauthorized', (TTL + 2) * 1000)).toMatchObject({
      code: 'expired',
      reauthenticate: true,
    });
    auth.close();
  });
});

describe('revalidation against the users', () => {
  let sample: Sample;
  let users: UsersService;
  let service: AuthSocketService;
  beforeAll(async () => {
    delete process.env.REDIS_URL;
    process.env.REVALIDATE_INTERVAL_MS = '300';
    sample = await startSample();
    users = sample.app.get(UsersService);
    service = sample.app.get(AuthSocketService);
  });
  afterAll(async () => {
    delete process.env.REVALIDATE_INTERVAL_MS;
    await sample.close();
  });

  it('new roles apply to a live session: bob, made admin, may clear the chat and is told his new roles', async () => {
    const { socket: bob } = await attempt(sample.url, await login(sample.url, 'bob'));
    expect(await bob.timeout(3000).emitWithAck('chat:clear')).toMatchObject({ error: { code: 'forbidden' } });
    const real = users.findById.bind(users);
    jest
      .spyOn(users, 'findById')
      .mockImplementation((id) => (id === 'bob' ? { ...real('bob')!, roles: ['admin'] } : real(id)));
    const told = once(bob, 'authenticated');
    expect(await service.revalidate('bob')).toEqual({ sessions: 1, complete: true });
    expect((await told).user).toEqual({ id: 'bob', name: 'Bob', roles: ['admin'], teams: ['red'] });
    expect(await bob.timeout(3000).emitWithAck('chat:clear')).toEqual({ ok: true });
    expect(bob.connected).toBe(true);
  });

  it('a user who is gone loses their live sessions within a few revalidateInterval, with invalidated; others stay', async () => {
    const { socket: bob } = await attempt(sample.url, await login(sample.url, 'bob'));
    const { socket: alice } = await attempt(sample.url, await login(sample.url, 'alice'));
    const aliceTold = record(alice, 'unauthorized');
    // Control: revalidated twice while bob still exists, his session runs on.
    const checks = jest.spyOn(ChatJwtStrategy.prototype, 'revalidate');
    const bobChecks = () => checks.mock.calls.filter(([p]) => p.id === 'bob').length;
    await until(() => bobChecks() >= 2, 3000, 'two revalidations of bob');
    expect(bob.connected).toBe(true);
    const real = users.findById.bind(users);
    jest.spyOn(users, 'findById').mockImplementation((id) => (id === 'bob' ? undefined : real(id)));
    expect((await once(bob, 'unauthorized', 3000)).code).toBe('invalidated');
    expect(aliceTold).toEqual([]);
    expect(await alice.timeout(3000).emitWithAck('chat:send', { text: 'alice stays' })).toEqual({ ok: true });
  });
});
