/**
 * Presence goes out only when an authenticated socket joins or leaves, and a
 * burst of those goes out as one update. Anyone can open sockets, so before
 * this every unauthenticated connect and disconnect made the server message
 * every user and, in a cluster, ask every node for its sockets.
 */
import type { Socket as ClientSocket } from 'socket.io-client';
import { closeClients, connect, connected, once, record, sleep } from '../support/harness.js';
import { attempt, joinAs, login, logout, startSample, type Sample } from './sample-app.js';

const DELAY = 300;
Object.assign(process.env, {
  PRESENCE_DELAY_MS: String(DELAY),
  STATUS_INTERVAL_MS: '600000',
  AUTH_TIMEOUT_MS: '500',
  // The burst below holds eleven sessions of alice at once: past the sample's five, the oldest (the observer) would
  // be signed out. The limit itself: rooms.spec.ts.
  MAX_SESSIONS_PER_USER: '20',
});
/** Long enough for a pending update to have gone out, with slack for a loaded machine. */
const settle = () => sleep(DELAY + 700);

describe('sample presence', () => {
  let sample: Sample;
  let observer: ClientSocket;
  let presence: Array<{ users: string[] }>;
  let fetches = 0;
  let bob: ClientSocket;

  beforeAll(async () => {
    sample = await startSample();
    const { ChatGateway } = await import('../../sample/chat.gateway.js');
    const nsp = sample.app.get(ChatGateway).server.sockets;
    const fetchSockets = nsp.fetchSockets.bind(nsp);
    // Counted, not replaced: across a cluster each call is a request to every node.
    nsp.fetchSockets = () => {
      fetches++;
      return fetchSockets();
    };
    observer = await joinAs(sample.url, 'alice');
    await settle();
    presence = record(observer, 'presence');
    fetches = 0;
  });
  afterAll(async () => {
    closeClients();
    await sample.close();
  });

  it('unauthenticated sockets that connect, fail, time out or leave send no update and cost no fetchSockets()', async () => {
    const leaving = Array.from({ length: 20 }, () => connect(sample.url));
    const lingering = Array.from({ length: 5 }, () => connect(sample.url)); // timed out by the server
    await Promise.all([...leaving, ...lingering].map((s) => connected(s)));
    leaving.forEach((s) => s.disconnect());
    const refused = await attempt(sample.url, 'not-a-token');
    expect(refused.reply.error.code).toBe('invalid_credentials');
    await Promise.all(lingering.map((s) => (s.connected ? once(s, 'disconnect') : undefined)));
    await settle();
    expect(presence).toEqual([]);
    expect(fetches).toBe(0);
    expect(observer.connected).toBe(true);

    // Control: one authenticated join reaches the same observer, once.
    bob = await joinAs(sample.url, 'bob');
    await settle();
    expect(presence).toEqual([{ users: ['Alice', 'Bob'] }]);
    expect(fetches).toBe(1);
  });

  it('a burst of authenticated joins sends one update, and so does a burst of their leaving', async () => {
    presence.length = 0;
    fetches = 0;
    const others = await Promise.all(Array.from({ length: 10 }, () => joinAs(sample.url, 'alice')));
    await settle();
    expect(presence).toEqual([{ users: ['Alice', 'Bob'] }]);

    others.forEach((s) => s.disconnect());
    await settle();
    expect(presence).toHaveLength(2);
    expect(fetches).toBe(2);
  });

  it('an authenticated socket leaving is an update: the others see the user gone', async () => {
    presence.length = 0;
    bob.disconnect();
    await settle();
    expect(presence).toEqual([{ users: ['Alice'] }]);
  });

  it('a user whose sockets are revoked by logout disappears from presence', async () => {
    const token = await login(sample.url, 'bob');
    const { reply } = await attempt(sample.url, token);
    expect(reply.ok).toBe(true);
    await settle();
    expect(presence.at(-1)).toEqual({ users: ['Alice', 'Bob'] });
    presence.length = 0;
    expect((await logout(sample.url, token)).status).toBe(200);
    await settle();
    expect(presence).toEqual([{ users: ['Alice'] }]);
  });
});
