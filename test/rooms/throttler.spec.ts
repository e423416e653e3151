import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { authenticate, closeClients, connect, connected } from '../support/harness.js';
import { spawnTs, stopNode } from '../cluster/topology.js';

const APP = fileURLToPath(new URL('./process/throttler-app.ts', import.meta.url));

/** The app in its own process (see process/throttler-app.ts for why), for the body's length. */
async function withThrottledApp(env: Record<string, string>, body: (url: string) => Promise<void>): Promise<void> {
  let child: ChildProcess | undefined;
  try {
    const started = await spawnTs(APP, env, /^\{"port":(\d+)\}$/m);
    child = started.child;
    await body(`http://127.0.0.1:${started.match[1]}`);
  } finally {
    closeClients();
    if (child) await stopNode(child);
  }
}

/** Sends `count` guarded messages, one after another; answers what each ack said. */
async function send(socket: ReturnType<typeof connect>, count: number): Promise<unknown[]> {
  const answers: unknown[] = [];
  for (let i = 0; i < count; i++) answers.push(await socket.timeout(3000).emitWithAck('chat', `m${i}`));
  return answers;
}

const rateLimited = { ok: false, error: { code: 'rate_limited', message: expect.any(String) } };

describe('per-principal message rate limits with @nestjs/throttler (SocketThrottlerGuard)', () => {
  it("one user's budget spans all their sockets, another user's is separate, and refusals are rate_limited on the ack", async () => {
    await withThrottledApp({ GUARD: 'socket', LIMIT: '3' }, async (url) => {
      const tab1 = connect(url);
      const tab2 = connect(url);
      const bob = connect(url);
      await Promise.all([tab1, tab2, bob].map((s) => connected(s)));
      await authenticate(tab1, { token: 'alice-token' });
      await authenticate(tab2, { token: 'alice-token' });
      await authenticate(bob, { token: 'bob-token' });

      // Two connections, one principal: 2 + 1 messages use up alice's 3, the 4th (from either tab) is refused.
      expect(await send(tab1, 2)).toEqual(['m0', 'm1']);
      expect(await send(tab2, 1)).toEqual(['m0']);
      expect(await send(tab2, 1)).toEqual([rateLimited]);
      expect(await send(tab1, 1)).toEqual([rateLimited]);
      // Control: bob, from the same address, still has his own budget.
      expect(await send(bob, 3)).toEqual(['m0', 'm1', 'm2']);
      expect(await send(bob, 1)).toEqual([rateLimited]);
      // A refusal is an answer, not the end: the sockets stay connected.
      expect(tab1.connected && tab2.connected && bob.connected).toBe(true);
    });
  });

  it("control: @nestjs/throttler's own guard on a gateway lumps every user into one budget and leaves a refused ack unanswered", async () => {
    // Why the guard ships: the library guard reads an HTTP request (`req.ip`) where a gateway has a socket.
    await withThrottledApp({ GUARD: 'library', LIMIT: '3' }, async (url) => {
      const alice = connect(url);
      const bob = connect(url);
      await Promise.all([alice, bob].map((s) => connected(s)));
      await authenticate(alice, { token: 'alice-token' });
      await authenticate(bob, { token: 'bob-token' });
      const exceptions: unknown[] = [];
      bob.on('exception', (e: unknown) => exceptions.push(e));
      expect(await send(alice, 3)).toEqual(['m0', 'm1', 'm2']);
      // Bob never sent anything, yet alice's messages used up his budget; and he hears no code, only a timeout.
      const answer = await bob
        .timeout(1500)
        .emitWithAck('chat', 'hi')
        .catch(() => 'no answer');
      expect(answer).toBe('no answer');
      expect(exceptions).toEqual([expect.objectContaining({ status: 'error', message: 'Internal server error' })]);
    });
  });

  it('on HTTP it stays the library guard: the same global guard limits a route by address', async () => {
    await withThrottledApp({ GUARD: 'socket', LIMIT: '2' }, async (url) => {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await fetch(`${url}/ping`)).status);
      expect(statuses).toEqual([200, 200, 429]);
    });
  });
});
