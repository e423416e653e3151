/**
 * `revoke()` across nodes, on socket.io's own server-side messaging: each node
 * ends its own sessions of the principal (through the authenticator's single
 * teardown) and answers how many sockets it had. No home-made protocol.
 */
import type { Server } from 'socket.io';

/** What `revoke()` did, cluster-wide. */
export interface RevokeResult {
  /** Sockets that lost the principal's session, on every node that answered. */
  disconnected: number;
  /** false when a node did not answer in time: it may still hold sockets of the principal. */
  complete: boolean;
}

/** Server-side event each node answers with the number of sockets it revoked. */
const REVOKE_EVENT = 'nestjs-socket-auth:revoke';

export class ClusterRevocation {
  private readonly servers = new Set<Server>();

  constructor(private readonly revokeHere: (principalId: string, reason?: string) => number) {}

  /** Answers other nodes' revocations on this server. Once per server. */
  listen(server: Server): void {
    if (this.servers.has(server)) return;
    this.servers.add(server);
    server.of('/').on(REVOKE_EVENT, this.onRemoteRevoke);
  }

  /**
   * Revokes here, then asks every other node and waits for their answers, up to
   * the adapter's request timeout. A single node (the in-memory adapter) has no
   * one to ask.
   */
  async revoke(principalId: string, reason?: string): Promise<RevokeResult> {
    let disconnected = this.revokeHere(principalId, reason);
    let complete = true;
    for (const server of this.servers) {
      const root = server.of('/');
      if ((await root.adapter.serverCount()) <= 1) continue;
      // The callback form, not serverSideEmitWithAck: on a timeout it still hands over the answers that came.
      const { answers, timedOut } = await new Promise<{ answers: unknown[]; timedOut: boolean }>((resolve) =>
        root.serverSideEmit(REVOKE_EVENT, principalId, reason ?? null, (err: Error | null, answers: unknown[]) =>
          resolve({ answers: answers ?? [], timedOut: !!err }),
        ),
      );
      for (const n of answers) disconnected += typeof n === 'number' ? n : 0;
      if (timedOut) complete = false; // a node did not answer within the adapter's request timeout
    }
    return { disconnected, complete };
  }

  private readonly onRemoteRevoke = (principalId: unknown, reason: unknown, ack?: (n: number) => void): void => {
    if (typeof principalId !== 'string') return ack?.(0);
    ack?.(this.revokeHere(principalId, typeof reason === 'string' ? reason : undefined));
  };

  close(): void {
    for (const server of this.servers) server.of('/').off(REVOKE_EVENT, this.onRemoteRevoke);
    this.servers.clear();
  }
}
