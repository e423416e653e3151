import { Logger, type OnModuleDestroy } from '@nestjs/common';
import {
  MessageBody,
  type OnGatewayDisconnect,
  type OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  WsException,
} from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { Authenticated, AuthUser, type AuthPrincipal, type OnGatewayAuthenticated } from '../lib/index.js';
import { envNumber } from './env.js';
import { onlineUsers } from './online.js';

const MAX_TEXT = 2000;
const HISTORY = 50;
/** Server-side events between nodes (never from clients), so every node keeps the same history. */
const HISTORY_APPEND = 'sample:history-append';
const HISTORY_CLEAR = 'sample:history-clear';
/** A steady stream of presence changes still sends one update at least this often. */
const PRESENCE_MAX_WAIT_MS = 1000;

export interface ChatMessage {
  user: string;
  text: string;
}

@WebSocketGateway()
export class ChatGateway implements OnGatewayInit, OnGatewayAuthenticated, OnGatewayDisconnect, OnModuleDestroy {
  private readonly logger = new Logger(ChatGateway.name);
  @WebSocketServer() server!: Server;
  /** The last messages, sent to each socket as it authenticates; kept in step across nodes. */
  private history: ChatMessage[] = [];
  /** Sockets counted in presence: only these change it when they leave. */
  private readonly present = new Set<string>();
  private presenceTimer?: NodeJS.Timeout;
  private presenceDue?: number;
  /** Presence changes closer together than this go out as one update. */
  private readonly presenceDelay = envNumber('PRESENCE_DELAY_MS', 150);
  /** Sockets disconnecting because the app shuts down need no presence update. */
  private closing = false;

  /** Other nodes' messages and clears. */
  afterInit(server: Server): void {
    server.on(HISTORY_APPEND, (message: ChatMessage) => this.remember(message));
    server.on(HISTORY_CLEAR, () => (this.history = []));
  }

  handleAuthenticated(client: Socket, principal: AuthPrincipal): void {
    this.logger.log(`${principal.id} joined`);
    this.present.add(client.id);
    // Before the client is told `authenticated`: the page has its history when it starts talking.
    client.emit('chat:history', this.history);
    this.presenceChanged();
  }

  /**
   * Unauthenticated sockets come and go without a word: anyone can open them,
   * so they must not make the server message every user (nor, in a cluster,
   * ask every node for its sockets).
   */
  handleDisconnect(client: Socket): void {
    // Tracked here, not read from client.data.auth: a revoked socket is reset to pending before it is disconnected.
    if (this.present.delete(client.id)) this.presenceChanged();
  }

  onModuleDestroy(): void {
    this.closing = true;
    clearTimeout(this.presenceTimer);
  }

  @Authenticated()
  @SubscribeMessage('chat:send')
  send(@AuthUser() user: AuthPrincipal, @MessageBody() body: { text?: unknown }): { ok: true } {
    const text = typeof body?.text === 'string' ? body.text.trim().slice(0, MAX_TEXT) : '';
    if (!text) throw new WsException('Empty message');
    const message: ChatMessage = { user: String(user.name ?? user.id), text };
    this.remember(message);
    void this.tellOtherNodes(HISTORY_APPEND, message);
    this.server.emit('chat:message', message);
    return { ok: true };
  }

  /** Admins only: anyone else is refused with `forbidden` and stays connected. */
  @Authenticated({ roles: ['admin'] })
  @SubscribeMessage('chat:clear')
  clear(@AuthUser() user: AuthPrincipal): { ok: true } {
    this.history = [];
    void this.tellOtherNodes(HISTORY_CLEAR);
    this.logger.log(`${user.id} cleared the chat`);
    this.server.emit('chat:cleared', { by: String(user.name ?? user.id) });
    return { ok: true };
  }

  /** Only when there are other nodes: socket.io's in-memory adapter warns on every serverSideEmit(). */
  private async tellOtherNodes(event: string, ...args: unknown[]): Promise<void> {
    try {
      if ((await this.server.sockets.adapter.serverCount()) > 1) this.server.serverSideEmit(event, ...args);
    } catch (err) {
      this.logger.warn(`history not shared with other nodes: ${(err as Error).message}`);
    }
  }

  private remember(message: ChatMessage): void {
    this.history.push(message);
    if (this.history.length > HISTORY) this.history.shift();
  }

  /** Trailing debounce with a ceiling: a burst of joins and leaves sends one update. */
  private presenceChanged(): void {
    if (this.closing) return;
    const now = Date.now();
    this.presenceDue ??= now + PRESENCE_MAX_WAIT_MS;
    clearTimeout(this.presenceTimer);
    this.presenceTimer = setTimeout(
      () => {
        this.presenceTimer = undefined;
        this.presenceDue = undefined;
        void this.broadcastPresence();
      },
      Math.min(this.presenceDelay, this.presenceDue - now),
    );
  }

  private async broadcastPresence(): Promise<void> {
    try {
      this.server.emit('presence', { users: await onlineUsers(this.server.sockets) });
    } catch (err) {
      this.logger.warn(`presence unavailable: ${(err as Error).message}`);
    }
  }
}
