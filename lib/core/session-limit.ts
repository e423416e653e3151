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
  /** How many sessions count for the principal on every node: authenticated ones and those being admitted. */
  held(principalId: string): Promise<{ total: number; complete: boolean }>;
  evict(sessionId: string): Promise<unknown>;
}

/** A count kept a day past its last change: longer than any session is likely to stay unrefreshed in the store. */
const COUNT_TTL_MS = 86_400_000;

export class SessionLimit {
  /** Admissions whose count is on its way to the store, per principal: they hold a slot already. */
  private readonly admitting = new Map<string, number>();

  constructor(private readonly parts: SessionLimitParts) {}

  /** This node's sessions holding a slot of the principal, beside the counted ones: those being admitted. */
  admittingFor(principalId: string): number {
    return this.admitting.get(principalId) ?? 0;
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
   * (`reject`, and the cluster confirms the principal holds the maximum).
   * With `evict-oldest` the oldest sessions are ended and this one counts.
   */
  async take(session: Session, principalId: string): Promise<boolean> {
    try {
      return await this.decide(session, principalId);
    } catch {
      return true; // like the abuse limits: a store or a node that fails loses the limit for that call, never the user
    }
  }

  private async decide(session: Session, principalId: string): Promise<boolean> {
    const { maxSessionsPerPrincipal: max, onSessionLimit } = this.parts.options;
    const key = keyOf(principalId);
    // Seen by a concurrent admission's `held()` from the start (as admitting), then as counted.
    this.admitting.set(principalId, (this.admitting.get(principalId) ?? 0) + 1);
    let total: number;
    try {
      total = await this.parts.store.add(key, 1, COUNT_TTL_MS, true);
    } finally {
      const left = this.admitting.get(principalId)! - 1;
      if (left > 0) this.admitting.set(principalId, left);
      else this.admitting.delete(principalId);
    }
    // From here `release()` takes the count back (also when the session ended while the store answered).
    session.counted = principalId;
    if (total <= max) return true;
    // Over the count: ask the cluster what really holds a slot (this session included), so a count left behind
    // by a crashed node heals instead of locking the user out.
    const held = await this.parts.held(principalId);
    if (held.complete && held.total <= max) {
      await this.parts.store.add(key, held.total - total, COUNT_TTL_MS, true);
      return true;
    }
    if (onSessionLimit === 'reject') {
      this.release(session);
      return false;
    }
    const { sessions } = await this.parts.list(principalId);
    const excess = Math.max(0, held.total - max);
    const oldest = sessions.sort((a, b) => a.authenticatedAt - b.authenticatedAt).slice(0, excess);
    await Promise.all(oldest.map((s) => this.parts.evict(s.id)));
    return true;
  }

  /** The session stopped counting (ended, demoted, or refused after `take`). Once per `take`. */
  release(session: Session): void {
    const principalId = session.counted;
    if (principalId === undefined) return;
    session.counted = undefined;
    void Promise.resolve(this.parts.store.add(keyOf(principalId), -1, COUNT_TTL_MS, true)).catch(() => undefined);
  }
}

function keyOf(principalId: string): string {
  return `sessions:${principalId}`;
}
