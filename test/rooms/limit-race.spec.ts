/**
 * maxSessionsPerPrincipal under concurrency, with the Redis store: sessions
 * still being admitted hold their slot, so the cluster's own count (which
 * heals a drifted store) never lets a racing admission past the limit.
 */
import { WebSocketGateway } from '@nestjs/websockets';
import { RedisLimitStore } from '../../lib/redis/index.js';
import { authenticate, closeClients, connect, connected, createApp, until } from '../support/harness.js';

@WebSocketGateway()
class Gateway {}

const strategy = { authenticate: (c: { token: string }) => ({ id: c.token }) };

it('concurrent authentications of one principal past maxSessionsPerPrincipal: one wins, the count stays true afterwards', async () => {
  const limitStore = new RedisLimitStore({
    url: 'redis://127.0.0.1:6379',
    prefix: `race-${process.pid}-${Date.now()}:`,
  });
  await limitStore.connect();
  const t = await createApp({ strategy, maxSessionsPerPrincipal: 1, limitStore }, { providers: [Gateway] });
  try {
    const racers = Array.from({ length: 4 }, () => connect(t.url));
    await Promise.all(racers.map((c) => connected(c)));
    const acks = await Promise.all(racers.map((c) => authenticate(c, { token: 'alice' })));
    const codes = acks.map((a) => (a.ok ? 'ok' : a.error.code)).sort();
    expect(codes).toEqual(['ok', 'too_many_sessions', 'too_many_sessions', 'too_many_sessions']);
    expect((await t.auth.sessions('alice')).sessions).toHaveLength(1);

    // Later, with nobody racing: still full.
    const late = connect(t.url);
    await connected(late);
    expect((await authenticate(late, { token: 'alice' })).error?.code).toBe('too_many_sessions');
    // Control: once the winner leaves, one new session is accepted again.
    racers[codes.indexOf('ok') === -1 ? 0 : acks.findIndex((a) => a.ok)]!.disconnect();
    await until(() => t.auth.resourceCounts().sessions === 0, 5000, 'the sessions to end');
    const next = connect(t.url);
    await connected(next);
    expect((await authenticate(next, { token: 'alice' })).ok).toBe(true);
  } finally {
    closeClients();
    await t.close();
    await limitStore.close();
  }
});
