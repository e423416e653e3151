/**
 * The sample as an attacker meets it: a logged-out token replayed, a token
 * minted with a secret from the source code, a cluster started without a
 * shared secret. Each refusal has a positive control beside it. (Refresh
 * cookies, logout everywhere and cross-origin refreshes: sessions.spec.ts.)
 */
import { JwtService } from '@nestjs/jwt';
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { REFRESH_AUDIENCE, TOKEN_AUDIENCE, TOKEN_ISSUER } from '../../sample/auth.config.js';
import { uniqueKey } from '../cluster/nodes.js';
import { REDIS_URL, redisReachable } from '../cluster/redis.js';
import { captureLogs, closeClients } from '../support/harness.js';
import { attempt, claims, login, loginFull, logout, refresh, startSample, type Sample } from './sample-app.js';

/** The development secret the sample shipped with before: public, so anyone could sign with it. */
const OLD_DEV_SECRET = 'nestjs-socket-auth-sample-development-secret';

/** A token for alice, valid for ten years, signed with `secret`, with every claim the sample checks (or `audience`). */
function mint(secret: string, audience = TOKEN_AUDIENCE): Promise<string> {
  return new JwtService({ secret }).signAsync(
    { sub: 'alice' },
    { jwtid: randomUUID(), issuer: TOKEN_ISSUER, audience, expiresIn: '3650d' },
  );
}

const env = { ...process.env };
const logs = captureLogs();
afterAll(() => logs.restore());
afterEach(async () => {
  closeClients();
  process.env = { ...env };
});

describe('logout revokes the token itself', () => {
  let sample: Sample;
  beforeAll(async () => {
    delete process.env.REDIS_URL;
    sample = await startSample();
  });
  afterAll(() => sample.close());

  it('a logged-out token opens no new socket and cannot log out again (401), while a new login of the same user works', async () => {
    const token = await login(sample.url, 'alice');
    expect((await attempt(sample.url, token)).reply.ok).toBe(true); // control: the token worked before
    expect((await logout(sample.url, token)).status).toBe(200);

    const replay = await attempt(sample.url, token);
    expect(replay.reply).toMatchObject({ ok: false, error: { code: 'revoked' } });
    expect((await logout(sample.url, token)).status).toBe(401);

    // Control: the user is not banned, only that token.
    expect((await attempt(sample.url, await login(sample.url, 'alice'))).reply).toMatchObject({
      ok: true,
      user: { id: 'alice' },
    });
  });

  it('a token without jti (which logout could not revoke alone) is refused, where the same token with one is accepted', async () => {
    process.env.AUTH_SECRET = `test-${randomUUID()}`;
    const own = await startSample();
    try {
      const jwt = new JwtService({ secret: process.env.AUTH_SECRET });
      const claimsOf = { issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, expiresIn: 60 };
      const withoutJti = await jwt.signAsync({ sub: 'alice' }, claimsOf);
      expect((await attempt(own.url, withoutJti)).reply).toMatchObject({
        ok: false,
        error: { code: 'invalid_credentials' },
      });
      const withJti = await jwt.signAsync({ sub: 'alice' }, { ...claimsOf, jwtid: randomUUID() });
      expect((await attempt(own.url, withJti)).reply).toMatchObject({ ok: true, user: { id: 'alice' } });
    } finally {
      await own.close();
    }
  });
});

const withRedis = (await redisReachable()) ? describe : describe.skip;

withRedis('with REDIS_URL, the revocation store is shared by every node', () => {
  const prefix = `${uniqueKey('revoked')}:`;
  let nodes: Sample[] = [];
  beforeAll(async () => {
    Object.assign(process.env, { REDIS_URL, AUTH_SECRET: `test-${randomUUID()}`, REVOCATION_PREFIX: prefix });
    nodes = [await startSample(), await startSample()];
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
  });

  it('a token and cookie logged out on node 1 are refused by node 2, for sockets and for HTTP, and their Redis keys expire with them', async () => {
    const [one, two] = nodes;
    const { token, cookie } = await loginFull(one.url, 'bob');
    expect((await attempt(two.url, token)).reply.ok).toBe(true); // control: node 2 accepts node 1's token
    expect((await refresh(two.url, cookie)).status).toBe(200); // and its cookie

    expect((await logout(one.url, token, cookie)).status).toBe(200);
    expect((await attempt(two.url, token)).reply).toMatchObject({ ok: false, error: { code: 'revoked' } });
    expect((await logout(two.url, token)).status).toBe(401);
    expect((await refresh(two.url, cookie)).status).toBe(401);

    const redis = createClient({ url: REDIS_URL });
    await redis.connect();
    try {
      const keys = await redis.keys(`${prefix}*`);
      expect(keys.sort()).toEqual(
        [`${prefix}t:${claims(token).jti}`, `${prefix}t:${claims(cookie.slice(cookie.indexOf('=') + 1)).jti}`].sort(),
      );
      // Each kept until its token would expire anyway: minutes for the access token, a week for the cookie.
      const ttl = await redis.pTTL(`${prefix}t:${claims(token).jti}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(claims(token).exp * 1000 - Date.now() + 1000);
    } finally {
      await redis.quit();
    }
  });
});

describe('the signing secret', () => {
  it('without AUTH_SECRET, tokens signed with any fixed secret are refused, and the process says once that tokens will not survive a restart', async () => {
    delete process.env.AUTH_SECRET;
    delete process.env.REDIS_URL;
    const sample = await startSample();
    try {
      // This file started apps without AUTH_SECRET before: the secret is per process, and so is the warning.
      const warnings = logs.lines.filter((line) =>
        /AUTH_SECRET is not set: .*random secret.*will not survive a restart/.test(line),
      );
      expect(warnings).toHaveLength(1);
      const forged = await mint(OLD_DEV_SECRET);
      expect((await attempt(sample.url, forged)).reply).toMatchObject({
        ok: false,
        error: { code: 'invalid_credentials' },
      });
      expect((await logout(sample.url, forged)).status).toBe(401);
      // Nor does a refresh cookie minted that way.
      const forgedCookie = `sample_refresh=${await mint(OLD_DEV_SECRET, REFRESH_AUDIENCE)}`;
      expect((await refresh(sample.url, forgedCookie)).status).toBe(401);
      // Control: the process's own tokens work.
      expect((await attempt(sample.url, await login(sample.url, 'alice'))).reply.ok).toBe(true);
    } finally {
      await sample.close();
    }
  });

  it('with AUTH_SECRET, a token minted the same way with that secret is accepted (control for the forgery above)', async () => {
    process.env.AUTH_SECRET = `test-${randomUUID()}`;
    delete process.env.REDIS_URL;
    const sample = await startSample();
    try {
      expect((await attempt(sample.url, await mint(process.env.AUTH_SECRET))).reply).toMatchObject({
        ok: true,
        user: { id: 'alice' },
      });
      const cookie = `sample_refresh=${await mint(process.env.AUTH_SECRET, REFRESH_AUDIENCE)}`;
      expect((await refresh(sample.url, cookie)).status).toBe(200);
    } finally {
      await sample.close();
    }
  });

  it('with REDIS_URL but no AUTH_SECRET, the app refuses to start and says why', async () => {
    delete process.env.AUTH_SECRET;
    // Nothing listens there: the refusal must come before any connection attempt.
    process.env.REDIS_URL = 'redis://127.0.0.1:1';
    await expect(startSample()).rejects.toThrow(
      /AUTH_SECRET is not set, but REDIS_URL is: .*Set the same AUTH_SECRET .* on every node/,
    );
  });
});
