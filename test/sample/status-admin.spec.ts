/**
 * The public `/status` feed (anyone, never timed out, counts authenticated
 * users, stops with the app) and the admin-only `chat:clear` (alice may,
 * bob is refused with `forbidden` and stays connected).
 */
import type { Socket as ClientSocket } from 'socket.io-client';
import { closeClients, connect, once, record, sleep } from '../support/harness.js';
import { attempt, joinAs, login, startSample, type Sample } from './sample-app.js';

const INTERVAL = 200;
Object.assign(process.env, { STATUS_INTERVAL_MS: String(INTERVAL), AUTH_TIMEOUT_MS: '400', PRESENCE_DELAY_MS: '50' });

/** Resolves once `status` reports `online`, within a few intervals. */
function statusReaches(socket: ClientSocket, online: number, ms = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`status never reported ${online} online`)), ms);
    const listener = (status: { online: number }) => {
      if (status.online !== online) return;
      clearTimeout(timer);
      socket.off('status', listener);
      resolve();
    };
    socket.on('status', listener);
  });
}

describe('the public /status feed', () => {
  let sample: Sample;
  beforeAll(async () => {
    sample = await startSample();
  });
  afterAll(async () => {
    closeClients();
    await sample?.close();
  });

  it('reaches a socket that never authenticates, beyond the auth timeout that ends a gated one, and counts authenticated users', async () => {
    const watcher = connect(`${sample.url}/status`);
    const gated = connect(sample.url); // control: the chat namespace still times out
    const seen = record<{ online: number }>(watcher, 'status');
    const timedOut = once(gated, 'unauthorized');
    await statusReaches(watcher, 0);
    expect((await timedOut).code).toBe('timeout');
    await sleep(4 * INTERVAL);
    expect(watcher.connected).toBe(true);
    expect(seen.length).toBeGreaterThanOrEqual(3);

    const alice = await joinAs(sample.url, 'alice');
    await joinAs(sample.url, 'alice'); // a second tab: still one user
    await statusReaches(watcher, 1);
    const bob = await joinAs(sample.url, 'bob');
    await statusReaches(watcher, 2);
    // Not a pending socket on the chat namespace, whoever it claims to be.
    await attempt(sample.url, 'forged');
    await sleep(3 * INTERVAL);
    expect(seen.at(-1)).toEqual({ online: 2 });
    bob.disconnect();
    alice.disconnect();
    await statusReaches(watcher, 1);
  });
});

describe('a newcomer to /status', () => {
  it('is sent the last count at once, without waiting for the next tick', async () => {
    process.env.STATUS_INTERVAL_MS = '600000'; // no tick during this test but the one at start-up
    const sample = await startSample();
    try {
      await sleep(100); // the start-up count is in
      const late = connect(`${sample.url}/status`);
      expect(await once(late, 'status', 2000)).toEqual({ online: 0 });
    } finally {
      process.env.STATUS_INTERVAL_MS = String(INTERVAL);
      closeClients();
      await sample.close();
    }
  });
});

describe('the feed stops with the app', () => {
  it('leaves no interval running after app.close()', async () => {
    // Every interval the app starts is tracked until it is cleared; one left running keeps the process alive.
    const running = new Set<unknown>();
    const { setInterval: realSet, clearInterval: realClear } = globalThis;
    globalThis.setInterval = ((...args: Parameters<typeof realSet>) => {
      const timer = realSet(...args);
      running.add(timer);
      return timer;
    }) as typeof realSet;
    globalThis.clearInterval = ((timer: Parameters<typeof realClear>[0]) => {
      running.delete(timer);
      realClear(timer);
    }) as typeof realClear;
    try {
      const sample = await startSample();
      const watcher = connect(`${sample.url}/status`);
      await once(watcher, 'status');
      await once(watcher, 'status'); // the interval is running
      expect(running.size).toBeGreaterThan(0);
      closeClients();
      await sample.close();
      expect(running.size).toBe(0);
    } finally {
      Object.assign(globalThis, { setInterval: realSet, clearInterval: realClear });
    }
  });
});

describe('chat:clear, for admins only', () => {
  let sample: Sample;
  let alice: ClientSocket;
  let bob: ClientSocket;
  beforeAll(async () => {
    sample = await startSample();
    alice = await joinAs(sample.url, 'alice');
    bob = await joinAs(sample.url, 'bob');
  });
  afterAll(async () => {
    closeClients();
    await sample.close();
  });

  /** The history a newly authenticated socket is sent. */
  async function historyFor(user: string): Promise<Array<{ user: string; text: string }>> {
    const socket = connect(sample.url);
    await once(socket, 'connect');
    const history = once(socket, 'chat:history');
    await socket.timeout(3000).emitWithAck('authentication', { token: await login(sample.url, user) });
    const messages = await history;
    socket.disconnect();
    return messages;
  }

  it('a socket is sent the last 50 messages when it authenticates', async () => {
    for (let i = 1; i <= 55; i++) await alice.timeout(3000).emitWithAck('chat:send', { text: `m${i}` });
    const history = await historyFor('bob');
    expect(history).toHaveLength(50);
    expect(history[0]).toEqual({ user: 'Alice', text: 'm6' });
    expect(history.at(-1)).toEqual({ user: 'Alice', text: 'm55' });
  });

  it("bob's chat:clear is refused with forbidden; he stays connected and can still chat, and the history stays", async () => {
    const cleared = record(alice, 'chat:cleared');
    const exception = once(bob, 'exception');
    const reply = await bob.timeout(3000).emitWithAck('chat:clear');
    expect(reply).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect((await exception).code).toBe('forbidden');
    expect(await bob.timeout(3000).emitWithAck('chat:send', { text: 'still here' })).toEqual({ ok: true });
    expect(bob.connected).toBe(true);
    expect((await historyFor('bob')).at(-1)).toEqual({ user: 'Bob', text: 'still here' });
    expect(cleared).toEqual([]);
  });

  it("alice's chat:clear empties the history for everyone and tells every authenticated socket", async () => {
    const bobTold = once(bob, 'chat:cleared');
    expect(await alice.timeout(3000).emitWithAck('chat:clear')).toEqual({ ok: true });
    expect(await bobTold).toEqual({ by: 'Alice' });
    expect(await historyFor('bob')).toEqual([]);
  });

  it('a socket that never authenticated is refused with unauthenticated, not forbidden', async () => {
    const stranger = connect(sample.url);
    await once(stranger, 'connect');
    const reply = await stranger.timeout(3000).emitWithAck('chat:clear');
    expect(reply.error.code).toBe('unauthenticated');
  });
});
