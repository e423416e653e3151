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
  async fetch(): Promise<Array<{ id: string; data: unknown }> | { error: string }> {
    try {
      // Longer than socket.io's 5 s default: the workers share two busy cores with the rest of the suite.
      return (await this.server.timeout(15_000).fetchSockets()).map((s) => ({ id: s.id, data: s.data }));
    } catch (err) {
      return { error: (err as Error).message }; // seen by the test, rather than a silent missing ack
    }
  }

  @SubscribeMessage('test:tell')
  tell(@MessageBody() body: { principalId: string; event: string; payload: unknown }): true {
    this.server.to(principalRoom(body.principalId)).emit(body.event, body.payload);
    return true;
  }
}
