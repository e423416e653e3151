/**
 * Guessing credentials from one address: the failure budget is taken before
 * the strategy runs, so concurrent guesses cannot overrun it.
 */
import { WebSocketGateway } from '@nestjs/websockets';
import { AUTH_STRATEGY } from '../../lib/index.js';
import { closeClients, connect, connected, createApp, type TestApp } from '../support/harness.js';
import { type TokenStrategy, tokenAuth } from '../support/strategies.js';

@WebSocketGateway()
class Gateway {}

describe('the failure budget', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it('50 simultaneous bad guesses reach the strategy at most maxFailuresPerAddress times', async () => {
    t = await createApp(
      { ...tokenAuth, timeout: 5000, maxFailuresPerAddress: 20, maxPendingPerAddress: 0 },
      { providers: [Gateway] },
    );
    const strategy = t.app.get<TokenStrategy>(AUTH_STRATEGY);
    const sockets = Array.from({ length: 50 }, () => connect(t.url));
    await Promise.all(sockets.map((s) => connected(s)));
    const replies = await Promise.all(
      sockets.map(
        (s) =>
          s.timeout(5000).emitWithAck('authentication', { token: 'guess', delayMs: 200 }) as Promise<{
            error: { code: string };
          }>,
      ),
    );
    const codes = replies.map((r) => r.error.code);
    expect(strategy.calls).toBe(20);
    expect(codes.filter((c) => c === 'invalid_credentials')).toHaveLength(20);
    expect(codes.filter((c) => c === 'rate_limited')).toHaveLength(30);
  });

  it('a success gives its slot back: many good logins never use up the budget, and failures still count', async () => {
    t = await createApp({ ...tokenAuth, timeout: 5000, maxFailuresPerAddress: 2 }, { providers: [Gateway] });
    for (let i = 0; i < 5; i++) {
      const s = connect(t.url);
      await connected(s);
      expect(await s.timeout(3000).emitWithAck('authentication', { token: 'alice-token' })).toMatchObject({ ok: true });
    }
    for (const expected of ['invalid_credentials', 'invalid_credentials', 'rate_limited']) {
      const s = connect(t.url);
      await connected(s);
      expect(await s.timeout(3000).emitWithAck('authentication', { token: 'guess' })).toMatchObject({
        ok: false,
        error: { code: expected },
      });
    }
    expect(t.app.get<TokenStrategy>(AUTH_STRATEGY).calls).toBe(7); // the rate-limited attempt never reached it
  });
});
