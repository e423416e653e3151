/**
 * Commands every node runs on its own sessions (revoke, revalidate), on
 * socket.io's own server-side messaging: the calling node runs it here, asks
 * the others, and adds up their answers. No home-made protocol.
 */
import type { Server } from 'socket.io';

/** What a command did, cluster-wide. */
export interface ClusterAnswer {
  /** The sum of every node's answer that came. */
  total: number;
  /** false when a node did not answer within the adapter's request timeout. */
  complete: boolean;
}

/** A node's part: run with the command's arguments, answer a count (or, for `gather`, any JSON value). */
export type CommandHandler = (...args: unknown[]) => unknown;

const PREFIX = 'nestjs-socket-auth:';

export class ClusterCommands {
  private readonly servers = new Set<Server>();
  private readonly listeners = new Map<string, (...args: unknown[]) => void>();

  constructor(private readonly handlers: Record<string, CommandHandler>) {
    for (const [name, handler] of Object.entries(handlers)) {
      // The last argument socket.io passes is the ack; a node's failure answers 0 rather than never.
      this.listeners.set(name, (...args: unknown[]) => {
        const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (n: unknown) => void) : undefined;
        Promise.resolve()
          .then(() => handler(...args))
          .then(
            (n) => ack?.(n),
            () => ack?.(null),
          );
      });
    }
  }

  /** Answers other nodes' commands on this server. Once per server. */
  listen(server: Server): void {
    if (this.servers.has(server)) return;
    this.servers.add(server);
    for (const [name, listener] of this.listeners) server.of('/').on(PREFIX + name, listener);
  }

  /** Runs `name` on every node and adds up the counts they answer. */
  async run(name: string, ...args: unknown[]): Promise<ClusterAnswer> {
    const { answers, complete } = await this.gather(name, ...args);
    let total = 0;
    for (const n of answers) total += typeof n === 'number' ? n : 0;
    return { total, complete };
  }

  /**
   * Runs `name` here, then asks every other node and waits for their answers,
   * up to the adapter's request timeout: this node's answer first. A single
   * node (the in-memory adapter) has no one to ask.
   */
  async gather(name: string, ...args: unknown[]): Promise<{ answers: unknown[]; complete: boolean }> {
    const answers: unknown[] = [await this.handlers[name]!(...args)];
    let complete = true;
    for (const server of this.servers) {
      const root = server.of('/');
      if ((await root.adapter.serverCount()) <= 1) continue;
      // The callback form, not serverSideEmitWithAck: on a timeout it still hands over the answers that came.
      const { came, timedOut } = await new Promise<{ came: unknown[]; timedOut: boolean }>((resolve) =>
        root.serverSideEmit(PREFIX + name, ...args, (err: Error | null, came: unknown[]) =>
          resolve({ came: came ?? [], timedOut: !!err }),
        ),
      );
      answers.push(...came);
      if (timedOut) complete = false;
    }
    return { answers, complete };
  }

  close(): void {
    for (const server of this.servers)
      for (const [name, listener] of this.listeners) server.of('/').off(PREFIX + name, listener);
    this.servers.clear();
  }
}
