import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { type OnGatewayConnection, type OnGatewayInit, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { PublicNamespace } from '../lib/index.js';
import { envNumber } from './env.js';
import { onlineUsers } from './online.js';

export interface Status {
  /** Users with an authenticated chat socket, on every node. */
  online: number;
}

/**
 * A public feed: anyone receives `status { online }` every STATUS_INTERVAL_MS
 * (5 s), logged in or not, so the login screen can show it. Sockets here are
 * never timed out; the chat namespace (`/`) stays gated.
 */
@PublicNamespace()
@WebSocketGateway({ namespace: '/status' })
export class StatusGateway implements OnGatewayInit, OnGatewayConnection, OnModuleDestroy {
  private readonly logger = new Logger(StatusGateway.name);
  @WebSocketServer() server!: Namespace;
  private timer?: NodeJS.Timeout;
  private last?: Status;
  private counting = false;

  afterInit(): void {
    this.timer = setInterval(() => void this.tick(), envNumber('STATUS_INTERVAL_MS', 5000, 1));
    void this.tick();
  }

  /** The last count, at once. Connecting costs no count of its own: anyone may connect here, as often as they like. */
  handleConnection(client: Socket): void {
    if (this.last) client.emit('status', this.last);
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.counting || !this.timer) return; // a slow cluster answer must not pile requests up
    this.counting = true;
    try {
      this.last = { online: (await onlineUsers(this.server.server.of('/'))).length };
      // Every node counts the whole cluster and tells its own clients: one update each, not one per node.
      this.server.local.emit('status', this.last);
    } catch (err) {
      this.logger.warn(`status unavailable: ${(err as Error).message}`);
    } finally {
      this.counting = false;
    }
  }
}
