/**
 * The cluster scenarios every adapter in the matrix must pass. Written once,
 * run per adapter by matrix.spec.ts. Sockets on node 1 use long-polling.
 */
import { authenticate, closeClients, once, record, sleep } from '../support/harness.js';
import type { Topology } from './topology.js';

/** Generous: the worker processes share two cores with everything else. Negative checks do not wait this long. */
const WAIT = 10_000;

export function clusterScenarios(topology: () => Topology): void {
  afterEach(() => closeClients());

  it('a broadcast from node 0 never reaches a socket still pending on node 1, and does once it authenticates', async () => {
    const t = topology();
    const sender = await t.socketOn(0);
    await authenticate(sender, { token: 'alice-token' }, WAIT);
    const pending = await t.socketOn(1);
    const seen = record(pending, 'news');
    const watcher = await t.socketOn(2);
    await authenticate(watcher, { token: 'bob-token' }, WAIT);
    const watcherGot = once(watcher, 'news', WAIT);
    await sender.timeout(WAIT).emitWithAck('shout', 'while-pending');
    expect(await watcherGot).toBe('while-pending'); // delivered across nodes, so the pending socket had its chance
    await sleep(150);
    expect(seen).toEqual([]);
    expect(pending.connected).toBe(true);

    await authenticate(pending, { token: 'bob-token' }, WAIT);
    const got = once(pending, 'news', WAIT);
    await sender.timeout(WAIT).emitWithAck('shout', 'after');
    expect(await got).toBe('after');
  });

  it("revoke() on node 0 tells the principal's sockets on nodes 1 and 2 'revoked' and disconnects them, and no one else", async () => {
    const t = topology();
    const onOne = await t.socketOn(1);
    const onTwo = await t.socketOn(2);
    const bystander = await t.socketOn(2);
    await Promise.all([
      authenticate(onOne, { token: 'alice-token' }, WAIT),
      authenticate(onTwo, { token: 'alice-token' }, WAIT),
      authenticate(bystander, { token: 'bob-token' }, WAIT),
    ]);
    const told = [once(onOne, 'unauthorized', WAIT), once(onTwo, 'unauthorized', WAIT)];
    const gone = [once(onOne, 'disconnect', WAIT), once(onTwo, 'disconnect', WAIT)];
    await t.revoke(0, 'alice', 'Logged out everywhere');
    for (const payload of await Promise.all(told))
      expect(payload).toEqual({ code: 'revoked', message: 'Logged out everywhere' });
    await Promise.all(gone);
    await sleep(150);
    expect(bystander.connected).toBe(true);
  });

  it("emitting to principalRoom(id) on node 2 reaches that principal's sockets on nodes 0 and 1, and no other socket", async () => {
    const t = topology();
    const onZero = await t.socketOn(0);
    const onOne = await t.socketOn(1);
    const other = await t.socketOn(2);
    await Promise.all([
      authenticate(onZero, { token: 'bob-token' }, WAIT),
      authenticate(onOne, { token: 'bob-token' }, WAIT),
      authenticate(other, { token: 'alice-token' }, WAIT),
    ]);
    const otherSeen = record(other, 'dm');
    const got = [once(onZero, 'dm', WAIT), once(onOne, 'dm', WAIT)];
    await t.tell(2, 'bob', 'dm', 'for bob');
    expect(await Promise.all(got)).toEqual(['for bob', 'for bob']);
    await sleep(150);
    expect(otherSeen).toEqual([]);
  });

  it('fetchSockets() on node 0 shows authenticated sockets of other nodes with their auth state, and no pending socket', async () => {
    const t = topology();
    const authed = await t.socketOn(1);
    await authenticate(authed, { token: 'alice-token' }, WAIT);
    const pending = await t.socketOn(2);
    const sockets = await t.fetchSockets(0);
    expect(sockets.find((s) => s.id === authed.id)?.data.auth).toMatchObject({
      state: 'authenticated',
      principalId: 'alice',
      authenticatedAt: expect.any(Number),
    });
    expect(sockets.find((s) => s.id === pending.id)).toBeUndefined();
  });
}
