/**
 * The session view on one node: `AuthSocketService.sessions(principalId)`
 * lists a principal's live sessions (what users call devices), the
 * `authenticated` payload and ack carry the session's id, and `end(id)` ends
 * exactly that session.
 */
import { Injectable } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import {
  Authenticated,
  type AuthOutcome,
  type AuthPrincipal,
  type AuthSocketModuleOptions,
  type AuthStrategy,
  principalRoom,
} from '../../lib/index.js';
import {
  authenticate,
  closeClients,
  connect,
  connected,
  connectNamespace,
  createApp,
  once,
  type TestApp,
  until,
} from '../support/harness.js';

/** `{ token: id, expiresAt? }` → that principal; `bad` is refused. */
@Injectable()
class IdStrategy implements AuthStrategy {
  authenticate(credentials: any): AuthPrincipal | null {
    const id = credentials?.token;
    if (typeof id !== 'string' || id === 'bad') return null;
    return { id, ...(credentials.expiresAt ? { expiresAt: credentials.expiresAt } : {}) };
  }
}

@WebSocketGateway()
class Gateway {
  @WebSocketServer() server!: Server;

  @Authenticated()
  @SubscribeMessage('whoami')
  whoami(): string {
    return 'in';
  }
}

@WebSocketGateway({ namespace: '/chat' })
class ChatGateway {}

let t: TestApp;

async function app(options: Partial<AuthSocketModuleOptions> = {}): Promise<TestApp> {
  return createApp({ strategy: IdStrategy, timeout: 5000, ...options } as AuthSocketModuleOptions, {
    providers: [Gateway, ChatGateway],
  });
}

const server = (): Server => t.app.get(Gateway).server;
const socketOf = (c: ClientSocket, nsp = '/'): Socket => server().of(nsp).sockets.get(c.id!)!;

const nonZero = (counts: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(counts).filter(([, n]) => n !== 0));

afterEach(async () => {
  closeClients();
  await t?.close();
});

describe('sessions(principalId)', () => {
  it('lists each session with id, node, namespaces, address, userAgent, authenticatedAt and expiresAt; the ids match what the client was told', async () => {
    t = await app();
    const laptop = connect(t.url, { extraHeaders: { 'user-agent': 'RoomsTest/1.0 (laptop)' } });
    const phone = connect(t.url, { extraHeaders: { 'user-agent': 'RoomsTest/1.0 (phone)' } });
    const bob = connect(t.url);
    const expiresAt = Date.now() + 3_600_000;
    const before = Date.now();
    const laptopTold = once(laptop, 'authenticated');
    const laptopAck = await authenticate(laptop, { token: 'alice', expiresAt });
    const chat = connectNamespace(laptop, '/chat'); // same connection: the same session
    await connected(chat);
    await until(() => t.auth.isAuthenticated(socketOf(chat, '/chat')), 5000, 'the /chat socket to join the session');
    const phoneAck = await authenticate(phone, { token: 'alice' });
    await authenticate(bob, { token: 'bob' });
    const after = Date.now();

    expect(laptopAck).toMatchObject({ ok: true, sessionId: expect.any(String) });
    expect(phoneAck).toMatchObject({ ok: true, sessionId: expect.any(String) });
    expect(phoneAck.sessionId).not.toBe(laptopAck.sessionId);
    expect((await laptopTold).sessionId).toBe(laptopAck.sessionId);
    expect(socketOf(laptop).data.auth.sessionId).toBe(laptopAck.sessionId);
    expect(socketOf(chat, '/chat').data.auth.sessionId).toBe(laptopAck.sessionId);

    const { sessions, complete } = await t.auth.sessions('alice');
    expect(complete).toBe(true);
    const byId = new Map(sessions.map((s) => [s.id, s]));
    expect(sessions).toHaveLength(2);
    const node = byId.get(laptopAck.sessionId)!.node;
    expect(node).toEqual(expect.any(String));
    expect(byId.get(laptopAck.sessionId)).toEqual({
      id: laptopAck.sessionId,
      node,
      namespaces: expect.arrayContaining(['/', '/chat']),
      address: '127.0.0.1',
      userAgent: 'RoomsTest/1.0 (laptop)',
      authenticatedAt: expect.any(Number),
      expiresAt,
    });
    expect(byId.get(laptopAck.sessionId)!.namespaces).toHaveLength(2);
    expect(byId.get(phoneAck.sessionId)).toEqual({
      id: phoneAck.sessionId,
      node,
      namespaces: ['/'],
      address: '127.0.0.1',
      userAgent: 'RoomsTest/1.0 (phone)',
      authenticatedAt: expect.any(Number),
    });
    for (const s of sessions) {
      expect(s.authenticatedAt).toBeGreaterThanOrEqual(before);
      expect(s.authenticatedAt).toBeLessThanOrEqual(after);
    }
    expect((await t.auth.sessions('bob')).sessions.map((s) => s.node)).toEqual([node]);
    expect(await t.auth.sessions('nobody')).toEqual({ sessions: [], complete: true });
  });

  it('a refresh keeps the session id and authenticatedAt; pending sockets and ended sessions are not listed', async () => {
    t = await app();
    const alice = connect(t.url);
    const first = await authenticate(alice, { token: 'alice' });
    const [listed] = (await t.auth.sessions('alice')).sessions;
    const refreshed = await authenticate(alice, { token: 'alice', expiresAt: Date.now() + 60_000 });
    expect(refreshed.sessionId).toBe(first.sessionId);
    const [again] = (await t.auth.sessions('alice')).sessions;
    expect(again).toMatchObject({
      id: first.sessionId,
      authenticatedAt: listed.authenticatedAt,
      expiresAt: expect.any(Number),
    });

    await connected(connect(t.url)); // pending: no principal, so in nobody's list
    const other = connect(t.url);
    await authenticate(other, { token: 'alice' });
    expect((await t.auth.sessions('alice')).sessions).toHaveLength(2);
    other.disconnect();
    await until(() => t.auth.stats().authenticated === 1, 5000, 'the second session to end');
    expect((await t.auth.sessions('alice')).sessions.map((s) => s.id)).toEqual([first.sessionId]);
  });
});

describe('end(sessionId, reason)', () => {
  it('ends exactly that session (every namespace of it) with revoked and the reason; the same user’s other session works on', async () => {
    t = await app();
    const outcomes: AuthOutcome[] = [];
    t.auth.outcomes.subscribe((o) => outcomes.push(o));
    const laptop = connect(t.url);
    const phone = connect(t.url);
    const ended = await authenticate(laptop, { token: 'alice' });
    const chat = connectNamespace(laptop, '/chat');
    await connected(chat);
    await authenticate(phone, { token: 'alice' });

    const told = once(laptop, 'unauthorized');
    const chatTold = once(chat, 'unauthorized');
    const gone = once(laptop, 'disconnect');
    expect(await t.auth.end(ended.sessionId, 'Signed out from the phone')).toEqual({ ended: true, complete: true });
    expect(await told).toEqual({ code: 'revoked', message: 'Signed out from the phone' });
    expect((await chatTold).code).toBe('revoked');
    await gone;

    // Control: the other session of the same user is untouched.
    expect(phone.connected).toBe(true);
    expect(await phone.timeout(3000).emitWithAck('whoami')).toBe('in');
    const news = once(phone, 'news');
    server().to(principalRoom('alice')).emit('news', 'still here');
    expect(await news).toBe('still here');
    const listed = (await t.auth.sessions('alice')).sessions;
    expect(listed.map((s) => s.id)).not.toContain(ended.sessionId);
    expect(listed).toHaveLength(1);
    expect(outcomes).toContainEqual(
      expect.objectContaining({ type: 'revoked', sessionId: ended.sessionId, principalId: 'alice' }),
    );

    expect(await t.auth.end(ended.sessionId)).toEqual({ ended: false, complete: true }); // already over
  });

  it("end('unknown') ends nothing; without a reason the client still hears code 'revoked'", async () => {
    t = await app();
    const alice = connect(t.url);
    const { sessionId } = await authenticate(alice, { token: 'alice' });
    expect(await t.auth.end('unknown')).toEqual({ ended: false, complete: true });
    expect(await alice.timeout(3000).emitWithAck('whoami')).toBe('in'); // control: nothing was ended
    const told = once(alice, 'unauthorized');
    expect(await t.auth.end(sessionId)).toEqual({ ended: true, complete: true });
    expect(await told).toEqual({ code: 'revoked', message: expect.any(String) });
  });

  it('after sessions() and end(), app.close() leaves nothing behind', async () => {
    t = await app();
    const a = connect(t.url);
    const b = connect(t.url);
    const { sessionId } = await authenticate(a, { token: 'alice' });
    await authenticate(b, { token: 'alice' });
    await t.auth.sessions('alice');
    const gone = once(a, 'disconnect');
    await t.auth.end(sessionId);
    await gone;
    expect(t.auth.resourceCounts().sessions).toBe(1); // control: b is live
    const closing = t;
    t = undefined!; // closed here, not again in afterEach
    await closing.close();
    closeClients();
    expect(nonZero(closing.auth.resourceCounts())).toEqual({});
  });
});
