/**
 * One benchmark server, forked by run.ts with --expose-gc, one variant each:
 *   bare            plain socket.io, no Nest (the floor)
 *   nest            the same gateway in Nest, no module
 *   middleware      Nest with an io.use() handshake-token check (@thream/socketio-jwt style)
 *   ours            Nest with AuthSocketModule: post-connect `authentication`
 *   ours-handshake  AuthSocketModule with `handshake: true`
 * Every variant checks tokens the same cheap way, so only the gate differs.
 * Controlled over IPC: broadcast, heap, count.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessageBody, type OnGatewayInit, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { Authenticated, AuthSocketModule, type AuthPrincipal, type AuthStrategy } from '../lib/index.js';

const [variant, rawOptions] = process.argv.slice(2);
const options: { timeout?: number } = JSON.parse(rawOptions ?? '{}');

/** The shared token check: `tok-<n>` is user `<n>`. */
function check(token: unknown): AuthPrincipal | null {
  return typeof token === 'string' && token.startsWith('tok-') ? { id: token.slice(4) } : null;
}

let io: Server;
const PAYLOAD = { text: 'x'.repeat(64) };

@Injectable()
class BenchStrategy implements AuthStrategy {
  async authenticate(credentials: unknown): Promise<AuthPrincipal | null> {
    return check((credentials as { token?: unknown }).token);
  }
}

@WebSocketGateway()
class OpenGateway implements OnGatewayInit {
  @WebSocketServer() server!: Server;
  afterInit(server: Server): void {
    io = server;
    if (variant === 'middleware') {
      server.use((socket, next) => (check(socket.handshake.auth?.token) ? next() : next(new Error('unauthorized'))));
    }
  }
  @SubscribeMessage('echo')
  echo(@MessageBody() body: unknown): unknown {
    return body;
  }
}

@WebSocketGateway()
class GuardedGateway implements OnGatewayInit {
  @WebSocketServer() server!: Server;
  afterInit(server: Server): void {
    io = server;
  }
  @Authenticated()
  @SubscribeMessage('echo')
  echo(@MessageBody() body: unknown): unknown {
    return body;
  }
}

async function start(): Promise<number> {
  if (variant === 'bare') {
    const http = createServer();
    io = new Server(http);
    io.on('connection', (socket) => socket.on('echo', (body, ack) => ack?.(body)));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    return (http.address() as AddressInfo).port;
  }
  const ours = variant.startsWith('ours');
  @Module({
    imports: ours
      ? [
          AuthSocketModule.forRoot({
            strategy: BenchStrategy,
            handshake: variant === 'ours-handshake',
            timeout: options.timeout ?? 60_000,
            maxPending: 0,
            maxPendingPerAddress: 0,
            maxFailuresPerAddress: 0,
          }),
        ]
      : [],
    providers: [ours && variant !== 'ours-unmarked' ? GuardedGateway : OpenGateway],
  })
  class BenchModule {}
  const app = await NestFactory.create(BenchModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  return (app.getHttpServer().address() as AddressInfo).port;
}

function heap(): number {
  for (let i = 0; i < 4; i++) (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

process.on('message', (msg: { cmd: string; k?: number; id: number }) => {
  const reply = (value: unknown): void => void process.send!({ id: msg.id, value });
  if (msg.cmd === 'broadcast') {
    for (let i = 0; i < msg.k!; i++) io.emit('b', PAYLOAD);
    reply(true);
  } else if (msg.cmd === 'heap') reply(heap());
  else if (msg.cmd === 'count') reply(io.of('/').sockets.size);
  else if (msg.cmd === 'cpu') {
    const { user, system } = process.cpuUsage();
    reply(user + system);
  }
});

// Exit cleanly on SIGINT so --cpu-prof can write its profile.
process.on('SIGINT', () => process.exit(0));
start().then((port) => process.send!({ ready: port }));
