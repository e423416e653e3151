/**
 * jwks_auth: what one authentication costs with JwksSocketStrategy
 * (`nestjs-socket-auth/jwks`: RS256 on `jose`, the key set fetched once from a
 * local key server and cached) against JwtSocketStrategy
 * (`nestjs-socket-auth/jwt`: HS256 on `@nestjs/jwt`), in the same run, on
 * tokens with the same claims. In process, with tinybench, as micro.ts does:
 *   strategy call   `authenticate({ token })` alone, which is all that differs
 *                   between the two;
 *   round trip      a re-authentication through the module, end to end: an
 *                   authenticated socket.io client sends `authentication`
 *                   with its token to a real Nest app and waits for the ack
 *                   (client, loopback and server all in this process).
 * Each round measures both sides, one after the other, the order alternating;
 * the ratio is JwksSocketStrategy / JwtSocketStrategy of the per-round medians,
 * with an interval over the rounds (stats.ts: Student's t below 8 rounds,
 * else a bootstrap). No goal: an RSA signature check costs more than an HMAC,
 * and this measures by how much. Nor is the HMAC side as cheap as an HMAC: with
 * a string (or Buffer) secret, as JwtModule takes it, jsonwebtoken 9 first
 * tries it as a public key (createPublicKey, which throws), some hundreds of
 * µs per verify; it is measured as apps configure it.
 *
 * A broken harness fails the run (in --quick too): a refused token, a key set
 * fetched more than once (the keys were not cached, so a fetch was measured),
 * or any failure counted by the module.
 */
import 'reflect-metadata';
import { type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JwtModule, JwtService } from '@nestjs/jwt';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { io, type Socket } from 'socket.io-client';
import { Bench } from 'tinybench';
import {
  Authenticated,
  type AuthContext,
  AuthSocketModule,
  AuthSocketService,
  type AuthStrategy,
} from '../../lib/index.js';
import { JwksSocketStrategy } from '../../lib/jwks/index.js';
import { JwtSocketStrategy } from '../../lib/jwt/index.js';
import { C } from '../config.js';
import { progress, sleep } from '../harness.js';
import { recordRatio, type Result } from '../record.js';

const AUDIENCE = 'bench-api';
const SECRET = 'jwks-bench-hmac-secret-0123456789abcdef';
type Side = 'jwks' | 'jwt';
const SIDES: Side[] = ['jwks', 'jwt'];

/** A key server on loopback: one RS256 key, counting its fetches. */
async function keyServer(): Promise<{
  issuer: string;
  jwksUri: string;
  fetches(): number;
  sign(): Promise<string>;
  close(): Promise<void>;
}> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const kid = 'bench-key';
  const body = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] });
  let fetches = 0;
  const http: HttpServer = createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const issuer = `${origin}/realms/bench`;
  return {
    issuer,
    jwksUri: `${issuer}/protocol/openid-connect/certs`,
    fetches: () => fetches,
    sign: () => new SignJWT(claims(issuer)).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(privateKey),
    close: () => {
      http.closeAllConnections();
      return new Promise((resolve) => http.close(() => resolve()));
    },
  };
}

/** The same claims for both tokens: what an identity provider's access token carries. */
function claims(issuer: string): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: issuer,
    sub: 'bench-user',
    aud: AUDIENCE,
    iat: now,
    exp: now + 3600,
    jti: `bench-${process.pid}`,
    scope: 'chat:read chat:write',
    realm_access: { roles: ['member'] },
  };
}

interface App {
  app: INestApplication;
  auth: AuthSocketService;
  url: string;
}

/** A real Nest app with the module and the given strategy, plus an @Authenticated() handler as apps have. */
async function benchApp(strategy: AuthStrategy | typeof JwtSocketStrategy, imports: unknown[] = []): Promise<App> {
  @WebSocketGateway()
  class Gateway {
    @Authenticated()
    @SubscribeMessage('echo')
    echo(): string {
      return 'ok';
    }
  }
  @Module({
    imports: [
      ...(imports as []),
      AuthSocketModule.forRoot({
        strategy: strategy as AuthStrategy,
        timeout: 60_000,
        maxPending: 0,
        maxPendingPerAddress: 0,
        maxFailuresPerAddress: 0,
      }),
    ],
    providers: [Gateway],
  })
  class JwksBenchModule {}
  const app = await NestFactory.create(JwksBenchModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, auth: app.get(AuthSocketService), url: `http://127.0.0.1:${port}` };
}

/** A connected socket, authenticated with `token`. */
async function authenticated(url: string, token: string): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const ack = await socket.timeout(10_000).emitWithAck('authentication', { token });
  if (!ack?.ok) throw new Error(`jwks_auth: the token was refused (${JSON.stringify(ack?.error)})`);
  return socket;
}

/** Median ms per call of `run` over one tinybench run. */
async function timeOne(label: string, run: () => unknown): Promise<number> {
  const bench = new Bench({ time: C.jwks.time, warmupTime: C.jwks.time / 4, iterations: 10 });
  bench.add(label, run);
  await bench.run();
  const r = bench.tasks[0].result;
  if (!('latency' in r)) throw new Error(`jwks_auth: ${label} did not complete (${r.state})`);
  return r.latency.p50;
}

/** Both sides, `rounds` times, alternating which goes first; µs per operation. */
async function rounds(label: string, ops: Record<Side, () => unknown>): Promise<Record<Side, number[]>> {
  const us: Record<Side, number[]> = { jwks: [], jwt: [] };
  const t0 = performance.now();
  for (let round = 0; round < C.jwks.rounds; round++) {
    for (const side of round % 2 ? [...SIDES].reverse() : SIDES) {
      us[side].push((await timeOne(`${label} ${side}`, ops[side])) * 1000);
      await sleep(10);
    }
    progress(`jwks_auth ${label}: round ${round + 1}/${C.jwks.rounds}`, t0);
  }
  return us;
}

/** The medians behind a row (µs), since a run with `--only` writes no results. */
const medians = (r: Result): void =>
  console.error(
    `    medians: ${Object.entries(r.variants)
      .map(([k, x]) => `${k} ${x} µs`)
      .join(' · ')}`,
  );

export async function jwksAuth(): Promise<void> {
  const ks = await keyServer();
  const jwtService = new JwtService({
    secret: SECRET,
    verifyOptions: { algorithms: ['HS256'], audience: AUDIENCE, issuer: ks.issuer },
  });
  const jwksOptions = { issuers: { issuer: ks.issuer, jwksUri: ks.jwksUri }, audience: AUDIENCE };
  const tokens: Record<Side, string> = {
    jwks: await ks.sign(),
    jwt: await jwtService.signAsync(claims(ks.issuer)),
  };
  const apps: App[] = [];
  const sockets: Socket[] = [];
  try {
    // ── the strategy call ──────────────────────────────────────────────────
    const strategies: Record<Side, AuthStrategy> = {
      jwks: new JwksSocketStrategy(jwksOptions),
      jwt: new JwtSocketStrategy(jwtService),
    };
    const context = {} as AuthContext; // neither strategy reads it unless validate() is overridden
    for (const side of SIDES) {
      const principal = await strategies[side].authenticate({ token: tokens[side] }, context);
      if (!principal || principal.id !== 'bench-user')
        throw new Error(`jwks_auth: ${side} refused its token (${JSON.stringify(principal)})`);
    }
    const call = (side: Side) => () => strategies[side].authenticate({ token: tokens[side] }, context);
    const direct = await rounds('strategy call', { jwks: call('jwks'), jwt: call('jwt') });

    // ── the round trip through the module ──────────────────────────────────
    const jwksApp = await benchApp(new JwksSocketStrategy(jwksOptions));
    apps.push(jwksApp);
    const jwtApp = await benchApp(JwtSocketStrategy, [
      JwtModule.register({
        global: true,
        secret: SECRET,
        verifyOptions: { algorithms: ['HS256'], audience: AUDIENCE, issuer: ks.issuer },
      }),
    ]);
    apps.push(jwtApp);
    const socketOf: Record<Side, Socket> = {
      jwks: await authenticated(jwksApp.url, tokens.jwks),
      jwt: await authenticated(jwtApp.url, tokens.jwt),
    };
    sockets.push(socketOf.jwks, socketOf.jwt);
    const reauthenticate = (side: Side) => async () => {
      const ack = await socketOf[side].timeout(10_000).emitWithAck('authentication', { token: tokens[side] });
      if (!ack?.ok) throw new Error(`jwks_auth: ${side} re-authentication refused (${JSON.stringify(ack?.error)})`);
    };
    const trip = await rounds('round trip', { jwks: reauthenticate('jwks'), jwt: reauthenticate('jwt') });

    // The key set was fetched once per JwksSocketStrategy (this one, and the app's), so no fetch was timed.
    if (ks.fetches() !== 2) throw new Error(`jwks_auth: the key set was fetched ${ks.fetches()} times, not 2`);
    for (const { auth } of apps) {
      const failures = auth.stats().failures;
      if (Object.keys(failures).length) throw new Error(`jwks_auth: failures counted: ${JSON.stringify(failures)}`);
    }

    const base = {
      name: 'jwks_auth',
      n: 1,
      extra: { algorithms: { jwks: 'RS256 (2048-bit, jose, keys cached)', jwt: 'HS256 (@nestjs/jwt)' } },
    };
    const row = (r: Result): void => medians(r);
    row(
      recordRatio(
        {
          ...base,
          variant: 'strategy call',
          unit: 'µs per authenticate(), JwksSocketStrategy / JwtSocketStrategy',
          samples: direct,
        },
        'jwks',
        'jwt',
      ),
    );
    row(
      recordRatio(
        {
          ...base,
          variant: 'round trip',
          unit: 'µs per acked re-authentication (in process), JwksSocketStrategy / JwtSocketStrategy',
          samples: trip,
        },
        'jwks',
        'jwt',
      ),
    );
  } finally {
    sockets.forEach((s) => s.disconnect());
    for (const { app } of apps) await app.close().catch(() => undefined);
    await ks.close();
  }
}
