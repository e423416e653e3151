/**
 * Teardown leaves nothing behind. Checked against the module's own counts and,
 * independently, against the runtime: the real timers and listeners lib/
 * created (trackLibResources) and socket.io's adapter maps.
 */
import { MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server } from 'socket.io';
import { Authenticated } from '../../lib/index.js';
import {
  authenticate,
  closeClients,
  connect,
  connected,
  createApp,
  sleep,
  trackLibResources,
  type TestApp,
} from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

@WebSocketGateway()
class RootGateway {
  @WebSocketServer() server!: Server;

  @SubscribeMessage('shout')
  shout(@MessageBody() text: string): void {
    this.server.emit('news', text);
  }
}

@WebSocketGateway({ namespace: '/admin' })
class AdminGateway {
  @Authenticated()
  @SubscribeMessage('secret')
  secret(): string {
    return 'admin-secret';
  }
}

/** The counts that are not zero (all of them must be, whatever counts the module keeps). */
function nonZero(counts: Record<string, number>): Record<string, number> {
  expect(Object.keys(counts).length).toBeGreaterThan(3);
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n !== 0));
}

describe('nothing is left behind', () => {
  it('after app.close(), no session, timer, listener or adapter membership remains', async () => {
    const tracked = trackLibResources();
    let t: TestApp | undefined;
    let closed = false;
    try {
      t = await createApp(
        { ...tokenAuth, timeout: 5000, maxFailuresPerAddress: 5 },
        { providers: [RootGateway, AdminGateway] },
      );
      const server = t.app.get(RootGateway).server;
      const namespaces = [server.of('/'), server.of('/admin')];
      const authed = connect(t.url);
      await authenticate(authed, { token: 'alice-token', expiresAt: Date.now() + 60_000 });
      const pending = connect(`${t.url}/admin`);
      await connected(pending);
      const failed = connect(t.url);
      await authenticate(failed, { token: 'bad' });
      // Still in flight at close: its strategy timer outlives every socket.
      const inFlight = connect(t.url);
      await connected(inFlight);
      inFlight.emit('authentication', { token: 'bob-token', delayMs: 1500 });
      await sleep(50);

      const during = t.auth.resourceCounts();
      expect(during.sessions).toBe(3);
      // Live before close (expiry, pending timeouts, strategy deadline, failure-window sweep), so "none after" means something.
      expect(during.timers).toBeGreaterThanOrEqual(3);
      expect(tracked.liveTimers().length).toBeGreaterThanOrEqual(3);
      // One per gated namespace, the protocol's: the watch for namespaces no gateway serves (socket-auth.ts) leaves them.
      expect(tracked.listenersStillOn(namespaces).filter((l) => l.startsWith('connection '))).toHaveLength(2);
      expect(namespaces[0].adapter.sids.has(authed.id!)).toBe(true);

      await t.close();
      closed = true;
      closeClients();
      await sleep(20);
      expect(tracked.liveTimers()).toEqual([]);
      expect(tracked.listenersStillOn([server, server.engine, ...namespaces])).toEqual([]);
      for (const nsp of namespaces)
        expect({ rooms: nsp.adapter.rooms.size, sids: nsp.adapter.sids.size }).toEqual({ rooms: 0, sids: 0 });
      expect(nonZero(t.auth.resourceCounts())).toEqual({});
    } finally {
      tracked.restore();
      closeClients();
      if (!closed) await t?.close();
    }
  });

  it('a client that disconnects while pending or while in flight leaves nothing behind', async () => {
    const tracked = trackLibResources();
    const t = await createApp({ ...tokenAuth, timeout: 5000 }, { providers: [RootGateway] });
    try {
      const pending = connect(t.url);
      await connected(pending);
      const inFlight = connect(t.url);
      await connected(inFlight);
      inFlight.emit('authentication', { token: 'alice-token', delayMs: 300 });
      await sleep(50);
      expect(t.auth.resourceCounts().sessions).toBe(2);
      expect(tracked.heldTimers().length).toBeGreaterThanOrEqual(2); // pending timeouts, strategy deadline
      pending.disconnect();
      inFlight.disconnect();
      await sleep(400);
      // The abandoned attempt keeps its failure-budget slot until the window ends: one counter and its sweep timer.
      // The deadline lists' timers lapse unref'd (reused if the next connection comes first); nothing holds the process.
      expect(tracked.heldTimers()).toEqual([]);
      expect(tracked.liveTimers().filter((site) => !site.includes('DeadlineQueue.arm'))).toEqual([
        expect.stringContaining('MemoryLimitStore.startSweeper'),
      ]);
      // The app is still running, so its connection listeners stay; everything else is back to zero.
      const { connectionListeners, ...counts } = t.auth.resourceCounts();
      expect(connectionListeners).toBeGreaterThan(0);
      expect(nonZero(counts)).toEqual({ limitCounters: 1, timers: 1 });
    } finally {
      tracked.restore();
      closeClients();
      await t.close();
    }
  });
});
