/**
 * A revoke with a grace lands while a refresh is in the strategy: that
 * refresh checked credentials from before the revoke, so it must not end the
 * grace. Credentials presented after the revoke do.
 */
import { WebSocketGateway } from '@nestjs/websockets';
import {
  authenticate,
  closeClients,
  connect,
  createApp,
  once,
  record,
  sleep,
  type TestApp,
} from '../support/harness.js';
import { MemoryRevocationStore, type Revocation, type RevocationSubject } from '../../lib/index.js';
import { tokenAuth } from '../support/strategies.js';

/** A store that answers as of the moment it was asked, but only `delayMs` later, as a remote store may. */
class SlowStore {
  delayMs = 0;
  private readonly memory = new MemoryRevocationStore();
  add = (revocation: Revocation): void => this.memory.add(revocation);
  isRevoked = (subject: RevocationSubject): Promise<boolean> => {
    const answer = this.memory.isRevoked(subject);
    return new Promise((resolve) => setTimeout(() => resolve(answer), this.delayMs));
  };
}

@WebSocketGateway()
class Gateway {}

describe('revoke with a grace while a refresh is in flight', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it('the refresh in flight is refused with revoked and the session ends at the grace; one sent after the revoke keeps its session', async () => {
    t = await createApp({ ...tokenAuth, timeout: 5000 }, { providers: [Gateway] });
    const racing = connect(t.url);
    const after = connect(t.url);
    await authenticate(racing, { token: 'alice-token' });
    await authenticate(after, { token: 'alice-token' });
    const inFlight = authenticate(racing, { token: 'alice-token', delayMs: 300 });
    await sleep(50); // the refresh is in the strategy
    const told = once(after, 'refresh_required');
    const result = await t.auth.revoke('alice', { graceMs: 1000 });
    expect(result).toMatchObject({ disconnected: 0, inGrace: 2 });
    expect((await told).code).toBe('revoked');
    expect(await authenticate(after, { token: 'alice-token' })).toMatchObject({ ok: true }); // presented after the revoke
    expect((await inFlight).error).toMatchObject({ code: 'revoked' });

    const cut = record(racing, 'unauthorized');
    await once(racing, 'disconnect', 3000);
    expect(cut).toMatchObject([{ code: 'revoked' }]);
    await sleep(300); // past the grace's end, with margin
    expect(after.connected).toBe(true);
  });

  it('a refresh whose store check answered before the revoke landed is still refused: the revoke marked it in flight', async () => {
    const store = new SlowStore();
    t = await createApp({ ...tokenAuth, timeout: 5000, revocationStore: store }, { providers: [Gateway] });
    const racing = connect(t.url);
    await authenticate(racing, { token: 'alice-token' });
    store.delayMs = 300;
    const inFlight = authenticate(racing, { token: 'alice-token' });
    await sleep(100); // the strategy answered; the store was asked before the revoke and answers after it
    await t.auth.revoke('alice', { graceMs: 800 });
    expect((await inFlight).error).toMatchObject({ code: 'revoked' });
    await once(racing, 'disconnect', 3000); // cut at the grace's end: the refresh did not end the grace
  });
});
