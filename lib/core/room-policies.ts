/**
 * Which rooms are policed, and whether a principal may be in one: pure
 * functions of the `rooms` option, no socket.io state. The room guard
 * (room-guard.ts) asks this at every way into a room.
 */
import type { Socket } from 'socket.io';
import type { AuthPrincipal } from '../auth-strategy.interface.js';
import { AuthSocketConfigError } from '../auth-socket-config.error.js';
import { holdsRequirement } from '../auth-requirement.js';

/** What a room predicate is told. */
export interface RoomRequest {
  /** The room asked for. */
  room: string;
  /** The match of the policy's RegExp (groups included), or null for a policy named by a string. */
  match: RegExpExecArray | null;
  /** The socket that would enter. */
  socket: Socket;
}

/** Decides, maybe asynchronously (a database lookup, say), whether the principal may be in the room. */
export type RoomPredicate = (principal: AuthPrincipal, request: RoomRequest) => boolean | Promise<boolean>;

/**
 * What a principal needs to be in a policed room: `true` (authenticated is
 * enough), the `@Authenticated()` shapes (`roles`: at least one; `scopes`:
 * all of them), or a predicate.
 */
export type RoomRequirement = true | { roles?: readonly string[]; scopes?: readonly string[] } | RoomPredicate;

/** One entry of the `rooms` option. */
export interface RoomPolicy {
  /** The room's exact name, or a RegExp its names match (anchor it: `/^team:(?<team>[\w-]+)$/`). */
  room: string | RegExp;
  /** What the principal needs. */
  require: RoomRequirement;
}

/** A verdict: decided now, or once the predicate's promise settles (a throw or a rejection is a refusal). */
export type Verdict = boolean | Promise<boolean>;

/** The module's own rooms (a socket's id room, the principal's room) are never policed. */
export const UNPOLICED_PREFIX = 'nestjs-socket-auth:';

export class RoomPolicies {
  private readonly exact = new Map<string, RoomPolicy>();
  private readonly patterns: RoomPolicy[] = [];
  /** Order matters between a name and a pattern that both match: the first declared wins. */
  private readonly order = new Map<RoomPolicy, number>();

  /** Async verdicts waiting, each bounded: a predicate that never answers refuses at `timeoutMs`. */
  private readonly waiting = new Map<ReturnType<typeof setTimeout>, (ok: false) => void>();

  constructor(
    policies: readonly RoomPolicy[],
    /** How long an async predicate may take before it counts as a refusal (the module's `strategyTimeout`). */
    private readonly timeoutMs = 5000,
  ) {
    policies.forEach((policy, index) => {
      this.order.set(policy, index);
      if (typeof policy.room === 'string') {
        if (!this.exact.has(policy.room)) this.exact.set(policy.room, policy);
      } else this.patterns.push(policy);
    });
  }

  /** Whether any room is policed: with none, joins cost nothing extra. */
  get any(): boolean {
    return this.order.size > 0;
  }

  /** The policy deciding `room`, or undefined when it is not policed. */
  policyFor(room: string): RoomPolicy | undefined {
    const found = this.exact.get(room);
    if (this.patterns.length === 0 || room.startsWith(UNPOLICED_PREFIX)) return found;
    for (const policy of this.patterns) {
      if (found && this.order.get(found)! < this.order.get(policy)!) break;
      if (matches(policy.room as RegExp, room)) return policy;
    }
    return found;
  }

  /**
   * Whether `principal` may be in `room` under `policy`. Without a principal,
   * never. A predicate that throws or rejects refuses (fail closed).
   */
  allows(policy: RoomPolicy, principal: AuthPrincipal | undefined, room: string, socket: Socket): Verdict {
    if (!principal) return false;
    const { require } = policy;
    if (require === true) return true;
    if (typeof require !== 'function') return holdsRequirement(require, principal);
    const match = typeof policy.room === 'string' ? null : exec(policy.room, room);
    try {
      const verdict = require(principal, { room, match, socket });
      if (typeof verdict === 'boolean') return verdict;
      if (verdict && typeof (verdict as Promise<boolean>).then === 'function') return this.bounded(verdict);
      return false; // anything but true refuses
    } catch {
      return false;
    }
  }

  /**
   * The predicate's promise, true only for `true`, false for anything else, a
   * rejection, or no answer within the time: a hung database call must not
   * hold a refresh or a revalidation (which wait on it) forever.
   */
  private bounded(verdict: Promise<boolean>): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(timer);
        resolve(false);
      }, this.timeoutMs);
      timer.unref?.();
      this.waiting.set(timer, resolve);
      const settle = (ok: boolean): void => {
        if (!this.waiting.delete(timer)) return; // timed out, or closed, already
        clearTimeout(timer);
        resolve(ok);
      };
      Promise.resolve(verdict).then(
        (v) => settle(v === true),
        () => settle(false),
      );
    });
  }

  /** Verdicts still waiting, for leak checks. */
  get pending(): number {
    return this.waiting.size;
  }

  /** Shutdown: every verdict still waiting refuses now, and no timer is left. */
  close(): void {
    for (const [timer, resolve] of this.waiting) {
      clearTimeout(timer);
      resolve(false);
    }
    this.waiting.clear();
  }
}

/** A global or sticky RegExp keeps `lastIndex` between calls: matching must not depend on the previous room. */
function matches(pattern: RegExp, room: string): boolean {
  pattern.lastIndex = 0;
  return pattern.test(room);
}

function exec(pattern: RegExp, room: string): RegExpExecArray | null {
  pattern.lastIndex = 0;
  return pattern.exec(room);
}

/** The `rooms` option, checked at start-up: each entry names its room and says what it requires. */
export function validateRoomPolicies(value: unknown): void {
  const fail = (what: string): never => {
    throw new AuthSocketConfigError('AUTH_SOCKET_INVALID_OPTION', `option "rooms" ${what}`);
  };
  if (!Array.isArray(value)) fail('must be an array of { room, require } policies');
  (value as unknown[]).forEach((entry, i) => {
    const policy = entry as Partial<RoomPolicy> | null;
    if (!policy || typeof policy !== 'object') fail(`[${i}] must be an object { room, require }`);
    const { room, require } = policy!;
    if (!(typeof room === 'string' && room.length > 0) && !(room instanceof RegExp))
      fail(`[${i}].room must be a non-empty string or a RegExp`);
    if (typeof room === 'string' && room.startsWith(UNPOLICED_PREFIX))
      fail(`[${i}].room "${room}" is one of the module's own rooms`);
    const shapeOk =
      require === true ||
      typeof require === 'function' ||
      (!!require &&
        typeof require === 'object' &&
        Object.keys(require).every((k) => k === 'roles' || k === 'scopes') &&
        [require.roles, require.scopes].every((l) => l === undefined || isStringList(l)));
    if (!shapeOk)
      fail(`[${i}].require must be true, { roles?: string[], scopes?: string[] } or a function (principal, request)`);
  });
}

function isStringList(list: unknown): boolean {
  return Array.isArray(list) && list.every((x) => typeof x === 'string');
}
