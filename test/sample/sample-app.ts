/**
 * The sample app in-process for the specs beside this file: real HTTP and
 * socket.io on loopback. Env settings are read when the sample's modules are
 * first imported, so a spec sets them before calling `startSample`.
 */
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import type { Socket as ClientSocket } from 'socket.io-client';
import { connect, once, sleep } from '../support/harness.js';

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

/** What a login gives a browser: the access token, and the refresh cookie as a `Cookie` header value. */
export interface Login {
  token: string;
  /** `sample_refresh=…`, ready to send back as the Cookie header. */
  cookie: string;
  /** The Set-Cookie header itself, attributes included. */
  setCookie: string;
}

export async function loginFull(url: string, user: string): Promise<Login> {
  const res = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user, password: `${user}-secret` }),
  });
  if (res.status !== 200) throw new Error(`login as ${user}: ${res.status}`);
  const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('sample_refresh='));
  if (!setCookie) throw new Error(`login as ${user}: no refresh cookie`);
  return { token: (await res.json()).token, cookie: setCookie.split(';')[0], setCookie };
}

export async function login(url: string, user: string): Promise<string> {
  return (await loginFull(url, user)).token;
}

/** POST /auth/refresh with the cookie (and any extra headers): the response, for its status and body. */
export function refresh(url: string, cookie: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/auth/refresh`, { method: 'POST', headers: { cookie, ...headers } });
}

/** POST /auth/logout with the bearer token, and the refresh cookie when given. */
export function logout(url: string, token: string, cookie?: string): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (cookie) headers.cookie = cookie;
  return fetch(`${url}/auth/logout`, { method: 'POST', headers });
}

/** POST /auth/logout-all with the bearer token. */
export function logoutAll(url: string, token: string): Promise<Response> {
  return fetch(`${url}/auth/logout-all`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
}

/** A token's claims, unverified: for reading `jti`, `iat`, `exp` in assertions. */
export function claims(token: string): { sub: string; jti: string; iat: number; exp: number; aud: string } {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

/**
 * Waits until the wall clock is in a later whole second than `since` (epoch ms,
 * default now). JWT `iat` has whole seconds, so a token minted in the same
 * second as a "log out everywhere" is refused too: a control login waits
 * for the next second. The one fixed wait the sample's specs allow.
 */
export async function nextSecond(since = Date.now()): Promise<void> {
  const target = (Math.floor(since / 1000) + 1) * 1000;
  while (Date.now() < target) await sleep(target - Date.now() + 5);
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
