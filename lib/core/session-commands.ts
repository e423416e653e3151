/**
 * The session commands an app runs cluster-wide (`revoke`, `revalidate`,
 * `sessions`, `end`) and each node's part of them. Apart from socket-auth.ts,
 * which wires the parts together, because each command has two halves that
 * must agree: the call the app makes, which checks its arguments and asks
 * every node through cluster-commands.ts, and the `…Here` handler each node
 * runs on its own sessions.
 */
import type { Namespace } from 'socket.io';
import { AuthSocketConfigError } from '../auth-socket-config.error.js';
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import type { AuthPrincipal, AuthStrategy } from '../auth-strategy.interface.js';
import type { Authenticator } from './authenticator.js';
import { ClusterCommands } from './cluster-commands.js';
import type { Outcomes } from './outcomes.js';
import { errorPayload, principalRoom } from './protocol.js';
import { covers, type Revocation } from './revocation-store.js';
import type { Revocations, RevokeOptions, RevokeTarget } from './revocations.js';
import type { Session } from './session.js';
import type { SessionInfo } from './session-limit.js';
import type { SessionRegistry } from './session-registry.js';
import type { AuthLogger } from './strategy-call.js';

/** A revoke's grace is a moment to refresh, not a second session: at most a day. */
const MAX_GRACE_MS = 86_400_000;

/** What `revoke()` did, cluster-wide. */
export interface RevokeResult {
  /** Sockets that lost the session now, on every node that answered. */
  disconnected: number;
  /** With `graceMs`: sockets told `refresh_required {code:'revoked'}`, which end at the grace's end unless they refresh. */
  inGrace: number;
  /** false when a node did not answer in time: it may still hold sockets the revocation covers. */
  complete: boolean;
}

/** What `sessions()` found, cluster-wide. */
export interface SessionsResult {
  sessions: SessionInfo[];
  /** false when a node did not answer in time: it may hold more. */
  complete: boolean;
}

/** What `end()` did, cluster-wide. */
export interface EndResult {
  /** Whether a node held the session and ended it. */
  ended: boolean;
  /** false when a node did not answer in time (so `ended: false` may not be the last word). */
  complete: boolean;
}

/** What `revalidate()` did, cluster-wide. */
export interface RevalidateResult {
  /** Sessions of the principal that were checked, on every node that answered. */
  sessions: number;
  /** false when a node did not answer in time. */
  complete: boolean;
}

/** What the commands work on: socket-auth.ts's parts. */
export interface SessionCommandDeps {
  options: ResolvedAuthSocketOptions;
  strategy: AuthStrategy;
  logger: AuthLogger;
  sessions: SessionRegistry;
  revocations: Revocations;
  outcomes: Outcomes;
  protocol: () => Authenticator;
  /** The namespaces attached so far (the revoke backstop emits on each). */
  attached: ReadonlySet<Namespace>;
  /** This node's id, in each session's listing. */
  node: string;
  /** The session limit's count of a principal's slots on this node. */
  heldHere: (principalId: string) => unknown;
}

export class SessionCommands {
  readonly cluster: ClusterCommands;

  constructor(private readonly deps: SessionCommandDeps) {
    this.cluster = new ClusterCommands({
      revoke: (entry, reason, graceMs) => this.revokeHere(entry as Revocation, reason, graceMs),
      revalidate: (principalId) => this.revalidateHere(principalId),
      sessions: (principalId) => this.sessionsHere(principalId),
      end: (sessionId, reason) => this.endHere(sessionId, reason),
      held: (principalId) => deps.heldHere(String(principalId)),
    });
  }

  private get protocol(): Authenticator {
    return this.deps.protocol();
  }

  /**
   * Denies the target from now on (the revocation store, consulted on every
   * authentication and refresh), then ends the live sessions it covers on
   * every node, each through its own `end()`, or gives them `graceMs` to
   * refresh.
   */
  async revoke(target: RevokeTarget, given?: string | RevokeOptions): Promise<RevokeResult> {
    const options: RevokeOptions = typeof given === 'string' ? { reason: given } : (given ?? {});
    const { reason, graceMs } = options;
    if (graceMs !== undefined && !(typeof graceMs === 'number' && graceMs > 0 && graceMs <= MAX_GRACE_MS))
      throw new AuthSocketConfigError(
        'AUTH_SOCKET_INVALID_ARGUMENT',
        `revoke(): graceMs must be a number of ms from 1 to ${MAX_GRACE_MS}`,
      );
    const entry = this.deps.revocations.entryFor(target);
    await this.deps.revocations.store.add(entry);
    const counted = await this.cluster.run('revoke', entry, reason ?? null, graceMs ?? null);
    const principalId = 'principalId' in entry ? entry.principalId : undefined;
    // A room reaches every session of the principal: only right when the revocation covers them all (a ban, or
    // "issued before now"); an explicit earlier cut-off is evaluated per session, by the nodes themselves.
    const coversAll = entry.kind === 'principal' || (entry.kind === 'issued-before' && !hasCutOff(target));
    // Backstop through the adapter: a cluster adapter sends server-side messages only to the nodes it already knows
    // (its heartbeat), while broadcasts reach every node. Sessions ended above have left the principal's room, so
    // this reaches only sockets on a node that missed the message. With a grace, those wait for the message instead.
    if (principalId !== undefined && coversAll && graceMs === undefined) {
      const room = principalRoom(principalId);
      for (const nsp of this.deps.attached) {
        nsp.to(room).emit(this.deps.options.events.unauthorized, errorPayload('revoked', reason));
        nsp.in(room).disconnectSockets(true);
      }
    }
    this.deps.outcomes.count('revoked');
    const what = principalId !== undefined ? `sessions of ${principalId}` : 'a token';
    this.deps.logger.log(`revoked ${what}${counted.complete ? '' : ' (some nodes did not answer)'}`);
    this.deps.outcomes.report({
      type: 'revoked',
      ...(principalId !== undefined ? { principalId } : { tokenId: (entry as { tokenId: string }).tokenId }),
      ...(reason ? { reason } : {}),
      ...(graceMs !== undefined ? { graceMs } : {}),
    });
    const inGrace = graceMs === undefined ? 0 : counted.total;
    return { disconnected: counted.total - inGrace, inGrace, complete: counted.complete };
  }

  /**
   * This node's part of a revoke: keeps the entry (for a shared store's
   * outage), ends or gives grace to every session it covers (demoted ones
   * too, which could resume), and marks every attempt in flight: one that
   * the strategy answers with a covered principal is refused, since it
   * checked credentials from before the revoke. Answers how many sockets.
   */
  private revokeHere(entry: Revocation, reason?: unknown, graceMs?: unknown): number {
    const message = typeof reason === 'string' ? reason : undefined;
    const grace = typeof graceMs === 'number' && graceMs > 0 ? graceMs : undefined;
    this.deps.revocations.store.remember?.(entry);
    let count = 0;
    for (const session of this.deps.sessions.all()) {
      // Any attempt in flight, a refresh of a session given a grace included: its credentials predate the revoke.
      if (session.attempt) this.deps.revocations.mark(session.attempt, entry);
      if (!this.covered(session, entry)) continue;
      count += session.size;
      if (grace !== undefined && session.state === 'authenticated') this.protocol.startGrace(session, grace, message);
      else this.protocol.end(session, errorPayload('revoked', message));
    }
    return count;
  }

  /** Whether a session is one the revocation takes: its principal's, or (demoted) one its owner could resume. */
  private covered(session: Session, entry: Revocation): boolean {
    const { ownerId, principal } = session;
    if (ownerId === undefined) return false;
    if (!principal) return entry.kind !== 'token' && 'principalId' in entry && entry.principalId === ownerId;
    // Credentials without an issue time were presented before the session authenticated, even in the revoke's millisecond.
    const authenticatedAt = session.auth?.state === 'authenticated' ? session.auth.authenticatedAt : Date.now();
    return covers(entry, this.deps.revocations.subjectOf(principal, authenticatedAt - 1, true));
  }

  /** Whether the revocation store denies these credentials now: for the app's own HTTP endpoints (refresh, logout). */
  isRevoked(principal: Pick<AuthPrincipal, 'id' | 'tokenId' | 'issuedAt'>): Promise<boolean> {
    return Promise.resolve(this.deps.revocations.check(principal as AuthPrincipal)).then((code) => code !== undefined);
  }

  /** Revalidates every session of the principal on every node, now; resolves once each node has applied its answers. */
  async revalidate(principalId: string): Promise<RevalidateResult> {
    if (typeof principalId !== 'string' || !principalId)
      throw new AuthSocketConfigError(
        'AUTH_SOCKET_INVALID_ARGUMENT',
        'revalidate(): the principal id must be a non-empty string',
      );
    if (!this.deps.strategy.revalidate)
      throw new AuthSocketConfigError(
        'AUTH_SOCKET_INVALID_ARGUMENT',
        'revalidate(): the strategy has no revalidate(principal, context) method',
      );
    const { total, complete } = await this.cluster.run('revalidate', principalId);
    return { sessions: total, complete };
  }

  private async revalidateHere(principalId: unknown): Promise<number> {
    const sessions = this.deps.sessions
      .all()
      .filter((s) => s.state === 'authenticated' && s.principal?.id === principalId);
    await Promise.all(sessions.map((s) => this.protocol.revalidate(s, 'request')));
    return sessions.length;
  }

  /** The principal's live sessions on every node. */
  async listSessions(principalId: string): Promise<SessionsResult> {
    if (typeof principalId !== 'string' || !principalId)
      throw new AuthSocketConfigError(
        'AUTH_SOCKET_INVALID_ARGUMENT',
        'sessions(): the principal id must be a non-empty string',
      );
    const { answers, complete } = await this.cluster.gather('sessions', principalId);
    const sessions = answers.flatMap((list) => (Array.isArray(list) ? (list as SessionInfo[]) : []));
    return { sessions, complete };
  }

  private sessionsHere(principalId: unknown): SessionInfo[] {
    const found: SessionInfo[] = [];
    for (const session of this.deps.sessions.all()) {
      if (session.state !== 'authenticated' || session.principal?.id !== principalId) continue;
      const agent = session.first?.handshake.headers['user-agent'];
      found.push({
        id: session.id,
        node: this.deps.node,
        namespaces: session.sockets.map((s) => s.nsp.name),
        address: session.address,
        ...(typeof agent === 'string' ? { userAgent: agent.slice(0, 256) } : {}),
        authenticatedAt: session.startedAt,
        ...(session.expiresAt !== undefined ? { expiresAt: session.expiresAt } : {}),
      });
    }
    return found;
  }

  /** Ends one session wherever it is: its sockets hear `unauthorized {code:'revoked'}` with the reason. */
  async end(sessionId: string, reason?: string): Promise<EndResult> {
    if (typeof sessionId !== 'string' || !sessionId)
      throw new AuthSocketConfigError(
        'AUTH_SOCKET_INVALID_ARGUMENT',
        'end(): the session id must be a non-empty string',
      );
    if (reason !== undefined && typeof reason !== 'string')
      throw new AuthSocketConfigError('AUTH_SOCKET_INVALID_ARGUMENT', 'end(): the reason must be a string');
    const { total, complete } = await this.cluster.run('end', sessionId, reason ?? null);
    return { ended: total > 0, complete };
  }

  private endHere(sessionId: unknown, reason: unknown): number {
    const session = typeof sessionId === 'string' ? this.deps.sessions.byId(sessionId) : undefined;
    if (!session || session.state === 'closed') return 0;
    const message = typeof reason === 'string' ? reason : undefined;
    const principalId = session.ownerId;
    this.protocol.end(session, errorPayload('revoked', message));
    this.deps.outcomes.report({
      type: 'revoked',
      sessionId: sessionId as string,
      ...(principalId !== undefined ? { principalId } : {}),
      ...(message ? { reason: message } : {}),
    });
    return 1;
  }
}

/** Whether a revoke target names its own "issued before" cut-off. */
function hasCutOff(target: RevokeTarget): boolean {
  return (
    typeof target === 'object' && target !== null && (target as { issuedBefore?: unknown }).issuedBefore !== undefined
  );
}
