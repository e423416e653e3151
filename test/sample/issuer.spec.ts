/**
 * Issuer mode: the sample with AUTH_ISSUER pointing at the local issuer
 * (sample/issuer.ts), both in this process on loopback, with real HTTP and
 * socket.io. Logins get RS256 tokens from the issuer's token endpoint;
 * sockets verify them against its published keys (ChatJwksStrategy); the
 * sample's own HS256 tokens are refused; a key rotation is picked up; an
 * unreachable key set is `server_error`, not the client's fault. Each refusal
 * has a positive control beside it. The tests run in order: the last one
 * stops the issuer.
 */
import { JwtService } from '@nestjs/jwt';
import { randomUUID } from 'node:crypto';
import type { Socket as ClientSocket } from 'socket.io-client';
import { startIssuer, type RunningIssuer } from '../../sample/issuer.js';
import { TokenService } from '../../sample/token.service.js';
import { UsersService } from '../../sample/users.service.js';
import { authenticate, captureLogs, closeClients, connect, once } from '../support/harness.js';
import { claims, loginFull, logout, refresh, startSample, type Sample } from './sample-app.js';

/** Generous: RSA keys, discovery and key fetches on a loaded two-core machine. */
const WAIT = 10_000;

function headerOf(token: string): { alg: string; kid?: string; typ?: string } {
  return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
}

const env = { ...process.env };
const logs = captureLogs();
const secrets = ['alice-secret', 'bob-secret', 'carol-secret'];

describe('the sample in issuer mode (AUTH_ISSUER)', () => {
  let issuer: RunningIssuer;
  let sample: Sample;
  const issuerLog: string[] = [];

  beforeAll(async () => {
    issuer = await startIssuer({ port: 0, host: '127.0.0.1', log: (line) => issuerLog.push(line) });
    delete process.env.REDIS_URL;
    process.env.AUTH_ISSUER = issuer.issuer;
    // A rotated key is fetched at its first token, however soon after the last fetch (the default waits 30 s).
    process.env.JWKS_COOLDOWN_MS = '0';
    // Room for key fetches on a loaded machine; the strategy's fetch timeout is 3/4 of it.
    process.env.AUTH_TIMEOUT_MS = '8000';
    sample = await startSample();
  });
  afterAll(async () => {
    closeClients();
    await sample?.close();
    await issuer?.close();
    process.env = { ...env };
    logs.restore();
  });

  /** A login through the sample's own route (which asks the issuer); its access token and refresh cookie remembered as secrets. */
  async function login(user: string): Promise<{ token: string; cookie: string }> {
    const { token, cookie } = await loginFull(sample.url, user);
    secrets.push(token, cookie.split('=')[1]);
    return { token, cookie };
  }

  /** A new socket and the server's answer to `authentication { token }`. */
  async function attempt(token: string): Promise<{ socket: ClientSocket; reply: any }> {
    const socket = connect(sample.url);
    return { socket, reply: await authenticate(socket, { token }, WAIT) };
  }

  async function rotate(): Promise<string> {
    const res = await fetch(`${issuer.issuer}/rotate`, { method: 'POST' });
    expect(res.status).toBe(200);
    return (await res.json()).kid;
  }

  it('logs in with an RS256 token from the issuer, which a socket authenticates with and chats', async () => {
    expect(issuerLog).toEqual([`issuer on ${issuer.issuer} (run the sample with AUTH_ISSUER=${issuer.issuer})`]);
    const { token } = await login('alice');
    expect(headerOf(token)).toMatchObject({ alg: 'RS256', kid: issuer.kid });
    const c = claims(token) as ReturnType<typeof claims> & Record<string, unknown>;
    expect(c).toMatchObject({ iss: issuer.issuer, aud: 'sample-chat', sub: 'alice', roles: ['admin'], teams: ['red'] });
    expect(c.exp - c.iat).toBe(300);
    expect(typeof c.jti).toBe('string');
    expect(typeof c.sid).toBe('string');

    const alice = await attempt(token);
    expect(alice.reply).toMatchObject({ ok: true, user: { id: 'alice', name: 'Alice', roles: ['admin'] } });
    const bob = await attempt((await login('bob')).token);
    expect(bob.reply).toMatchObject({ ok: true, user: { id: 'bob' } });

    const heard = once(bob.socket, 'chat:message', WAIT);
    expect(await alice.socket.timeout(WAIT).emitWithAck('chat:send', { text: 'signed by the issuer' })).toEqual({
      ok: true,
    });
    expect(await heard).toEqual({ user: 'Alice', text: 'signed by the issuer' });
  });

  it("wrong passwords are the issuer's 401, and the socket's user is the chat's, not the token's roles and teams", async () => {
    const wrong = await fetch(`${sample.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'carol', password: 'alice-secret' }),
    });
    expect(wrong.status).toBe(401);

    const users = sample.app.get(UsersService);
    users.addToTeam('carol', 'red');
    try {
      const { token } = await login('carol');
      expect(claims(token)).toMatchObject({ teams: ['blue'] }); // the issuer's demo data
      const carol = await attempt(token);
      expect(carol.reply).toMatchObject({ ok: true, user: { id: 'carol', teams: ['blue', 'red'] } });
      expect(await carol.socket.timeout(WAIT).emitWithAck('join', { room: 'team:red' })).toMatchObject({ ok: true });
    } finally {
      users.removeFromTeam('carol', 'red');
    }
  });

  it("refuses the sample's own HS256 tokens with invalid_credentials, where the issuer's token is accepted", async () => {
    // Positive control: a fresh socket with the issuer's token.
    expect((await attempt((await login('alice')).token)).reply).toMatchObject({ ok: true, user: { id: 'alice' } });

    const tokens = sample.app.get(TokenService);
    // Exactly what the sample signs without AUTH_ISSUER: its HMAC secret, its own iss, aud sample-chat, jti, sid.
    const own = await tokens.signAccess('alice', randomUUID());
    expect(headerOf(own).alg).toBe('HS256');
    // The same secret, claiming the issuer's `iss`: HS256 is not an algorithm the strategy accepts.
    const forged = await sample.app
      .get(JwtService)
      .signAsync({ sub: 'alice' }, { jwtid: randomUUID(), issuer: issuer.issuer });
    expect(claims(forged)).toMatchObject({ iss: issuer.issuer, aud: 'sample-chat' });
    secrets.push(own, forged);

    for (const token of [own, forged]) {
      const { socket, reply } = await attempt(token);
      expect(reply).toMatchObject({ ok: false, error: { code: 'invalid_credentials' } });
      socket.disconnect();
    }
    // Nor do they pass as a bearer token on the HTTP side.
    expect((await logout(sample.url, own)).status).toBe(401);
  });

  it('keeps the refresh cookie, logout and the devices panel working with the issuer’s tokens', async () => {
    const first = await login('bob');
    const res = await refresh(sample.url, first.cookie);
    expect(res.status).toBe(200);
    const { token } = await res.json();
    secrets.push(token);
    // A new token of the same login, from the issuer's token endpoint (its refresh token, sealed in the cookie).
    expect(headerOf(token).alg).toBe('RS256');
    const [a, b] = [claims(first.token), claims(token)] as Array<Record<string, unknown>>;
    expect(b).toMatchObject({ iss: issuer.issuer, sub: 'bob', sid: a.sid });
    expect(b.jti).not.toBe(a.jti);
    // The page cannot read the issuer's refresh token out of the cookie: it is sealed.
    const cookieClaims = JSON.parse(Buffer.from(first.cookie.split('=')[1].split('.')[1], 'base64url').toString());
    expect(cookieClaims).toMatchObject({ sub: 'bob', jti: a.sid });
    expect(cookieClaims.upstream.split('.')).toHaveLength(5); // a JWE

    const bob = await attempt(token);
    expect(bob.reply.ok).toBe(true);
    const devices = await fetch(`${sample.url}/auth/sessions`, { headers: { authorization: `Bearer ${token}` } });
    expect(devices.status).toBe(200);
    expect((await devices.json()).sessions.map((s: { id: string }) => s.id)).toContain(bob.reply.sessionId);

    const ended = once(bob.socket, 'unauthorized', WAIT);
    expect((await logout(sample.url, token, first.cookie)).status).toBe(200);
    expect(await ended).toMatchObject({ code: 'revoked' });
    expect((await refresh(sample.url, first.cookie)).status).toBe(401);
    expect((await attempt(token)).reply).toMatchObject({ ok: false, error: { code: 'revoked' } });
  });

  it('after a key rotation a new login (new kid) authenticates, and the socket opened before stays authenticated', async () => {
    const before = await attempt((await login('alice')).token);
    expect(before.reply.ok).toBe(true);
    const oldKid = issuer.kid;

    const kid = await rotate();
    expect(kid).not.toBe(oldKid);
    expect(issuer.kid).toBe(kid);
    const { token } = await login('bob');
    expect(headerOf(token)).toMatchObject({ alg: 'RS256', kid });
    const after = await attempt(token);
    expect(after.reply).toMatchObject({ ok: true, user: { id: 'bob' } });

    const heard = once(after.socket, 'chat:message', WAIT);
    expect(await before.socket.timeout(WAIT).emitWithAck('chat:send', { text: 'still here' })).toEqual({ ok: true });
    expect(await heard).toEqual({ user: 'Alice', text: 'still here' });
    expect(before.socket.connected).toBe(true);
  });

  it('with the issuer stopped, a token signed with a key never fetched is server_error, not invalid_credentials', async () => {
    // Positive control, the issuer up: a token signed with a key the sample has not fetched yet is accepted.
    await rotate();
    const seen = (await login('carol')).token;
    expect((await attempt(seen)).reply).toMatchObject({ ok: true, user: { id: 'carol' } });

    const kid = await rotate();
    const unseen = (await login('carol')).token;
    expect(headerOf(unseen).kid).toBe(kid);
    await issuer.close();

    const down = await attempt(unseen);
    expect(down.reply).toMatchObject({ ok: false, error: { code: 'server_error' } });
    expect(down.reply.error.code).not.toBe('invalid_credentials');
    // The keys fetched before still verify: the outage costs only tokens signed with a key the sample never saw.
    expect((await attempt(seen)).reply).toMatchObject({ ok: true, user: { id: 'carol' } });
    // A login needs the issuer: 503 (the page retries), not 401 (wrong password).
    const res = await fetch(`${sample.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'carol', password: 'carol-secret' }),
    });
    expect(res.status).toBe(503);
  });

  it('logs no token, cookie or password', () => {
    const logged = [...logs.lines, ...issuerLog].join('\n');
    for (const secret of secrets) expect(logged).not.toContain(secret);
  });
});
