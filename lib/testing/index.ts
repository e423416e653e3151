/**
 * `nestjs-socket-auth/testing`: for the app's own gateway tests. A strategy
 * that accepts fixed tokens, to put in place of the real one with
 * `overrideProvider(YourStrategy).useValue(...)`, and a client that is
 * connected and authenticated before the test goes on. Needs socket.io-client
 * (a dev dependency of the app); nothing here is for production.
 */
import type { INestApplication } from '@nestjs/common';
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import type { AuthErrorPayload } from '../auth-errors.js';
import type { AuthPrincipal, AuthStrategy } from '../auth-strategy.interface.js';

/**
 * Accepts `{ token }` for each token it was given, as that principal; refuses
 * everything else with `invalid_credentials`, as a real strategy would.
 */
export class FakeAuthStrategy implements AuthStrategy {
  private readonly principals: Map<string, AuthPrincipal>;

  constructor(principals: Record<string, AuthPrincipal>) {
    // A Map, so "constructor" or "__proto__" is not a token.
    this.principals = new Map(Object.entries(principals));
  }

  /** The principal for `{ token }`, or null. */
  authenticate(credentials: unknown): AuthPrincipal | null {
    const token = (credentials as { token?: unknown } | null)?.token;
    return typeof token === 'string' ? (this.principals.get(token) ?? null) : null;
  }
}

/** Where and how `connectAuthenticated()` connects. */
export interface ConnectOptions {
  /** The gateway's namespace. @default '/' */
  namespace?: string;
  /** How long to wait for `authenticated` before failing the test, in ms. @default 5000 */
  timeoutMs?: number;
  /** Anything else for `io()`; the transport is websocket and reconnection off unless given. */
  io?: Partial<ManagerOptions & SocketOptions>;
  /** The event names, when the app renamed them with the `events` option. */
  events?: { authentication?: string; authenticated?: string; unauthorized?: string };
}

/**
 * Connects to the app (which must be listening: `await app.listen(0)`),
 * sends `credentials` in `authentication`, and resolves once the server says
 * `authenticated`. Rejects with the server's code when it refuses instead.
 * Disconnect the socket when the test is done.
 */
export async function connectAuthenticated(
  app: INestApplication,
  credentials: unknown,
  options: ConnectOptions = {},
): Promise<Socket> {
  const url = `${listeningUrl(app)}${options.namespace ?? ''}`;
  const events = { authentication: 'authentication', authenticated: 'authenticated', unauthorized: 'unauthorized' };
  Object.assign(events, options.events);
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, ...options.io });
  const ms = options.timeoutMs ?? 5000;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not authenticated within ${ms} ms at ${url}`)), ms);
      const done = (err?: Error): void => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      socket.once('connect', () => socket.emit(events.authentication, credentials));
      socket.once('connect_error', (err: Error & { data?: AuthErrorPayload }) =>
        done(new Error(`could not connect to ${url}: ${err.data?.code ?? err.message}`)),
      );
      socket.once(events.authenticated, () => done());
      socket.once(events.unauthorized, (error: AuthErrorPayload) =>
        done(new Error(`the server refused the credentials: ${error?.code} (${error?.message})`)),
      );
    });
  } catch (err) {
    socket.disconnect();
    throw err;
  }
  return socket;
}

function listeningUrl(app: INestApplication): string {
  const address = app.getHttpServer()?.address?.() as { port: number } | string | null | undefined;
  if (!address || typeof address === 'string')
    throw new Error('connectAuthenticated: the app is not listening on a TCP port; call `await app.listen(0)` first');
  return `http://127.0.0.1:${address.port}`;
}
