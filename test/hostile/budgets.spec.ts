/**
 * What one address can make the server do, whatever the client does: strategy
 * work stays within the failure budget even when every guess disconnects at
 * once; public sockets are capped; the pending cap never decays under live
 * sockets; a socket told `unauthorized` cannot slip into its client's next
 * session.
 */
import { WebSocketGateway } from '@nestjs/websockets';
import {
  AUTH_STRATEGY,
  type AuthSocketModuleOptions,
  AuthSocketDefaults,
  MemoryLimitStore,
  PublicNamespace,
} from '../../lib/index.js';
import { closeClients, connect, connected, createApp, once, sleep, type TestApp, until } from '../support/harness.js';
import { openPolling, SEP } from '../support/raw.js';
import { type TokenStrategy, tokenAuth } from '../support/strategies.js';

@WebSocketGateway()
class GatedGateway {}

@PublicNamespace()
@WebSocketGateway({ namespace: '/status' })
class StatusGateway {}

describe('per-address budgets', () => {
  let t: TestApp;
  async function app(options: Partial<AuthSocketModuleOptions>): Promise<void> {
    t = await createApp({ ...tokenAuth, timeout: 5000, ...options } as AuthSocketModuleOptions, {
      providers: [GatedGateway, StatusGateway],
    });
  }
  afterEach(async () => {
    closeClients();
    await t?.close();
  });
  const strategy = (): TokenStrategy => t.app.get(AUTH_STRATEGY);

  it('guesses that disconnect while the strategy runs keep their budget slot: 60 guesses, 20 strategy calls', async () => {
    await app({ maxFailuresPerAddress: 20 });
    const outcomes: string[] = [];
    for (let i = 0; i < 60; i++) {
      const c = connect(t.url);
      await connected(c);
      const before = strategy().calls;
      const told = once(c, 'unauthorized', 5000).then(
        (e) => outcomes.push(e.code),
        () => undefined,
      );
      c.emit('authentication', { token: `guess-${i}`, delayMs: 300 });
      // Gone as soon as the strategy has the guess (or the budget refused it without a call).
      await until(() => strategy().calls > before || outcomes.length > 0, 3000, 'a call or a refusal');
      if (strategy().calls > before) c.disconnect();
      else await told;
      outcomes.length = 0;
    }
    expect(strategy().calls).toBe(20);
    // The budget is still spent for this address: a correct password now is refused without a strategy call.
    const c = connect(t.url);
    const told = once(c, 'unauthorized');
    c.emit('authentication', { token: 'alice-token' });
    expect((await told).code).toBe('rate_limited');
    expect(strategy().calls).toBe(20);
  });

  it('maxPublicPerAddress caps sockets on public namespaces per address; other addresses and freed slots are served', async () => {
    expect(new AuthSocketDefaults().maxPublicPerAddress).toBe(200);
    await app({ maxPublicPerAddress: 3, trustProxy: true });
    const from = (ip: string) => connect(`${t.url}/status`, { extraHeaders: { 'x-forwarded-for': ip } });
    const first = [from('10.0.0.1'), from('10.0.0.1'), from('10.0.0.1')];
    await Promise.all(first.map((c) => connected(c)));
    const refused = from('10.0.0.1');
    const error = await once(refused, 'connect_error');
    expect(error.data).toMatchObject({ code: 'too_many_connections' });
    await connected(from('10.0.0.2')); // control: another address is served
    first[0].disconnect();
    await until(() => t.auth.resourceCounts().publicTotal === 3, 2000, 'the slot freed');
    await connected(from('10.0.0.1')); // the freed slot is served
    expect(first[1].connected && first[2].connected).toBe(true);
  });

  it('without a timeout, the pending cap holds after the store’s count would have expired', async () => {
    let now = Date.now();
    const limitStore = new MemoryLimitStore(10_000, () => now);
    await app({ timeout: false, maxPendingPerAddress: 2, limitStore });
    const live = [connect(t.url), connect(t.url)];
    await Promise.all(live.map((c) => connected(c)));
    now += 61 * 60_000; // far past any count's TTL in the store
    const third = connect(t.url);
    expect((await once(third, 'connect_error')).data).toMatchObject({ code: 'too_many_pending' });
    live[0].disconnect();
    await until(() => t.auth.stats().pending === 1, 2000, 'one pending socket left');
    await connected(connect(t.url)); // control: below the cap, a new socket is served
    limitStore.close();
  });

  it('a socket told unauthorized is not added to the session its client starts next (one batch, raw frames)', async () => {
    await app({});
    const poll = await openPolling(t.url);
    await poll.post(['40', '40/status,'].join(SEP));
    await poll.get(); // both CONNECTs answered
    const before = t.auth.resourceCounts().sessions;
    // One POST, decoded in one tick: '/' fails at once (bad_request) and is silenced; '/status' starts a new session
    // of the same client; then the silenced '/' socket tries to join it before its disconnect goes out.
    await poll.post(
      [
        '42["authentication",["not","an","object"]]',
        '42/status,["authentication",{"token":"alice-token","delayMs":100}]',
        '42["authentication",{"token":"alice-token"}]',
      ].join(SEP),
    );
    expect(before).toBe(1);
    let frames = '';
    const deadline = Date.now() + 3000;
    while (!frames.includes('"authenticated"') && Date.now() < deadline) frames += (await poll.get()).body + SEP;
    const packets = frames.split(SEP).filter(Boolean);
    // '/' heard its own refusal and was disconnected; nothing else (no in_progress: it never joined the new session).
    const root = packets.filter((p) => p.startsWith('4') && !/^4\d\/status,/.test(p)); // socket.io packets on '/'
    expect(root.filter((p) => p.includes('in_progress'))).toEqual([]);
    expect(root.some((p) => p.includes('"code":"bad_request"'))).toBe(true);
    expect(packets.some((p) => p.startsWith('42/status,["authenticated"'))).toBe(true); // control: the new session
    await sleep(50);
    expect(t.auth.resourceCounts()).toMatchObject({ sessions: 1, heldSockets: 0 });
  });
});
