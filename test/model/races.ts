/**
 * Commands that overlap two transitions: a second event while an attempt is in
 * the strategy or in the hooks. Same contract as commands.ts.
 */
import type { Model } from './model.js';
import { type Nsp, type Principal, type System } from './system.js';
import { sleep } from '../support/harness.js';
import {
  allLogged,
  type Cmd,
  type Credential,
  finish,
  marks,
  modelAuthenticate,
  other,
  sessionEnded,
  token,
} from './commands.js';
import { fail } from './invariants.js';

/** Authenticates with an `expiresAt` 150 ms ahead, optionally with hooks slower than that, and waits past it. */
export class ExpireCmd implements Cmd {
  constructor(
    readonly c: number,
    readonly n: Nsp,
    readonly p: Principal,
    readonly duringHooks: boolean,
  ) {}
  check = (m: Readonly<Model>): boolean => m.socket(this.c, this.n).connected;
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
    const outcome = modelAuthenticate(m, r, this.c, this.n, this.p);
    if (outcome === 'refused') return finish(m, r); // a refused refresh: the session keeps its own (later) end
    const ok = outcome === 'ok';
    // Past the expiry and, when the hooks are slow, past every mate's hook: the session expires right after them.
    const hooksEnd = this.duringHooks ? expiresAt - 150 + 300 * mates.length : 0;
    await sleep(Math.max(0, expiresAt + 100 - Date.now(), hooksEnd + 100 - Date.now()));
    if (!ok) {
      await sessionEnded(r, mates, before);
    } else if (m.config.onExpiry === 'reauthenticate') {
      m.demoteSession(this.c, this.n, true);
      await allLogged(r, mates, before, 'unauthorized', 500);
    } else {
      m.closeSession(this.c, this.n);
      await sessionEnded(r, mates, before, 500);
    }
    await finish(m, r);
  }
  toString = (): string => `expire(${this.c}, ${this.n}, ${this.p}${this.duringHooks ? ', during hooks' : ''})`;
}

/** A guarded message sent right behind credentials the strategy is still checking: it waits for the outcome. */
export class GuardedDuringAuthCmd implements Cmd {
  constructor(
    readonly c: number,
    readonly n: Nsp,
    readonly cred: Credential,
  ) {}
  check = (m: Readonly<Model>): boolean => m.socket(this.c, this.n).connected;
  async run(m: Model, r: System): Promise<void> {
    const rs = r.clients[this.c].sockets[this.n];
    const mates = m.mates(this.c, this.n).map((x): [number, Nsp] => [this.c, x]);
    const before = marks(r);
    const was = m.socket(this.c, this.n).auth;
    const sid = rs.sid;
    const answer = rs.authenticate({ token: token(this.cred), delayMs: 100 });
    const guarded = rs.sock
      .timeout(2000)
      .emitWithAck('guarded')
      .catch((err: Error) => ({ noAck: err.message }));
    const [auth, guard] = await Promise.all([answer, guarded]);
    const outcome = modelAuthenticate(m, r, this.c, this.n, this.cred);
    const ok = outcome === 'ok';
    if (!!auth?.ok !== ok) fail(`${this}: ack ${JSON.stringify(auth)}, model expected ok=${ok}`);
    // An authenticated session runs it at once as its current principal; a pending one once the attempt settles.
    const runsAs = was ?? (ok ? (this.cred as Principal) : undefined);
    if (!!guard?.ok !== !!runsAs) fail(`${this}: guarded ack ${JSON.stringify(guard)}, expected ok=${!!runsAs}`);
    if (runsAs) m.guarded.set(`${this.n}|${sid}|${runsAs}`, (m.guarded.get(`${this.n}|${sid}|${runsAs}`) ?? 0) + 1);
    if (outcome === 'ended') await sessionEnded(r, mates, before);
    await finish(m, r);
  }
  toString = (): string => `guardedDuringAuth(${this.c}, ${this.n}, ${this.cred})`;
}

/** deauthenticate() while the session's refresh is still in the strategy: the session ends pending, and the refresh is answered. */
export class DeauthenticateDuringRefreshCmd implements Cmd {
  constructor(
    readonly c: number,
    readonly n: Nsp,
  ) {}
  check = (m: Readonly<Model>): boolean => m.socket(this.c, this.n).connected && !!m.socket(this.c, this.n).auth;
  async run(m: Model, r: System): Promise<void> {
    const rs = r.clients[this.c].sockets[this.n];
    const mates = m.mates(this.c, this.n).map((x): [number, Nsp] => [this.c, x]);
    const before = marks(r);
    const refresh = rs.authenticate({ token: token(m.socket(this.c, this.n).auth!), delayMs: 150 }, 1000);
    await sleep(50);
    if (!r.t.auth.deauthenticate(r.serverSocket(this.c, this.n)!)) fail(`${this}: deauthenticate() returned false`);
    m.demoteSession(this.c, this.n);
    const answer = await refresh;
    if (answer?.ok !== false || answer.noAck)
      fail(`${this}: the refresh was answered ${JSON.stringify(answer)}, expected a refusal`);
    await allLogged(r, mates, before, 'unauthorized');
    await finish(m, r);
  }
  toString = (): string => `deauthenticateDuringRefresh(${this.c}, ${this.n})`;
}

/** A further namespace connects while the first one's attempt is in the strategy or in the hooks. */
export class JoinDuringAuthCmd implements Cmd {
  constructor(
    readonly c: number,
    readonly n: Nsp,
    readonly p: Principal,
    readonly during: 'strategy' | 'hooks',
  ) {}
  check = (m: Readonly<Model>): boolean =>
    m.socket(this.c, this.n).connected &&
    !m.socket(this.c, this.n).auth &&
    [undefined, this.p].includes(m.socket(this.c, this.n).expected) && // the happy path only: the attempt succeeds
    !m.socket(this.c, other(this.n)).connected;
  async run(m: Model, r: System): Promise<void> {
    const first = r.clients[this.c].sockets[this.n];
    const late = r.clients[this.c].sockets[other(this.n)];
    const from = late.log.length;
    const hooksBefore = r.probe.hooks.get(`${this.n}|${first.sid}`)?.length ?? 0;
    if (this.during === 'hooks') r.probe.hookDelayMs = 200;
    try {
      const answer = first.authenticate({
        token: token(this.p),
        ...(this.during === 'strategy' ? { delayMs: 200 } : {}),
      });
      if (this.during === 'hooks') {
        const deadline = Date.now() + 1000;
        while ((r.probe.hooks.get(`${this.n}|${first.sid}`)?.length ?? 0) === hooksBefore && Date.now() < deadline)
          await sleep(2);
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

/**
 * revoke(p) while an attempt for p is in the strategy: on a session p owns (a
 * re-authentication after an expiry or deauthenticate) or on a fresh one. The
 * attempt is refused with `revoked`, and every session p owns ends.
 */
export class RevokeDuringAttemptCmd implements Cmd {
  constructor(
    readonly c: number,
    readonly n: Nsp,
    readonly p: Principal,
  ) {}
  check = (m: Readonly<Model>): boolean => {
    const s = m.socket(this.c, this.n);
    return s.connected && !s.auth && [undefined, this.p].includes(s.expected);
  };
  async run(m: Model, r: System): Promise<void> {
    const rs = r.clients[this.c].sockets[this.n];
    const owned = m.connected().filter(([c, n]) => m.socket(c, n).owner === this.p);
    const targets = [[this.c, this.n] as [number, Nsp], ...owned].flatMap(([c, n]) =>
      m.mates(c, n).map((x): [number, Nsp] => [c, x]),
    );
    const before = marks(r);
    const answer = rs.authenticate({ token: token(this.p), delayMs: 200 }, 2000);
    await sleep(50); // the strategy is running
    await r.t.auth.revoke(this.p);
    const ack = await answer;
    if (ack?.ok !== false || ack.error?.code !== 'revoked')
      fail(`${this}: ack ${JSON.stringify(ack)}, expected revoked`);
    for (const [c, n] of [[this.c, this.n] as [number, Nsp], ...owned]) {
      if (m.socket(c, n).connected) m.closeSession(c, n);
    }
    await sessionEnded(r, targets, before);
    await finish(m, r);
  }
  toString = (): string => `revokeDuringAttempt(${this.c}, ${this.n}, ${this.p})`;
}

/**
 * The socket leaves while its attempt is in the strategy, with no other socket
 * in its session: the late answer changes nothing, runs no hook, and leaves
 * nothing behind.
 */
export class DisconnectDuringAttemptCmd implements Cmd {
  constructor(
    readonly c: number,
    readonly n: Nsp,
    readonly cred: Credential,
  ) {}
  check = (m: Readonly<Model>): boolean =>
    m.socket(this.c, this.n).connected && !m.socket(this.c, this.n).auth && m.mates(this.c, this.n).length === 1;
  async run(m: Model, r: System): Promise<void> {
    const rs = r.clients[this.c].sockets[this.n];
    void rs.authenticate({ token: token(this.cred), delayMs: 150 }, 1000);
    await sleep(50);
    rs.sock.disconnect();
    m.disconnect(this.c, this.n);
    await sleep(200); // past the strategy's answer
    await finish(m, r);
  }
  toString = (): string => `disconnectDuringAttempt(${this.c}, ${this.n}, ${this.cred})`;
}
