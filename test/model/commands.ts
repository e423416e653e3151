/**
 * The commands: each acts on the real system, waits (bounded) until the server
 * has settled, updates the model, then checks every invariant.
 */
import type { AsyncCommand } from 'fast-check';
import { checkInvariants, fail, missedBy, receivers, settleServer } from './invariants.js';
import type { Model } from './model.js';
import { NSPS, type Nsp, type Principal, type System } from './system.js';
import { sleep } from '../support/harness.js';
import { EXCLUDE } from './exclusions.js';

type Cmd = AsyncCommand<Model, System>;
type Credential = Principal | 'invalid';

const token = (cred: Credential): string => (cred === 'invalid' ? 'mallory-token' : `${cred}-token`);
const other = (n: Nsp): Nsp => (n === '/' ? '/b' : '/');
/** TEMPORARY exclusion: authenticating as another principal after a demotion (rooms carried across identities). */
const switches = (m: Readonly<Model>, c: number, n: Nsp, p: Credential): boolean =>
  EXCLUDE.has('identity-switch') && m.mates(c, n).some((x) => m.socket(c, x).previous && m.socket(c, x).previous !== p && !m.socket(c, x).auth);

/** Waits until every socket in `targets` logged a matching entry since `marks`. */
async function allLogged(r: System, targets: Array<[number, Nsp]>, marks: Map<string, number>, kind: string, ms = 1000): Promise<void> {
  await Promise.all(targets.map(([c, n]) => r.clients[c].sockets[n].until(marks.get(`${c}|${n}`) ?? 0, (e) => e.kind === kind, ms)));
}

function marks(r: System): Map<string, number> {
  const out = new Map<string, number>();
  r.clients.forEach((client, c) => NSPS.forEach((n) => out.set(`${c}|${n}`, client.sockets[n].log.length)));
  return out;
}

/** Commands run so far in this process, for the summary line. */
export const stats = { commands: 0 };

async function finish(m: Model, r: System): Promise<void> {
  stats.commands++;
  await settleServer(m, r);
  checkInvariants(m, r);
}

/** Applies the model's answer to a valid credential for principal `p` on (c, n); returns whether it succeeds. */
function modelAuthenticate(m: Model, r: System, c: number, n: Nsp, cred: Credential): boolean {
  const { auth: current, expected } = m.socket(c, n);
  // invalid_credentials; identity_changed on a refresh, or after an expiry that asked to re-authenticate.
  if (cred === 'invalid' || (current && current !== cred) || (!current && expected && expected !== cred)) {
    m.closeSession(c, n);
    return false;
  }
  if (!current) m.authenticateSession(r, c, n, cred);
  return true;
}

export class ConnectCmd implements Cmd {
  constructor(readonly c: number, readonly n: Nsp) {}
  check = (m: Readonly<Model>): boolean =>
    !m.socket(this.c, this.n).connected &&
    !(EXCLUDE.has('late-join') && m.config.scope === 'connection' && NSPS.some((x) => m.socket(this.c, x).auth));
  async run(m: Model, r: System): Promise<void> {
    const client = r.clients[this.c];
    // Opening the manager again also reconnects every socket the transport dropped (still active).
    const opening = m.clients[this.c].open ? [] : NSPS.filter((x) => x !== this.n && m.socket(this.c, x).active);
    const joinsAuthenticated = m.config.scope === 'connection' ? NSPS.map((x) => m.socket(this.c, x).auth).find(Boolean) : undefined;
    const joinsBound = m.config.scope === 'connection' && m.clients[this.c].open ? NSPS.map((x) => m.socket(this.c, x).expected).find(Boolean) : undefined;
    const before = marks(r);
    client.sockets[this.n].sock.connect();
    for (const x of [this.n, ...opening]) {
      const rs = client.sockets[x];
      if (!(await rs.until(before.get(`${this.c}|${x}`)!, (e) => e.kind === 'connect', 3000))) fail(`client ${this.c} ${x}: did not connect`);
      Object.assign(m.socket(this.c, x), { connected: true, active: true, dropped: undefined, auth: undefined });
    }
    m.clients[this.c].open = true;
    m.socket(this.c, this.n).expected = joinsBound;
    if (joinsAuthenticated) {
      // Joining an authenticated connection: hook, then `authenticated`.
      m.socket(this.c, this.n).auth = joinsAuthenticated;
      m.hookRan(r, this.c, this.n, joinsAuthenticated);
      await client.sockets[this.n].until(before.get(`${this.c}|${this.n}`)!, (e) => e.kind === 'authenticated', 300);
    }
    await finish(m, r);
  }
  toString = (): string => `connect(${this.c}, ${this.n})`;
}

export class AuthenticateCmd implements Cmd {
  constructor(readonly c: number, readonly n: Nsp, readonly cred: Credential, readonly label = 'authenticate') {}
  check = (m: Readonly<Model>): boolean =>
    m.socket(this.c, this.n).connected && (this.label !== 'refresh' || !!m.socket(this.c, this.n).auth) && !switches(m, this.c, this.n, this.cred);
  async run(m: Model, r: System): Promise<void> {
    const mates = m.mates(this.c, this.n).map((x): [number, Nsp] => [this.c, x]);
    const before = marks(r);
    const answer = await r.clients[this.c].sockets[this.n].authenticate({ token: token(this.cred) });
    const ok = modelAuthenticate(m, r, this.c, this.n, this.cred);
    if (!!answer?.ok !== ok) fail(`${this}: ack ${JSON.stringify(answer)}, model expected ok=${ok}`);
    if (!ok) await allLogged(r, mates, before, 'disconnect');
    await finish(m, r);
  }
  toString = (): string => `${this.label}(${this.c}, ${this.n}, ${this.cred})`;
}

export class GuardedCmd implements Cmd {
  constructor(readonly c: number, readonly n: Nsp) {}
  check = (m: Readonly<Model>): boolean => m.socket(this.c, this.n).connected;
  async run(m: Model, r: System): Promise<void> {
    const rs = r.clients[this.c].sockets[this.n];
    const answer = await rs.sock.timeout(2000).emitWithAck('guarded').catch((err) => ({ noAck: String(err) }));
    const auth = m.socket(this.c, this.n).auth;
    if (!!answer?.ok !== !!auth) fail(`${this}: ack ${JSON.stringify(answer)} while ${auth ?? 'pending'}`);
    if (auth) {
      const k = `${this.n}|${rs.sid}|${auth}`;
      m.guarded.set(k, (m.guarded.get(k) ?? 0) + 1);
    }
    await finish(m, r);
  }
  toString = (): string => `guarded(${this.c}, ${this.n})`;
}

/** A guarded message sent right behind credentials the strategy is still checking: it waits for the outcome. */
export class GuardedDuringAuthCmd implements Cmd {
  constructor(readonly c: number, readonly n: Nsp, readonly cred: Credential) {}
  check = (m: Readonly<Model>): boolean => m.socket(this.c, this.n).connected && !switches(m, this.c, this.n, this.cred);
  async run(m: Model, r: System): Promise<void> {
    const rs = r.clients[this.c].sockets[this.n];
    const mates = m.mates(this.c, this.n).map((x): [number, Nsp] => [this.c, x]);
    const before = marks(r);
    const was = m.socket(this.c, this.n).auth;
    const sid = rs.sid;
    const answer = rs.authenticate({ token: token(this.cred), delayMs: 100 });
    const guarded = rs.sock.timeout(2000).emitWithAck('guarded').catch((err: Error) => ({ noAck: err.message }));
    const [auth, guard] = await Promise.all([answer, guarded]);
    const ok = modelAuthenticate(m, r, this.c, this.n, this.cred);
    if (!!auth?.ok !== ok) fail(`${this}: ack ${JSON.stringify(auth)}, model expected ok=${ok}`);
    // An authenticated session runs it at once as its current principal; a pending one once the attempt settles.
    const runsAs = was ?? (ok ? (this.cred as Principal) : undefined);
    if (!!guard?.ok !== !!runsAs) fail(`${this}: guarded ack ${JSON.stringify(guard)}, expected ok=${!!runsAs}`);
    if (runsAs) m.guarded.set(`${this.n}|${sid}|${runsAs}`, (m.guarded.get(`${this.n}|${sid}|${runsAs}`) ?? 0) + 1);
    if (!ok) await allLogged(r, mates, before, 'disconnect');
    await finish(m, r);
  }
  toString = (): string => `guardedDuringAuth(${this.c}, ${this.n}, ${this.cred})`;
}

/** The server emits to one socket with an ack: a direct emit reaches a pending socket too, and its ack comes back. */
export class DirectAckCmd implements Cmd {
  constructor(readonly c: number, readonly n: Nsp) {}
  check = (m: Readonly<Model>): boolean =>
    m.socket(this.c, this.n).connected && !(EXCLUDE.has('direct-ack-pending') && m.config.recovery && !m.socket(this.c, this.n).auth);
  async run(m: Model, r: System): Promise<void> {
    const answer = await r.serverSocket(this.c, this.n)!.timeout(1000).emitWithAck('ping').catch((err: Error) => err.message);
    if (answer !== 'pong') fail(`${this}: ack ${JSON.stringify(answer)} while ${m.socket(this.c, this.n).auth ?? 'pending'}`);
    await finish(m, r);
  }
  toString = (): string => `directAck(${this.c}, ${this.n})`;
}

export class BroadcastCmd implements Cmd {
  constructor(readonly n: Nsp, readonly room?: Principal) {}
  check = (): boolean => true;
  async run(m: Model, r: System): Promise<void> {
    stats.commands++;
    const b = r.broadcast(this.n, this.room);
    await settleServer(m, r);
    // Receivers are the model's authenticated sockets (of the room's principal: joined by the hook).
    b.expected = receivers(m, r, this.n, this.room);
    b.missedBy = this.room ? new Map() : missedBy(m, this.n);
    if (this.room) for (const [k, p] of missedBy(m, this.n)) if (p === this.room) b.missedBy.set(k, p);
    checkInvariants(m, r);
  }
  toString = (): string => `broadcast(${this.n}${this.room ? `, team:${this.room}` : ''})`;
}

export class DeauthenticateCmd implements Cmd {
  constructor(readonly c: number, readonly n: Nsp) {}
  check = (m: Readonly<Model>): boolean => m.socket(this.c, this.n).connected;
  async run(m: Model, r: System): Promise<void> {
    const mates = m.mates(this.c, this.n).map((x): [number, Nsp] => [this.c, x]);
    const before = marks(r);
    const done = r.t.auth.deauthenticate(r.serverSocket(this.c, this.n)!);
    const was = m.socket(this.c, this.n).auth;
    if (done !== !!was) fail(`${this}: returned ${done} while ${was ?? 'pending'}`);
    if (was) {
      m.demoteSession(this.c, this.n);
      await allLogged(r, mates, before, 'unauthorized');
    }
    await finish(m, r);
  }
  toString = (): string => `deauthenticate(${this.c}, ${this.n})`;
}

/** deauthenticate() while the session's refresh is still in the strategy: the session ends pending, and the refresh is answered. */
export class DeauthenticateDuringRefreshCmd implements Cmd {
  constructor(readonly c: number, readonly n: Nsp) {}
  check = (m: Readonly<Model>): boolean => m.socket(this.c, this.n).connected && !!m.socket(this.c, this.n).auth && !EXCLUDE.has('deauth-during-refresh');
  async run(m: Model, r: System): Promise<void> {
    const rs = r.clients[this.c].sockets[this.n];
    const mates = m.mates(this.c, this.n).map((x): [number, Nsp] => [this.c, x]);
    const before = marks(r);
    const refresh = rs.authenticate({ token: token(m.socket(this.c, this.n).auth!), delayMs: 150 }, 1000);
    await sleep(50);
    if (!r.t.auth.deauthenticate(r.serverSocket(this.c, this.n)!)) fail(`${this}: deauthenticate() returned false`);
    m.demoteSession(this.c, this.n);
    const answer = await refresh;
    if (answer?.ok !== false || answer.noAck) fail(`${this}: the refresh was answered ${JSON.stringify(answer)}, expected a refusal`);
    await allLogged(r, mates, before, 'unauthorized');
    await finish(m, r);
  }
  toString = (): string => `deauthenticateDuringRefresh(${this.c}, ${this.n})`;
}

/** Authenticates with an `expiresAt` 150 ms ahead, optionally with hooks slower than that, and waits past it. */
export class ExpireCmd implements Cmd {
  constructor(readonly c: number, readonly n: Nsp, readonly p: Principal, readonly duringHooks: boolean) {}
  check = (m: Readonly<Model>): boolean =>
    m.socket(this.c, this.n).connected && !(this.duringHooks && EXCLUDE.has('expire-during-hooks') && m.config.onExpiry === 'reauthenticate') && !switches(m, this.c, this.n, this.p);
  async run(m: Model, r: System): Promise<void> {
    const mates = m.mates(this.c, this.n).map((x): [number, Nsp] => [this.c, x]);
    const before = marks(r);
    if (this.duringHooks) r.probe.hookDelayMs = 300;
    const expiresAt = Date.now() + 150;
    try {
      await r.clients[this.c].sockets[this.n].authenticate({ token: token(this.p), expiresAt });
    } finally {
      r.probe.hookDelayMs = 0;
    }
    const ok = modelAuthenticate(m, r, this.c, this.n, this.p);
    // Past the expiry and, when the hooks are slow, past every mate's hook: the session expires right after them.
    const hooksEnd = this.duringHooks ? expiresAt - 150 + 300 * mates.length : 0;
    await sleep(Math.max(0, expiresAt + 100 - Date.now(), hooksEnd + 100 - Date.now()));
    if (!ok) {
      await allLogged(r, mates, before, 'disconnect');
    } else if (m.config.onExpiry === 'reauthenticate') {
      m.demoteSession(this.c, this.n, true);
      await allLogged(r, mates, before, 'unauthorized', 500);
    } else {
      m.closeSession(this.c, this.n);
      await allLogged(r, mates, before, 'disconnect', 500);
    }
    await finish(m, r);
  }
  toString = (): string => `expire(${this.c}, ${this.n}, ${this.p}${this.duringHooks ? ', during hooks' : ''})`;
}

export class RevokeCmd implements Cmd {
  constructor(readonly p: Principal) {}
  check = (): boolean => true;
  async run(m: Model, r: System): Promise<void> {
    // Every session of the principal ends: with scope 'connection' its whole connection, else its own socket.
    const hit = m.connected().filter(([c, n]) => m.socket(c, n).auth === this.p);
    const targets = hit.flatMap(([c, n]) => m.mates(c, n).map((x): [number, Nsp] => [c, x]));
    const before = marks(r);
    await r.t.auth.revoke(this.p);
    hit.forEach(([c, n]) => m.socket(c, n).connected && m.closeSession(c, n));
    await allLogged(r, targets, before, 'disconnect');
    await finish(m, r);
  }
  toString = (): string => `revoke(${this.p})`;
}

export class DisconnectCmd implements Cmd {
  constructor(readonly c: number, readonly n: Nsp) {}
  check = (m: Readonly<Model>): boolean => m.socket(this.c, this.n).connected;
  async run(m: Model, r: System): Promise<void> {
    r.clients[this.c].sockets[this.n].sock.disconnect();
    m.disconnect(this.c, this.n);
    await finish(m, r);
  }
  toString = (): string => `disconnect(${this.c}, ${this.n})`;
}

/** The transport drops under the whole client: with recovery on, its sockets may be recovered on the next connect. */
export class DropCmd implements Cmd {
  constructor(readonly c: number) {}
  check = (m: Readonly<Model>): boolean => m.clients[this.c].open && !(EXCLUDE.has('drop-authenticated') && NSPS.some((n) => m.socket(this.c, n).auth));
  async run(m: Model, r: System): Promise<void> {
    const targets = NSPS.filter((n) => m.socket(this.c, n).connected).map((n): [number, Nsp] => [this.c, n]);
    const before = marks(r);
    (r.clients[this.c].manager as unknown as { engine: { close(): void } }).engine.close();
    m.drop(this.c);
    await allLogged(r, targets, before, 'disconnect');
    await finish(m, r);
  }
  toString = (): string => `drop(${this.c})`;
}

/** A further namespace connects while the first one's attempt is in the strategy or in the hooks. */
export class JoinDuringAuthCmd implements Cmd {
  constructor(readonly c: number, readonly n: Nsp, readonly p: Principal, readonly during: 'strategy' | 'hooks') {}
  check = (m: Readonly<Model>): boolean =>
    !(EXCLUDE.has(`join-during-${this.during}`) && m.config.scope === 'connection') &&
    m.socket(this.c, this.n).connected &&
    !m.socket(this.c, this.n).auth &&
    [undefined, this.p].includes(m.socket(this.c, this.n).expected) && // the happy path only: the attempt succeeds
    !m.socket(this.c, other(this.n)).connected &&
    !switches(m, this.c, this.n, this.p);
  async run(m: Model, r: System): Promise<void> {
    const first = r.clients[this.c].sockets[this.n];
    const late = r.clients[this.c].sockets[other(this.n)];
    const from = late.log.length;
    const hooksBefore = r.probe.hooks.get(`${this.n}|${first.sid}`)?.length ?? 0;
    if (this.during === 'hooks') r.probe.hookDelayMs = 200;
    try {
      const answer = first.authenticate({ token: token(this.p), ...(this.during === 'strategy' ? { delayMs: 200 } : {}) });
      if (this.during === 'hooks') {
        const deadline = Date.now() + 1000;
        while ((r.probe.hooks.get(`${this.n}|${first.sid}`)?.length ?? 0) === hooksBefore && Date.now() < deadline) await sleep(2);
      } else {
        await sleep(50);
      }
      late.sock.connect();
      if (!(await late.until(from, (e) => e.kind === 'connect', 3000))) fail(`${this}: did not connect`);
      Object.assign(m.socket(this.c, other(this.n)), { connected: true, active: true, dropped: undefined });
      const ack = await answer;
      if (!ack?.ok) fail(`${this}: ack ${JSON.stringify(ack)}`);
    } finally {
      r.probe.hookDelayMs = 0;
    }
    m.authenticateSession(r, this.c, this.n, this.p);
    if (m.config.scope === 'connection') await late.until(from, (e) => e.kind === 'authenticated', 300);
    await finish(m, r);
  }
  toString = (): string => `joinDuringAuth(${this.c}, ${this.n}, ${this.p}, in ${this.during})`;
}
