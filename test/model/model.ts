/**
 * The simple model: which client sockets are connected, and as whom each is
 * authenticated. Everything the real system does is checked against it after
 * every command (see invariants.ts).
 */
import { type Config, isPublic, NSPS, type Nsp, type Principal, type System } from './system.js';

export interface MSocket {
  connected: boolean;
  /**
   * socket.io-client's `active`: connected, or dropped with the transport. An
   * active socket reconnects by itself whenever its manager opens again.
   */
  active?: boolean;
  /** undefined: pending. */
  auth?: Principal;
  /** Set when the transport dropped under it (recoverable with recovery on): the principal it had. */
  dropped?: { principal?: Principal };
  /** After an expiry with 'reauthenticate': only this principal may authenticate the session again. */
  expected?: Principal;
  /**
   * Whose session this is, or may become again: the principal while
   * authenticated, and after a demotion (expiry or deauthenticate) still the
   * same one. Revoke ends every session its principal owns.
   */
  owner?: Principal;
}

export interface MClient {
  /** Whether the client's connection (engine.io) is up. */
  open: boolean;
  sockets: Record<Nsp, MSocket>;
}

export class Model {
  readonly clients: MClient[];
  /** Expected hook runs, `${nsp}|${sid}` → principals in order. */
  readonly hooks = new Map<string, string[]>();
  /** Expected guarded-handler runs, `${nsp}|${sid}|${principal}` → count. */
  readonly guarded = new Map<string, number>();

  constructor(
    readonly config: Config,
    clientCount: number,
  ) {
    this.clients = Array.from({ length: clientCount }, () => ({
      open: false,
      sockets: { '/': { connected: false }, '/b': { connected: false }, '/p': { connected: false } },
    }));
  }

  socket(c: number, n: Nsp): MSocket {
    return this.clients[c].sockets[n];
  }

  /** The namespaces sharing (c, n)'s session: its whole connection with scope 'connection'. */
  mates(c: number, n: Nsp): Nsp[] {
    if (this.config.scope === 'namespace') return [n];
    return NSPS.filter((x) => this.socket(c, x).connected);
  }

  /** A session became authenticated: every socket of it runs the hooks once. */
  authenticateSession(r: System, c: number, n: Nsp, p: Principal): void {
    for (const x of this.mates(c, n)) {
      Object.assign(this.socket(c, x), { auth: p, expected: undefined, owner: p });
      this.hookRan(r, c, x, p);
    }
  }

  hookRan(r: System, c: number, n: Nsp, p: Principal): void {
    const key = `${n}|${r.clients[c].sockets[n].lastSid}`;
    this.hooks.set(key, [...(this.hooks.get(key) ?? []), p]);
  }

  /** Back to pending; after an expiry the session stays bound to its principal. */
  demoteSession(c: number, n: Nsp, expired = false): void {
    for (const x of this.mates(c, n)) {
      const s = this.socket(c, x);
      Object.assign(s, { expected: expired ? s.auth : undefined, auth: undefined });
    }
  }

  /**
   * The server ended the session: its gated sockets are disconnected (with
   * scope 'connection' and no public socket, the whole connection closes); its
   * public sockets stay, anonymous, in no session.
   */
  closeSession(c: number, n: Nsp): void {
    for (const x of this.mates(c, n)) {
      if (isPublic(x)) Object.assign(this.socket(c, x), { auth: undefined, expected: undefined, owner: undefined });
      else this.disconnect(c, x);
    }
  }

  closeClient(c: number): void {
    for (const n of NSPS) this.disconnect(c, n);
  }

  disconnect(c: number, n: Nsp): void {
    const s = this.socket(c, n);
    s.connected = false;
    s.active = false;
    s.auth = undefined;
    s.expected = undefined;
    s.owner = undefined;
    // The client closes its connection once its last namespace socket has gone.
    if (NSPS.every((x) => !this.socket(c, x).connected)) this.clients[c].open = false;
  }

  drop(c: number): void {
    for (const n of NSPS) {
      const s = this.socket(c, n);
      if (s.connected && this.config.recovery) s.dropped = { principal: s.auth };
      s.connected = false;
      s.auth = undefined;
      s.expected = undefined;
      s.owner = undefined;
    }
    this.clients[c].open = false;
  }

  /** The (c, n) pairs that are connected. */
  connected(): Array<[number, Nsp]> {
    const out: Array<[number, Nsp]> = [];
    this.clients.forEach((client, c) => NSPS.forEach((n) => client.sockets[n].connected && out.push([c, n])));
    return out;
  }
}
