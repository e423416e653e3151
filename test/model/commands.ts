/**
 * The commands: each acts on the real system, waits (bounded) until the server
 * has settled, updates the model, then checks every invariant. Commands that
 * overlap two transitions are in races.ts.
 */
import type { AsyncCommand } from 'fast-check';
import { checkInvariants, fail, missedBy, receivers, settleServer } from './invariants.js';
import type { Model } from './model.js';
import { isPublic, NSPS, type Nsp, type Principal, type System } from './system.js';

export type Cmd = AsyncCommand<Model, System>;
export type Credential = Principal | 'invalid';

export const token = (cred: Credential): string => (cred === 'invalid' ? 'mallory-token' : `${cred}-token`);
export const other = (n: Nsp): Nsp => (n === '/' ? '/b' : '/');

/** Waits until every socket in `targets` logged a matching entry since `marks`. */
export async function allLogged(
  r: System,
  targets: Array<[number, Nsp]>,
  marks: Map<string, number>,
  kind: string,
  ms = 1000,
): Promise<void> {
  await Promise.all(
    targets.map(([c, n]) => r.clients[c].sockets[n].until(marks.get(`${c}|${n}`) ?? 0, (e) => e.kind === kind, ms)),
  );
}

/** A session ended: its gated sockets are disconnected; its public ones stay (finish() fences them). */
export function sessionEnded(
  r: System,
  targets: Array<[number, Nsp]>,
  marks: Map<string, number>,
  ms?: number,
): Promise<void> {
  return allLogged(
    r,
    targets.filter(([, n]) => !isPublic(n)),
    marks,
    'disconnect',
    ms,
  );
}

export function marks(r: System): Map<string, number> {
  const out = new Map<string, number>();
  r.clients.forEach((client, c) => NSPS.forEach((n) => out.set(`${c}|${n}`, client.sockets[n].log.length)));
  return out;
}

/** Commands run so far in this process, for the summary line. */
export const stats = { commands: 0 };

export async function finish(m: Model, r: System): Promise<void> {
  stats.commands++;
  await settleServer(m, r);
  checkInvariants(m, r);
}

/**
 * Applies the model's answer to credentials `cred` on (c, n): 'ok'; 'refused' for a refresh that failed, which
 * leaves the session as it was; 'ended' for a first attempt that failed, which ends the session.
 */
export function modelAuthenticate(
  m: Model,
  r: System,
  c: number,
  n: Nsp,
  cred: Credential,
): 'ok' | 'refused' | 'ended' {
  const { auth: current, expected } = m.socket(c, n);
  // invalid_credentials; identity_changed on a refresh, or after an expiry that asked to re-authenticate.
  if (cred === 'invalid' || (current && current !== cred) || (!current && expected && expected !== cred)) {
    if (current) return 'refused';
    m.closeSession(c, n);
    return 'ended';
  }
  if (!current) m.authenticateSession(r, c, n, cred);
  return 'ok';
}

export class ConnectCmd implements Cmd {
  constructor(
    readonly c: number,
    readonly n: Nsp,
  ) {}
  check = (m: Readonly<Model>): boolean => !m.socket(this.c, this.n).connected;
  async run(m: Model, r: System): Promise<void> {
    const client = r.clients[this.c];
    // Opening the manager again also reconnects every socket the transport dropped (still active).
    const opening = m.clients[this.c].open ? [] : NSPS.filter((x) => x !== this.n && m.socket(this.c, x).active);
    const joinsAuthenticated =
      m.config.scope === 'connection' ? NSPS.map((x) => m.socket(this.c, x).auth).find(Boolean) : undefined;
    const mates = m.config.scope === 'connection' && m.clients[this.c].open ? NSPS.map((x) => m.socket(this.c, x)) : [];
    const joinsBound = mates.map((s) => s.expected).find(Boolean);
    const joinsOwned = mates.map((s) => s.owner).find(Boolean);
    const before = marks(r);
    client.sockets[this.n].sock.connect();
    for (const x of [this.n, ...opening]) {
      const rs = client.sockets[x];
      if (!(await rs.until(before.get(`${this.c}|${x}`)!, (e) => e.kind === 'connect', 3000)))
        fail(`client ${this.c} ${x}: did not connect`);
      Object.assign(m.socket(this.c, x), { connected: true, active: true, dropped: undefined, auth: undefined });
    }
    m.clients[this.c].open = true;
    Object.assign(m.socket(this.c, this.n), { expected: joinsBound, owner: joinsOwned });
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
  constructor(
    readonly c: number,
    readonly n: Nsp,
    readonly cred: Credential,
    readonly label = 'authenticate',
  ) {}
  check = (m: Readonly<Model>): boolean =>
    m.socket(this.c, this.n).connected && (this.label !== 'refresh' || !!m.socket(this.c, this.n).auth);
  async run(m: Model, r: System): Promise<void> {
    const mates = m.mates(this.c, this.n).map((x): [number, Nsp] => [this.c, x]);
    const before = marks(r);
    const answer = await r.clients[this.c].sockets[this.n].authenticate({ token: token(this.cred) });
    const outcome = modelAuthenticate(m, r, this.c, this.n, this.cred);
    const ok = outcome === 'ok';
    if (!!answer?.ok !== ok) fail(`${this}: ack ${JSON.stringify(answer)}, model expected ok=${ok}`);
    if (outcome === 'ended') await sessionEnded(r, mates, before);
    await finish(m, r);
  }
  toString = (): string => `${this.label}(${this.c}, ${this.n}, ${this.cred})`;
}

export class GuardedCmd implements Cmd {
  constructor(
    readonly c: number,
    readonly n: Nsp,
  ) {}
  check = (m: Readonly<Model>): boolean => m.socket(this.c, this.n).connected;
  async run(m: Model, r: System): Promise<void> {
    const rs = r.clients[this.c].sockets[this.n];
    const answer = await rs.sock
      .timeout(2000)
      .emitWithAck('guarded')
      .catch((err) => ({ noAck: String(err) }));
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

/** The server emits to one socket with an ack: a direct emit reaches a pending socket too, and its ack comes back. */
export class DirectAckCmd implements Cmd {
  constructor(
    readonly c: number,
    readonly n: Nsp,
  ) {}
  check = (m: Readonly<Model>): boolean => m.socket(this.c, this.n).connected;
  async run(m: Model, r: System): Promise<void> {
    const answer = await r
      .serverSocket(this.c, this.n)!
      .timeout(1000)
      .emitWithAck('ping')
      .catch((err: Error) => err.message);
    if (answer !== 'pong')
      fail(`${this}: ack ${JSON.stringify(answer)} while ${m.socket(this.c, this.n).auth ?? 'pending'}`);
    await finish(m, r);
  }
  toString = (): string => `directAck(${this.c}, ${this.n})`;
}

export class BroadcastCmd implements Cmd {
  constructor(
    readonly n: Nsp,
    readonly room?: Principal,
  ) {}
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
  constructor(
    readonly c: number,
    readonly n: Nsp,
  ) {}
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

export class RevokeCmd implements Cmd {
  constructor(readonly p: Principal) {}
  check = (): boolean => true;
  async run(m: Model, r: System): Promise<void> {
    // Every session the principal owns ends, demoted ones too: with scope 'connection' its whole connection, else
    // its own socket.
    const hit = m.connected().filter(([c, n]) => m.socket(c, n).owner === this.p);
    const targets = hit.flatMap(([c, n]) => m.mates(c, n).map((x): [number, Nsp] => [c, x]));
    const before = marks(r);
    await r.t.auth.revoke(this.p);
    hit.forEach(([c, n]) => m.socket(c, n).connected && m.closeSession(c, n));
    await sessionEnded(r, targets, before);
    await finish(m, r);
  }
  toString = (): string => `revoke(${this.p})`;
}

export class DisconnectCmd implements Cmd {
  constructor(
    readonly c: number,
    readonly n: Nsp,
  ) {}
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
  check = (m: Readonly<Model>): boolean => m.clients[this.c].open;
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
