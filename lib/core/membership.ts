/**
 * What a socket's authentication state means for the places it is counted:
 * the broadcast gate (is it in the adapter's rooms?), the connection guard
 * (does its connection hold a useful socket?), admission's pending counts,
 * and `socket.data.auth`. The authenticator decides when; this file keeps
 * the four in step, so no path can update one and forget another. It also
 * reports when a socket has left.
 */
import type { Namespace, Socket } from 'socket.io';
import type { Admission } from './admission.js';
import { gateOf, namespaceRemoved, type NamespaceGate } from './broadcast-gate.js';
import type { ConnectionGuard, EngineConnection } from './connection-guard.js';
import { principalRoom } from './protocol.js';
import { PENDING_AUTH, type Session, type SocketAuthData } from './session.js';

export class Membership {
  private readonly publicNamespaces = new WeakSet<Namespace>();
  /** Gated namespaces, dynamic children included until socket.io removes them. */
  private readonly gated = new Set<Namespace>();
  /** Public namespaces, whose gates only screen recovery. */
  private readonly publicGated = new Set<Namespace>();

  /** Re-joins recovered rooms. Room policies replace it (room-guard.ts), to tell the client what it lost. */
  recoverRooms: (socket: Socket, rooms: string[]) => void = (socket, rooms) => void socket.join(rooms);

  constructor(
    private readonly guard: ConnectionGuard,
    private readonly admission: Admission,
    /** A socket that arrived has left; called after socket.io's own 'disconnect' listeners (the app's handleDisconnect). */
    private readonly onLeft: (socket: Socket) => void,
  ) {}

  register(nsp: Namespace, isPublic: boolean, installGate: (nsp: Namespace, holds: boolean) => NamespaceGate): void {
    const gate = installGate(nsp, !isPublic);
    // A socket socket.io forgets (disconnected, or refused by a later middleware) is no longer counted.
    gate.onRemove = (id, left) => {
      if (isPublic) this.admission.leavePublic(id);
      else this.admission.leavePending(id);
      if (left) this.leaving(left);
    };
    // On a public namespace nothing is held, but recovery is screened (broadcast-gate.ts).
    if (isPublic) this.publicNamespaces.add(nsp);
    (isPublic ? this.publicGated : this.gated).add(nsp);
  }

  isPublic(socket: Socket): boolean {
    return this.publicNamespaces.has(socket.nsp);
  }

  /** A socket on a public namespace keeps its connection alive from the start. The gate reports when it leaves. */
  arrived(socket: Socket): void {
    const isPublic = this.isPublic(socket);
    this.admission.arrived(socket, !isPublic); // pending until released
    if (isPublic) this.guard.useful(conn(socket));
  }

  /** Once the app's 'disconnect' listeners ran too: they may still read the socket's session. */
  private leaving(socket: Socket): void {
    queueMicrotask(() => this.onLeft(socket));
  }

  /** The sockets an engine.io connection holds. */
  socketsOf(connection: EngineConnection): Socket[] {
    return this.admission.socketsOf(connection);
  }

  /** Whether the connection holds a socket worth keeping it open for: an authenticated one, or a public one. */
  hasUseful(connection: EngineConnection): boolean {
    return this.socketsOf(connection).some((s) => this.isPublic(s) || gateOf(s.nsp)?.isReleased(s));
  }

  /** From now on broadcasts reach the socket, in the rooms joined for this principal. */
  release(socket: Socket, session: Session, data: SocketAuthData): void {
    void socket.join(principalRoom(session.principal!.id)); // held until the release below
    this.admission.leavePending(socket.id);
    socket.data.auth = data;
    const gate = gateOf(socket.nsp)!;
    if (!this.isPublic(socket) && gate.release(socket)) this.guard.useful(conn(socket));
    // Recovered rooms, data and missed packets go only to the principal they belonged to,
    // on public namespaces too (there, recovery held back only what was the principal's).
    const recovery = gate.takeRecovery(socket);
    if (!recovery || recovery.principalId !== session.principal!.id) return;
    this.recoverRooms(socket, recovery.rooms);
    socket.data = { ...recovery.data, auth: data };
    // Never packets sent to policed rooms: the gate kept those rooms out of what the adapter replays.
    gate.replay(socket, recovery.missedPackets);
  }

  /**
   * Out of the broadcast membership (first, before anything is said), out of the
   * principal's room, and back to pending: counted again when `stillPending`.
   */
  unrelease(socket: Socket, owner: string | undefined, stillPending: boolean): void {
    socket.data.auth = PENDING_AUTH;
    if (this.isPublic(socket)) {
      // Nothing holds a public socket's rooms, so rooms joined for the principal go now.
      if (owner !== undefined) for (const room of [...socket.rooms]) if (room !== socket.id) void socket.leave(room);
      return;
    }
    if (gateOf(socket.nsp)!.hold(socket)) this.guard.maybeIdle(conn(socket));
    if (owner !== undefined) void socket.leave(principalRoom(owner));
    if (stillPending) this.admission.enterPending(socket);
    else this.admission.leavePending(socket.id);
  }

  /** A new principal: the socket keeps only its own id room. */
  resetRooms(socket: Socket): void {
    if (this.isPublic(socket)) {
      for (const room of [...socket.rooms]) if (room !== socket.id) void socket.leave(room);
      return;
    }
    gateOf(socket.nsp)!.resetRooms(socket);
  }

  /** Told `unauthorized` and about to go: nothing reaches it any more. */
  silence(socket: Socket): void {
    if (!this.isPublic(socket)) gateOf(socket.nsp)!.silence(socket);
  }

  /** Whether the socket was silenced: it is about to go, and what it sends is ignored. */
  isSilenced(socket: Socket): boolean {
    return !this.isPublic(socket) && !!gateOf(socket.nsp)?.isSilenced(socket);
  }

  /** The socket disconnected: socket.io has already taken it out of the adapter. */
  departed(socket: Socket): void {
    this.admission.leavePending(socket.id);
    this.guard.maybeIdle(conn(socket));
    if (namespaceRemoved(socket.nsp)) {
      // cleanupEmptyChildNamespaces
      this.gated.delete(socket.nsp);
      this.publicGated.delete(socket.nsp);
    }
  }

  /** After a refused CONNECT: a connection with no socket left is closed once the refusal has gone out. */
  closeIfEmpty(socket: Socket): void {
    if (!this.admission.socketsOf(conn(socket)).length) this.guard.close(conn(socket));
  }

  clear(): void {
    this.gated.clear();
    this.publicGated.clear();
  }

  /** Live entries, for leak checks (silenced sockets count as held). */
  sizes(attached: ReadonlySet<Namespace>): {
    heldSockets: number;
    releasedSockets: number;
    recoveries: number;
    childNamespaces: number;
  } {
    const total = { heldSockets: 0, releasedSockets: 0, recoveries: 0, childNamespaces: 0 };
    for (const nsp of this.gated) {
      const sizes = gateOf(nsp)?.sizes();
      total.heldSockets += (sizes?.held ?? 0) + (sizes?.silenced ?? 0);
      total.releasedSockets += sizes?.released ?? 0;
      total.recoveries += sizes?.recoveries ?? 0;
      if (!attached.has(nsp)) total.childNamespaces++;
    }
    for (const nsp of this.publicGated) total.recoveries += gateOf(nsp)?.sizes().recoveries ?? 0;
    return total;
  }
}

function conn(socket: Socket): EngineConnection {
  return socket.client.conn as unknown as EngineConnection;
}
