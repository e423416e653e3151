/**
 * Revocations that outlive the sockets they ended: consulted on every
 * authentication and refresh, so a revoked token (or an older one) cannot
 * come back a second later. No Nest and no Redis in here: the Redis store
 * lives in the `nestjs-socket-auth/redis` entry point.
 */
import type { StoreHealth } from './limit-store.js';

/**
 * One denial, and until when it matters (`until`, epoch ms): after that no
 * credential it covers can still be valid, and the store may forget it.
 *   - `token`: one credential id (a JWT's `jti`);
 *   - `issued-before`: a principal's credentials issued before `before` (log out everywhere);
 *   - `principal`: a principal entirely, whatever it presents.
 */
export type Revocation =
  | { kind: 'token'; tokenId: string; until: number }
  | { kind: 'issued-before'; principalId: string; before: number; until: number }
  | { kind: 'principal'; principalId: string; until: number };

/** What a revocation is checked against: an accepted principal's identity and credential. */
export interface RevocationSubject {
  principalId: string;
  /** The credential's id, when the strategy gave one (`AuthPrincipal.tokenId`). */
  tokenId?: string;
  /** When the credential was issued (`AuthPrincipal.issuedAt`), else when the session authenticated; epoch ms. */
  issuedAt: number;
}

/** Whether `revocation` denies `subject` at `now`. */
export function covers(revocation: Revocation, subject: RevocationSubject, now = Date.now()): boolean {
  if (revocation.until <= now) return false;
  switch (revocation.kind) {
    case 'token':
      return subject.tokenId !== undefined && subject.tokenId === revocation.tokenId;
    case 'issued-before':
      return subject.principalId === revocation.principalId && subject.issuedAt < revocation.before;
    case 'principal':
      return subject.principalId === revocation.principalId;
  }
}

/**
 * Where revocations live. In memory by default (one process, forgotten on
 * restart); `RedisRevocationStore` from `nestjs-socket-auth/redis` shares them
 * across nodes and restarts. Either may answer synchronously.
 */
export interface RevocationStore {
  /** Keeps `revocation` until its `until`. */
  add(revocation: Revocation): void | Promise<void>;
  /** Whether any kept revocation covers `subject`. */
  isRevoked(subject: RevocationSubject): boolean | Promise<boolean>;
  /**
   * A revocation another node added to the shared store, heard through the
   * cluster: kept locally so it still holds while the shared store is out.
   * Stores without a shared part leave it out.
   */
  remember?(revocation: Revocation): void;
  /** Releases timers or connections. */
  close?(): void | Promise<void>;
  /** Its connectivity now; a store without it counts as `up`. */
  health?(): StoreHealth;
}

/** The per-process store: three maps, each entry dropped once its `until` passes. */
export class MemoryRevocationStore implements RevocationStore {
  private readonly tokens = new Map<string, number>();
  private readonly before = new Map<string, { before: number; until: number }>();
  private readonly principals = new Map<string, number>();
  private sweeper?: ReturnType<typeof setInterval>;

  /**
   * @param sweepIntervalMs How often expired entries are dropped; lookups ignore them anyway, so this only bounds memory.
   * @param clock Epoch ms now: `Date.now` unless a test moves time on.
   */
  constructor(
    private readonly sweepIntervalMs = 60_000,
    private readonly clock: () => number = Date.now,
  ) {}

  add(revocation: Revocation): void {
    const now = this.clock();
    if (revocation.until <= now) return;
    switch (revocation.kind) {
      case 'token':
        this.tokens.set(revocation.tokenId, Math.max(revocation.until, this.tokens.get(revocation.tokenId) ?? 0));
        break;
      case 'issued-before': {
        // The later cut-off covers the earlier one; it is kept as long as either needed.
        const kept = this.before.get(revocation.principalId);
        const live = kept && kept.until > now ? kept : undefined;
        this.before.set(revocation.principalId, {
          before: Math.max(revocation.before, live?.before ?? 0),
          until: Math.max(revocation.until, live?.until ?? 0),
        });
        break;
      }
      case 'principal':
        this.principals.set(
          revocation.principalId,
          Math.max(revocation.until, this.principals.get(revocation.principalId) ?? 0),
        );
        break;
    }
    this.startSweeper();
  }

  remember(revocation: Revocation): void {
    this.add(revocation);
  }

  isRevoked(subject: RevocationSubject): boolean {
    if (!this.size) return false;
    const now = this.clock();
    const { principalId, tokenId } = subject;
    if (tokenId !== undefined && (this.tokens.get(tokenId) ?? 0) > now) return true;
    if ((this.principals.get(principalId) ?? 0) > now) return true;
    const before = this.before.get(principalId);
    return !!before && before.until > now && subject.issuedAt < before.before;
  }

  /** Kept entries, expired ones included until the next sweep. For leak checks. */
  get size(): number {
    return this.tokens.size + this.before.size + this.principals.size;
  }

  close(): void {
    this.tokens.clear();
    this.before.clear();
    this.principals.clear();
    this.stopWhenEmpty();
  }

  private startSweeper(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => this.sweep(), this.sweepIntervalMs);
    this.sweeper.unref?.(); // never what keeps a process alive
  }

  private sweep(): void {
    const now = this.clock();
    for (const [key, until] of this.tokens) if (until <= now) this.tokens.delete(key);
    for (const [key, entry] of this.before) if (entry.until <= now) this.before.delete(key);
    for (const [key, until] of this.principals) if (until <= now) this.principals.delete(key);
    this.stopWhenEmpty();
  }

  private stopWhenEmpty(): void {
    if (this.size > 0 || !this.sweeper) return;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
