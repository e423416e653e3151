// src/chat.gateway.ts
import { MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import { Authenticated, AuthUser } from 'nestjs-socket-auth';
import type { Server } from 'socket.io';

@WebSocketGateway()
export class ChatGateway {
  @WebSocketServer() server!: Server;

  /** Runs only for authenticated sockets; others get `{ ok: false, error: { code: 'unauthenticated' } }`. */
  @Authenticated()
  @SubscribeMessage('whoami')
  whoami(@AuthUser('id') id: string): string {
    return id;
  }

  /** A plain broadcast: sockets that have not authenticated do not receive it. */
  @Authenticated()
  @SubscribeMessage('say')
  say(@AuthUser('id') from: string, @MessageBody() text: string): void {
    this.server.emit('said', { from, text });
  }

  /** Authorization on top: only principals with the role; others get `forbidden`. */
  @Authenticated({ roles: ['admin'] })
  @SubscribeMessage('announce')
  announce(@MessageBody() text: string): void {
    this.server.emit('announcement', text);
  }
}
