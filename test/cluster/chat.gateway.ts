import { MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server } from 'socket.io';
import { Authenticated } from '../../lib/index.js';

/** The cluster suites' gateway: an authenticated shout broadcast to every node. */
@WebSocketGateway()
export class ChatGateway {
  @WebSocketServer() server!: Server;

  @Authenticated()
  @SubscribeMessage('shout')
  shout(@MessageBody() text: string): string {
    this.server.emit('news', text);
    return 'sent';
  }
}
