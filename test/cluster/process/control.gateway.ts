import { MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server } from 'socket.io';
import { AuthSocketService, principalRoom } from '../../../lib/index.js';

/**
 * Test-only remote control of a node that runs in another process: which node
 * a socket landed on, and the server-side actions the scenarios trigger.
 */
@WebSocketGateway()
export class ControlGateway {
  @WebSocketServer() server!: Server;

  constructor(private readonly auth: AuthSocketService) {}

  @SubscribeMessage('test:where')
  where(): string {
    return process.env.NODE_NAME ?? String(process.pid);
  }

  @SubscribeMessage('test:revoke')
  async revoke(@MessageBody() body: { principalId: string; reason?: string }): Promise<{ result: unknown }> {
    // Wrapped: Nest sends no ack for an undefined or null answer.
    return { result: await this.auth.revoke(body.principalId, body.reason) };
  }

  @SubscribeMessage('test:fetch')
  async fetch(): Promise<Array<{ id: string; data: unknown }>> {
    return (await this.server.fetchSockets()).map((s) => ({ id: s.id, data: s.data }));
  }

  @SubscribeMessage('test:tell')
  tell(@MessageBody() body: { principalId: string; event: string; payload: unknown }): true {
    this.server.to(principalRoom(body.principalId)).emit(body.event, body.payload);
    return true;
  }
}
