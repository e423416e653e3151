import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { MessageBody, type OnGatewayDisconnect, SubscribeMessage, WebSocketGateway, WebSocketServer, WsException } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { Authenticated, AuthUser, type AuthPrincipal, type OnGatewayAuthenticated, type SocketAuthData } from '../lib/index.js';

const MAX_TEXT = 2000;

@WebSocketGateway()
export class ChatGateway implements OnGatewayAuthenticated, OnGatewayDisconnect, OnModuleDestroy {
  private readonly logger = new Logger(ChatGateway.name);
  /** Sockets disconnecting because the app shuts down need no presence update. */
  private closing = false;
  @WebSocketServer() server!: Server;

  async handleAuthenticated(_client: Socket, principal: AuthPrincipal): Promise<void> {
    this.logger.log(`${principal.id} joined`);
    await this.broadcastPresence();
  }

  async handleDisconnect(): Promise<void> {
    if (!this.closing) await this.broadcastPresence();
  }

  onModuleDestroy(): void {
    this.closing = true;
  }

  @Authenticated()
  @SubscribeMessage('chat:send')
  send(@AuthUser() user: AuthPrincipal, @MessageBody() body: { text?: unknown }): { ok: true } {
    const text = typeof body?.text === 'string' ? body.text.trim().slice(0, MAX_TEXT) : '';
    if (!text) throw new WsException('Empty message');
    this.server.emit('chat:message', { user: user.name ?? user.id, text });
    return { ok: true };
  }

  /** Who is online, across every node: fetchSockets() lists authenticated sockets only. */
  private async broadcastPresence(): Promise<void> {
    try {
      const sockets = await this.server.fetchSockets();
      const names = new Set<string>();
      for (const s of sockets) {
        const auth = s.data?.auth as SocketAuthData | undefined;
        if (auth?.state === 'authenticated') names.add(String((auth.user as { name?: string } | undefined)?.name ?? auth.principalId));
      }
      this.server.emit('presence', { users: [...names].sort() });
    } catch (err) {
      this.logger.warn(`presence unavailable: ${(err as Error).message}`);
    }
  }

}
