/**
 * Room policies applied to sockets: no socket is ever in a policed room that
 * its current principal may not be in, not even briefly.
 *
 *   - Joins: the gate (broadcast-gate.ts) asks `screen` at every way into a
 *     room. A requirement that answers at once decides inside `socket.join()`;
 *     an async predicate makes `socket.join()` return a promise, and the room
 *     is entered only once it says yes, for the principal current then.
 *   - Principal changes (refresh, revalidation): `prepare` asks the policies
 *     about the new principal while the old one is still current, then
 *     `apply` runs in the same tick as the change and takes the socket out of
 *     every room the new principal may not be in, telling the client.
 *     Re-authentication goes through the gate's release, which screens the
 *     held rooms.
 *   - The opt-in client protocol: `join {room}` / `leave {room}` with acks.
 */
import type { Namespace, Socket } from 'socket.io';
import type { AuthPrincipal } from '../auth-strategy.interface.js';
import type { AuthErrorCode } from '../auth-errors.js';
import { gateOf, type ScreenedRooms } from './broadcast-gate.js';
import { errorPayload, refusal, splitAck } from './protocol.js';
import type { RoomPolicies, RoomPolicy } from './room-policies.js';

/** How a room was refused, for the outcome: a server-side join, the client protocol, or a principal change. */
export type RoomRefusedVia = 'join' | 'client' | 'recheck';

/** What `room_left` carries: the room the socket was taken out of, and why. */
export interface RoomLeftPayload {
  room: string;
  code: 'forbidden';
  message: string;
}

export interface RoomGuardParts {
  policies: RoomPolicies;
  /** The socket's principal while it is authenticated, else undefined. */
  principalOf(socket: Socket): AuthPrincipal | undefined;
  /** Resolves true once the socket may run guarded work, false when it cannot (`whenAuthenticated`). */
  whenAuthenticated(socket: Socket): boolean | Promise<boolean>;
  /** A silenced socket is about to go: what it sends is ignored. */
  isSilenced(socket: Socket): boolean;
  events: { join: string; leave: string; roomLeft: string };
  /** `maxClientRooms`: most policed rooms one socket may be in through the client protocol. */
  maxClientRooms: number;
  refused(socket: Socket, room: string, via: RoomRefusedVia): void;
}

/** Verdicts for a principal about to become current: per socket, per policed room it is in. */
export type RoomPlan = Map<Socket, Map<string, boolean>>;

/** What socket.io's ids look like (base64id: 15 random bytes, URL-safe base64). */
const SOCKET_ID_SHAPE = /(?:^|#)[A-Za-z0-9_-]{20}$/; // `#`: socket.io 2 clients' `/nsp#id` (allowEIO3)
/** Longest room name the client protocol accepts. */
const MAX_ROOM_LENGTH = 200;
/** Client-protocol joins one socket may have waiting on async predicates at once. */
const MAX_JOINS_IN_FLIGHT = 8;
/** A principal that keeps changing while a predicate runs: ask again this many times, then refuse. */
const MAX_REASKS = 3;

export class RoomGuard {
  private readonly inFlight = new WeakMap<Socket, number>();

  constructor(private readonly parts: RoomGuardParts) {}

  // ── joins ─────────────────────────────────────────────────────────────────

  /** The gate's screen: unpoliced rooms pass untouched, policed ones are decided for the current principal. */
  readonly screen = (nsp: Namespace, id: string, rooms: Set<string>, releasing: boolean): ScreenedRooms | undefined => {
    let policed: Map<string, RoomPolicy> | undefined;
    for (const room of rooms) {
      if (room === id) continue; // a socket's own room, joined before anything else
      const policy = this.parts.policies.policyFor(room);
      if (policy) (policed ??= new Map()).set(room, policy);
    }
    if (!policed) return undefined;
    const now = new Set<string>();
    for (const room of rooms) if (!policed.has(room)) now.add(room);
    const socket = nsp.sockets.get(id);
    const via: RoomRefusedVia = releasing ? 'recheck' : 'join';
    let later: Array<Promise<unknown>> | undefined;
    for (const [room, policy] of policed) {
      if (!socket) continue; // in a middleware: no principal yet
      let sync = true;
      const verdict = this.decide(socket, room, policy, (ok) => {
        if (!ok) return this.refuse(socket, room, via, releasing);
        if (sync) now.add(room);
        else return gateOf(nsp)?.admit(socket, new Set([room]));
      });
      if (verdict instanceof Promise) (later ??= []).push(verdict);
      sync = false;
    }
    return later ? { now, later: Promise.all(later).then(() => undefined) } : { now };
  };

  /** Whether a room is policed (the socket id rooms aside, which are never). */
  readonly policed = (room: string): boolean => this.parts.policies.policyFor(room) !== undefined;

  /** `AuthSocketService.join()`: enters the room when the policy allows it (or it is unpoliced); resolves the verdict. */
  join(socket: Socket, room: string, via: RoomRefusedVia = 'join'): Promise<boolean> {
    return Promise.resolve(this.joinNow(socket, room, via));
  }

  /** The same, answered at once when the requirement answers at once. */
  private joinNow(socket: Socket, room: string, via: RoomRefusedVia): boolean | Promise<boolean> {
    const policy = this.parts.policies.policyFor(room);
    if (!policy || room === socket.id) {
      const joined = socket.join(room);
      return joined ? joined.then(() => true) : true;
    }
    const verdict = this.decide(socket, room, policy, (ok): boolean | Promise<boolean> => {
      if (!ok) {
        this.refuse(socket, room, via, false);
        return false;
      }
      // Decided for the principal current now: entered in this same tick, past the screen.
      const entered = gateOf(socket.nsp)?.admit(socket, new Set([room]));
      return entered ? entered.then(() => socket.rooms.has(room)) : socket.rooms.has(room);
    });
    return verdict as boolean | Promise<boolean>; // a promise of a promise is a promise
  }

  /** Recovery's re-joins, each through its policy; a refused one is told with `room_left`. */
  recover(socket: Socket, rooms: readonly string[]): void {
    void this.screenAndEnter(socket, new Set(rooms), true);
  }

  private screenAndEnter(socket: Socket, rooms: Set<string>, tell: boolean): Promise<void> | void {
    const verdict = this.screen(socket.nsp, socket.id, rooms, tell);
    const gate = gateOf(socket.nsp);
    if (!verdict) return gate?.admit(socket, rooms);
    void gate?.admit(socket, verdict.now);
    return verdict.later;
  }

  /**
   * Asks whether the socket's current principal may be in the room, then
   * runs `act` with the verdict: at once when the requirement answers at
   * once, else in the very callback that checked the principal is still the
   * one asked about. When it changed while the predicate ran, the new one is
   * asked: a verdict is only ever acted on for the principal current then.
   */
  private decide<T>(
    socket: Socket,
    room: string,
    policy: RoomPolicy,
    act: (ok: boolean) => T,
    asked = 0,
  ): T | Promise<T> {
    const principal = this.parts.principalOf(socket);
    const verdict = this.parts.policies.allows(policy, principal, room, socket);
    if (typeof verdict === 'boolean') return act(verdict);
    return verdict.then((ok) => {
      const now = this.parts.principalOf(socket);
      if (now === principal) return act(ok && socket.connected);
      // The same user with fresher data is asked again; someone else (the socket signed in as another user
      // meanwhile) never inherits a join made for the previous one.
      const same = now !== undefined && principal !== undefined && now.id === principal.id;
      return same && asked < MAX_REASKS ? this.decide(socket, room, policy, act, asked + 1) : act(false);
    });
  }

  private refuse(socket: Socket | undefined, room: string, via: RoomRefusedVia, tell: boolean): void {
    if (!socket) return;
    this.parts.refused(socket, room, via);
    if (tell) this.tellLeft(socket, room);
  }

  private tellLeft(socket: Socket, room: string): void {
    const payload: RoomLeftPayload = { room, code: 'forbidden', message: 'No longer allowed in this room' };
    socket.emit(this.parts.events.roomLeft, payload);
  }

  // ── principal changes ─────────────────────────────────────────────────────

  /**
   * Asks the policies about `next` for every policed room the sockets are
   * in, while the current principal still applies. Undefined when none is
   * policed: the change needs nothing from here.
   */
  prepare(sockets: readonly Socket[], next: AuthPrincipal): RoomPlan | Promise<RoomPlan> | undefined {
    if (!this.parts.policies.any) return undefined;
    let plan: RoomPlan | undefined;
    let waits: Array<Promise<void>> | undefined;
    for (const socket of sockets) {
      for (const room of socket.rooms) {
        if (room === socket.id) continue;
        const policy = this.parts.policies.policyFor(room);
        if (!policy) continue;
        const verdicts = (plan ??= new Map()).get(socket) ?? new Map<string, boolean>();
        plan.set(socket, verdicts);
        const verdict = this.parts.policies.allows(policy, next, room, socket);
        if (typeof verdict === 'boolean') verdicts.set(room, verdict);
        else (waits ??= []).push(verdict.then((ok) => void verdicts.set(room, ok)));
      }
    }
    if (!plan) return undefined;
    if (!waits) return plan;
    const ready = plan;
    return Promise.all(waits).then(() => ready);
  }

  /**
   * Right after the principal changed (same tick): out of every policed
   * room the plan refused, told with `room_left`. A policed room joined while
   * the plan was made is decided now; one that needs an async predicate is
   * left at once and entered again only if the new principal may.
   */
  apply(sockets: readonly Socket[], plan: RoomPlan | undefined): void {
    if (!this.parts.policies.any) return;
    for (const socket of sockets) {
      const verdicts = plan?.get(socket);
      for (const room of [...socket.rooms]) {
        if (room === socket.id) continue;
        const policy = this.parts.policies.policyFor(room);
        if (!policy) continue;
        const planned = verdicts?.get(room);
        if (planned === true) continue;
        if (planned === false) {
          void socket.leave(room);
          this.refuse(socket, room, 'recheck', true);
          continue;
        }
        // Joined while the plan was made: decided now, or out until an async predicate lets it back in.
        let sync = true;
        const verdict = this.decide(socket, room, policy, (ok) => {
          if (!ok) {
            void socket.leave(room);
            return this.refuse(socket, room, 'recheck', true);
          }
          if (!sync) return gateOf(socket.nsp)?.admit(socket, new Set([room]));
        });
        if (verdict instanceof Promise) void socket.leave(room);
        sync = false;
      }
    }
  }

  // ── the client protocol ───────────────────────────────────────────────────

  /** `clientRooms: true`: the socket may ask to join and leave policed rooms. One listener per event, shared. */
  listen(socket: Socket): void {
    socket.on(this.parts.events.join, this.joinListener);
    socket.on(this.parts.events.leave, this.leaveListener);
  }

  private readonly joinListener = ((guard: RoomGuard) =>
    function (this: Socket, ...args: unknown[]): void {
      void guard.onClientJoin(this, args);
    })(this);

  private readonly leaveListener = ((guard: RoomGuard) =>
    function (this: Socket, ...args: unknown[]): void {
      guard.onClientLeave(this, args);
    })(this);

  private async onClientJoin(socket: Socket, args: unknown[]): Promise<void> {
    const { payload, ack } = splitAck(args);
    if (this.parts.isSilenced(socket)) return;
    const room = roomOf(payload);
    if (room === undefined) return answer(ack, 'bad_request');
    if (!this.clientMay(socket, room)) {
      this.parts.refused(socket, room, 'client');
      return answer(ack, 'forbidden');
    }
    // Waiting for an authentication in flight is not waiting on a predicate: not counted below.
    let ready = this.parts.whenAuthenticated(socket);
    if (typeof ready !== 'boolean') ready = await ready;
    if (!ready || !socket.connected) return answer(ack, 'unauthenticated');
    if (!socket.rooms.has(room) && this.policedRooms(socket) >= this.parts.maxClientRooms)
      return answer(ack, 'rate_limited', `At most ${this.parts.maxClientRooms} rooms per connection`);
    const inFlight = this.inFlight.get(socket) ?? 0;
    if (inFlight >= MAX_JOINS_IN_FLIGHT) return answer(ack, 'rate_limited', 'Too many joins waiting for an answer');
    const verdict = this.joinNow(socket, room, 'client');
    if (typeof verdict === 'boolean') return verdict ? ack?.({ ok: true, room }) : answer(ack, 'forbidden');
    this.inFlight.set(socket, inFlight + 1);
    try {
      if (await verdict) ack?.({ ok: true, room });
      else answer(ack, 'forbidden');
    } finally {
      const left = (this.inFlight.get(socket) ?? 1) - 1;
      if (left > 0) this.inFlight.set(socket, left);
      else this.inFlight.delete(socket);
    }
  }

  /** How many policed rooms the socket is in. */
  private policedRooms(socket: Socket): number {
    let n = 0;
    for (const room of socket.rooms) if (room !== socket.id && this.parts.policies.policyFor(room)) n++;
    return n;
  }

  private onClientLeave(socket: Socket, args: unknown[]): void {
    const { payload, ack } = splitAck(args);
    if (this.parts.isSilenced(socket)) return;
    const room = roomOf(payload);
    if (room === undefined) return answer(ack, 'bad_request');
    // Only what the protocol could have joined: never the socket's own room or its principal's.
    if (!this.clientMay(socket, room)) return answer(ack, 'forbidden');
    void socket.leave(room);
    ack?.({ ok: true, room });
  }

  /**
   * Only policed rooms, and never a socket's id room, which a loose pattern
   * would match: the ids of sockets on other nodes are not known here, so any
   * room shaped like a socket.io id (20 URL-safe characters) is refused.
   */
  private clientMay(socket: Socket, room: string): boolean {
    return !SOCKET_ID_SHAPE.test(room) && !socket.nsp.sockets.has(room) && !!this.parts.policies.policyFor(room);
  }
}

/** `{ room: string }` with a room of 1 to 200 characters, or undefined. */
function roomOf(payload: unknown): string | undefined {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return undefined;
  const { room } = payload as { room?: unknown };
  return typeof room === 'string' && room.length > 0 && room.length <= MAX_ROOM_LENGTH ? room : undefined;
}

function answer(ack: ((response: unknown) => void) | undefined, code: AuthErrorCode, message?: string): void {
  ack?.(refusal(errorPayload(code, message)));
}
