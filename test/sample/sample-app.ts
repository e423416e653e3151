/**
 * The sample app in-process for the specs beside this file: real HTTP and
 * socket.io on loopback. Env settings are read when the sample's modules are
 * first imported, so a spec sets them before calling `startSample`.
 */
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import type { Socket as ClientSocket } from 'socket.io-client';
import { connect, once } from '../support/harness.js';

export interface Sample {
  app: INestApplication;
  url: string;
  close(): Promise<void>;
}

export async function startSample(): Promise<Sample> {
  const { AppModule } = await import('../../sample/app.module.js');
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return {
    app,
    url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`,
    close: () => app.close(),
  };
}

export async function login(url: string, user: string): Promise<string> {
  const res = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user, password: `${user}-secret` }),
  });
  if (res.status !== 200) throw new Error(`login as ${user}: ${res.status}`);
  return (await res.json()).token;
}

export function logout(url: string, token: string): Promise<Response> {
  return fetch(`${url}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
}

/** A new socket on `/` that sends `{ token }`; resolves with the server's ack ({ ok, user } or { ok:false, error }). */
export async function attempt(url: string, token: string): Promise<{ socket: ClientSocket; reply: any }> {
  const socket = connect(url);
  await once(socket, 'connect');
  const reply = await socket.timeout(3000).emitWithAck('authentication', { token });
  return { socket, reply };
}

/** A socket on `/` authenticated with a fresh login as `user`. */
export async function joinAs(url: string, user: string): Promise<ClientSocket> {
  const { socket, reply } = await attempt(url, await login(url, user));
  if (!reply.ok) throw new Error(`${user} was refused: ${reply.error.code}`);
  return socket;
}
