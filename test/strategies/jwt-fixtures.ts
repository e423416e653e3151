import { MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { JwtModuleOptions } from '@nestjs/jwt';
import type { Server } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import { authenticate, connect, connected, once } from '../support/harness.js';

export const SECRET = 'jwt-socket-strategy-test-secret-0123456789';
export const ISSUER = 'https://auth.chat.test';
export const AUDIENCE = 'chat';

/** What a typical app registers for its HTTP side: the sockets must obey the same rules. */
export const jwtOptions: JwtModuleOptions = {
  global: true,
  secret: SECRET,
  signOptions: { issuer: ISSUER, audience: AUDIENCE, expiresIn: '5m' },
  verifyOptions: { issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'] },
};

@WebSocketGateway()
export class NewsGateway {
  @WebSocketServer() server!: Server;

  @SubscribeMessage('shout')
  shout(@MessageBody() text: string): void {
    this.server.emit('news', text);
  }
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsigned token (`alg: none`), as an attacker would write it by hand. */
export function unsignedToken(claims: Record<string, unknown>): string {
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
}

/** The same token with its payload replaced and its original signature kept. */
export function withPayload(token: string, claims: Record<string, unknown>): string {
  const [header, , signature] = token.split('.');
  return `${header}.${b64url(claims)}.${signature}`;
}

export function claimsOf(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

export interface Refusal {
  ack: any;
  unauthorized: any;
  disconnected: boolean;
}

/** Sends the credentials and waits for the whole refusal: the ack, `unauthorized`, and the server's disconnect. */
export async function refusalOf(url: string, credentials: unknown): Promise<Refusal> {
  const c = connect(url);
  await connected(c);
  const unauthorized = once(c, 'unauthorized');
  const disconnect = once(c, 'disconnect');
  const ack = await authenticate(c, credentials);
  return { ack, unauthorized: await unauthorized, disconnected: (await disconnect) === 'io server disconnect' };
}

/** Authenticates, then proves the socket is live: it receives a namespace-wide broadcast. */
export async function acceptedAndLive(url: string, credentials: unknown): Promise<{ socket: ClientSocket; ack: any }> {
  const socket = connect(url);
  const ack = await authenticate(socket, credentials);
  if (!ack?.ok) return { socket, ack };
  const news = once(socket, 'news');
  socket.emit('shout', `for ${socket.id}`);
  expect(await news).toBe(`for ${socket.id}`);
  return { socket, ack };
}
