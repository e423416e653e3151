/**
 * The sample's contract, which the browser tests and README rely on, driven
 * in-process with a real HTTP and socket.io stack. Its log is captured whole
 * and must never contain a token or a password.
 */
import { Test } from '@nestjs/testing';
import type { INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { AppModule } from '../../sample/app.module.js';
import { ChatGateway } from '../../sample/chat.gateway.js';
import { captureLogs, closeClients, connect, connected, once, record, sleep } from '../support/harness.js';

describe('sample chat server', () => {
  let app: INestApplication;
  let url: string;
  const logs = captureLogs();
  const secrets: string[] = ['alice-secret', 'bob-secret', 'carol-secret'];

  beforeAll(async () => {
    process.env.TOKEN_TTL_SECONDS = '3600';
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication();
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    closeClients();
    await app.close();
    logs.restore();
  });

  async function login(username: string, password: string): Promise<Response> {
    return fetch(`${url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
  }
  async function tokenFor(username: string): Promise<string> {
    const res = await login(username, `${username}-secret`);
    // The refresh cookie is a secret too.
    secrets.push(...res.headers.getSetCookie().map((c) => c.split(';')[0].split('=')[1]));
    const { token } = await res.json();
    secrets.push(token);
    return token;
  }

  it('serves a page on GET /', async () => {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<html');
  });

  it('logs demo users in with a signed token and refuses wrong passwords with 401', async () => {
    expect((await login('alice', 'alice-secret')).status).toBe(200);
    expect((await login('alice', 'wrong')).status).toBe(401);
    expect((await login('mallory', 'x')).status).toBe(401);
    const token = await tokenFor('bob');
    expect(token.split('.')).toHaveLength(3);
  });

  it('relays chat:send from authenticated users to every authenticated socket, sender included, and no one else', async () => {
    const alice = connect(url);
    const bob = connect(url);
    const stranger = connect(url);
    await Promise.all([connected(alice), connected(bob), connected(stranger)]);
    const strangerSaw = record(stranger, 'chat:message');
    const [aliceToken, bobToken] = [await tokenFor('alice'), await tokenFor('bob')];
    const ready = Promise.all([once(alice, 'authenticated'), once(bob, 'authenticated')]);
    alice.emit('authentication', { token: aliceToken });
    bob.emit('authentication', { token: bobToken });
    await ready;
    const bobGets = once(bob, 'chat:message');
    const aliceGets = once(alice, 'chat:message');
    expect(await alice.timeout(3000).emitWithAck('chat:send', { text: 'hello bob' })).toEqual({ ok: true });
    expect(await bobGets).toEqual({ user: 'Alice', text: 'hello bob' });
    expect(await aliceGets).toEqual({ user: 'Alice', text: 'hello bob' });
    const refused = await stranger.timeout(3000).emitWithAck('chat:send', { text: 'spam' });
    expect(refused.error.code).toBe('unauthenticated');
    await sleep(50);
    expect(strangerSaw).toEqual([]);
    expect(stranger.connected).toBe(true); // its silence is the gate's doing, not a dropped connection
  });

  it("POST /auth/logout with the bearer token revokes that token's sockets; POST /auth/logout-all every socket of the user", async () => {
    const token = await tokenFor('alice');
    const alice = connect(url);
    const aliceElsewhere = connect(url); // another login of alice: another token
    const bob = connect(url);
    const [elsewhereToken, bobToken] = [await tokenFor('alice'), await tokenFor('bob')];
    const ready = Promise.all([
      once(alice, 'authenticated'),
      once(aliceElsewhere, 'authenticated'),
      once(bob, 'authenticated'),
    ]);
    alice.emit('authentication', { token });
    aliceElsewhere.emit('authentication', { token: elsewhereToken });
    bob.emit('authentication', { token: bobToken });
    await ready;
    const told = once(alice, 'unauthorized');
    const gone = once(alice, 'disconnect');
    const res = await fetch(`${url}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(await told).toEqual({ code: 'revoked', message: 'Logged out' });
    await gone;
    expect(bob.connected).toBe(true);
    expect(await aliceElsewhere.timeout(3000).emitWithAck('chat:send', { text: 'still here' })).toEqual({ ok: true });
    expect((await fetch(`${url}/auth/logout`, { method: 'POST' })).status).toBe(401);

    const toldElsewhere = once(aliceElsewhere, 'unauthorized');
    const all = await fetch(`${url}/auth/logout-all`, {
      method: 'POST',
      headers: { authorization: `Bearer ${elsewhereToken}` },
    });
    expect(all.status).toBe(200);
    expect(await toldElsewhere).toEqual({ code: 'revoked', message: 'Logged out everywhere' });
    expect(await bob.timeout(3000).emitWithAck('chat:send', { text: 'bob stays' })).toEqual({ ok: true });

    // A failed attempt is logged too; its token must not be.
    const forged = `${token.slice(0, -6)}forged`;
    secrets.push(forged);
    const mallory = connect(url);
    const refused = once(mallory, 'unauthorized');
    mallory.emit('authentication', { token: forged });
    expect((await refused).code).toBe('invalid_credentials');
  });

  it('tokens carry the TTL: the strategy returns expiresAt from the token', async () => {
    const token = await tokenFor('bob');
    const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    expect(payload.exp - payload.iat).toBe(3600);
    const bob = connect(url);
    const ready = once(bob, 'authenticated');
    bob.emit('authentication', { token });
    await ready;
    const sockets = await app.get(ChatGateway).server.fetchSockets();
    const mine = sockets.find((s) => s.id === bob.id)!;
    expect(mine.data.auth).toMatchObject({ state: 'authenticated', principalId: 'bob', expiresAt: payload.exp * 1000 });
  });

  // Last, so the capture holds the whole run; a test (not afterAll) so a leak counts as a failed test.
  it('the log of the whole run above never contains a token or a password', () => {
    const text = logs.lines.join('\n');
    // The capture saw the run (failures, revocations), so its silence about secrets means something.
    expect(text).toContain('authentication failed');
    expect(text).toContain('revoked a token');
    expect(text).toContain('revoked sessions of alice');
    expect(secrets.length).toBeGreaterThan(4); // passwords, issued tokens, refresh cookies and the forged one
    // Named by position, so a failure report does not print the secret itself.
    const leaked = secrets.flatMap((secret, i) => (text.includes(secret) ? [`secrets[${i}]`] : []));
    expect(leaked).toEqual([]);
  });
});
