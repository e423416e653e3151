/**
 * `maxSessionsPerPrincipal`: how many authenticated sessions one principal
 * holds across the nodes, counted in the shared limit store, and what a new
 * one past the limit gets. The store's count is what decides; the cluster's
 * own list of sessions corrects it when it has drifted (a node that crashed
 * never took its sessions off), so a stale count can never lock a user out.
 */
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import type { LimitStore } from './limit-store.js';
import type { Session } from './session.js';

/** One live session, as `AuthSocketService.sessions()` lists it. */
export interface SessionInfo {
  /** Pass it to `end()`. Unique across the nodes; not a secret. */
  id: string;
  /** The node holding it (random per process). */
  node: string;
  /** The namespaces its sockets are on. */
  namespaces: string[];
  /** The client address (with `trustProxy`, the forwarded one). */
  address: string;
  /** The handshake's User-Agent, cut to 256 characters. */
  userAgent?: string;
  /** When the session first authenticated (refreshes keep it), epoch ms. */
  authenticatedAt: number;
  /** When its credentials expire, epoch ms. */
  expiresAt?: number;
}

/** What the limit needs from the rest: the principal's sessions on every node, and ending one by id. */
export interface SessionLimitParts {
  options: ResolvedAuthSocketOptions;
  store: LimitStore;
  list(principalId: string): Promise<{ sessions: SessionInfo[]; complete: boolean }>;
  /** What holds the principal's slots on every node: counted sessions, and the ids of those being admitted. */
  held(principalId: string): Promise<HeldSlots & { complete: boolean }>;
  evict(sessionId: string): Promise<unknown>;
}

/** A node's sessions holding slots of a principal: how many are counted, and which are being admitted now. */
export interface HeldSlots {
  counted: number;
  admitting: string[];
}

/** A count kept a day past its last change: longer than any session is likely to stay unrefreshed in the store. */
const COUNT_TTL_MS = 86_400_000;

export class SessionLimit {
  /** Sessions being admitted, by id, per principal: they race for the last slots. */
  private readonly admitting = new Map<string, Set<string>>();

  constructor(private readonly parts: SessionLimitParts) {}

  /** This node's part of `held()`. */
  heldHere(principalId: string, counted: number): HeldSlots {
    return { counted, admitting: [...(this.admitting.get(principalId) ?? [])] };
  }

  /** Live entries, for leak checks. */
  get size(): number {
    return this.admitting.size;
  }

  get enabled(): boolean {
    return this.parts.options.maxSessionsPerPrincipal > 0;
  }

  /**
   * Counts a session about to authenticate as `principalId`. False: refused
   * (`reject`, the principal holds the maximum). With `evict-oldest` it
   * always counts; `settle()` ends the oldest once it is authenticated.
   */
  async take(session: Session, principalId: string): Promise<boolean> {
    try {
      return await this.decide(session, principalId);
    } catch {
      return true; // like the abuse limits: a store or a node that fails loses the limit for that call, never the user
    }
  }

  /**
   * The store's count decides while it says there is room. Past it, the
   * cluster's own view decides, so a count left behind by a crashed node
   * locks nobody out: the counted sessions hold their slots, and admissions
   * racing for the rest are ranked by session id, which every node sees the
   * same, so exactly as many win as there are free slots. (The drifted count
   * is not corrected: a correction computed by racing nodes would add up
   * wrong; it costs only this question until it expires.)
   */
  private async decide(session: Session, principalId: string): Promise<boolean> {
    const { maxSessionsPerPrincipal: max, onSessionLimit } = this.parts.options;
    const key = keyOf(principalId);
    const mine = session.id;
    const racing = this.admitting.get(principalId) ?? new Set<string>();
    this.admitting.set(principalId, racing.add(mine));
    try {
      const total = await this.parts.store.add(key, 1, COUNT_TTL_MS, true);
      let admitted = total <= max || onSessionLimit === 'evict-oldest';
      if (!admitted) {
        const held = await this.parts.held(principalId);
        admitted = held.counted + held.admitting.filter((id) => id < mine).length < max;
      }
      // From here `release()` takes the count back (also when the session ended while the store answered).
      if (admitted) session.counted = principalId;
      else void this.decrement(principalId);
      return admitted;
    } finally {
      racing.delete(mine);
      if (!racing.size && this.admitting.get(principalId) === racing) this.admitting.delete(principalId);
    }
  }

  /**
   * With `evict-oldest`, once a session is authenticated: ends the
   * principal's oldest sessions past the limit. Every node orders them the
   * same (first authentication, then id), so racing sessions agree on which
   * stay: the newest.
   */
  async settle(principalId: string): Promise<void> {
    const { maxSessionsPerPrincipal: max, onSessionLimit } = this.parts.options;
    if (!max || onSessionLimit !== 'evict-oldest') return;
    try {
      const { sessions } = await this.parts.list(principalId);
      if (sessions.length <= max) return;
      sessions.sort((a, b) => a.authenticatedAt - b.authenticatedAt || (a.id < b.id ? -1 : 1));
      await Promise.all(sessions.slice(0, sessions.length - max).map((s) => this.parts.evict(s.id)));
    } catch {
      // A node that fails to answer leaves the limit exceeded until the next session settles it.
    }
  }

  /** The session stopped counting (ended, demoted, or refused after `take`). Once per `take`. */
  release(session: Session): void {
    const principalId = session.counted;
    if (principalId === undefined) return;
    session.counted = undefined;
    void this.decrement(principalId);
  }

  private async decrement(principalId: string): Promise<void> {
    await Promise.resolve(this.parts.store.add(keyOf(principalId), -1, COUNT_TTL_MS, true)).catch(() => undefined);
  }
}

function keyOf(principalId: string): string {
  return `sessions:${principalId}`;
}
