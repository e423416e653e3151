import 'reflect-metadata';
import { type DynamicModule, type INestApplication, Logger, type ModuleMetadata } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { io, type Socket as ClientSocket, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { AuthSocketModule, AuthSocketService, type AuthSocketModuleOptions } from '../../lib/index.js';

export interface TestApp {
  app: INestApplication;
  url: string;
  port: number;
  auth: AuthSocketService;
  close(): Promise<void>;
}

/** A real Nest app with the module, listening on a free loopback port. */
export async function createApp(
  options: AuthSocketModuleOptions,
  metadata: ModuleMetadata = {},
  configure?: (app: INestApplication) => void | Promise<void>,
): Promise<TestApp> {
  return createAppWith(AuthSocketModule.forRoot(options), metadata, configure);
}

/** The same, with the module configured by the caller (e.g. forRootAsync). */
export async function createAppWith(
  authModule: DynamicModule,
  metadata: ModuleMetadata = {},
  configure?: (app: INestApplication) => void | Promise<void>,
): Promise<TestApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [authModule, ...(metadata.imports ?? [])],
    providers: metadata.providers ?? [],
    controllers: metadata.controllers ?? [],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await configure?.(app);
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  return {
    app,
    port,
    url: `http://127.0.0.1:${port}`,
    auth: app.get(AuthSocketService),
    close: () => app.close(),
  };
}

const clients = new Set<ClientSocket>();

/** A real socket.io-client over loopback, websocket transport, no auto-reconnect unless asked. */
export function connect(url: string, options: Partial<ManagerOptions & SocketOptions> = {}): ClientSocket {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, ...options });
  clients.add(socket);
  return socket;
}

/**
 * Another namespace on the same connection as `root`. `Manager#socket()` already
 * sends the CONNECT (autoConnect): calling `.connect()` on it as well would send
 * a second CONNECT for the namespace, and the server would hold two sockets.
 */
export function connectNamespace(root: ClientSocket, namespace: string): ClientSocket {
  const socket = root.io.socket(namespace);
  clients.add(socket);
  return socket;
}

export function closeClients(): void {
  for (const socket of clients) socket.disconnect();
  clients.clear();
}

/** Resolves with the first payload of `event`, rejects after `ms`. */
export function once<T = any>(socket: ClientSocket, event: string, ms = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler);
      reject(new Error(`no "${event}" within ${ms} ms`));
    }, ms);
    const handler = (payload: T): void => {
      clearTimeout(timer);
      resolve(payload);
    };
    socket.once(event, handler);
  });
}

/** Records every payload of `event`. */
export function record<T = any>(socket: ClientSocket, event: string): T[] {
  const seen: T[] = [];
  socket.on(event, (payload: T) => seen.push(payload));
  return seen;
}

export function connected(socket: ClientSocket, ms = 3000): Promise<void> {
  return socket.connected ? Promise.resolve() : once(socket, 'connect', ms).then(() => undefined);
}

export async function authenticate(socket: ClientSocket, credentials: unknown, ms = 3000): Promise<any> {
  await connected(socket, ms);
  return socket.timeout(ms).emitWithAck('authentication', credentials);
}

/**
 * A negative check with its positive controls: `witness` (the same broadcast,
 * awaited on a socket that should get it) arrived, then after `settleMs` the
 * silent socket has seen nothing and is still connected, so its silence is the
 * gate's doing and not a lost connection or a broadcast never sent.
 */
export async function expectMissed(
  silent: ClientSocket,
  seen: unknown[],
  witness: Promise<unknown>,
  settleMs = 100,
): Promise<void> {
  await witness;
  await sleep(settleMs);
  expect(seen).toEqual([]);
  expect(silent.connected).toBe(true);
}

/** Resolves once `condition()` holds (polled every 10 ms); rejects after `ms`. For events that may already have happened. */
export async function until(condition: () => boolean, ms = 3000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${ms} ms`);
    await sleep(10);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Everything logged while active: Nest Logger calls (even with the app's logger
 * disabled) and anything written to stdout/stderr. For "no secret in the log" checks.
 */
export function captureLogs(): { lines: string[]; restore(): void } {
  const lines: string[] = [];
  const methods = ['log', 'error', 'warn', 'debug', 'verbose', 'fatal'] as const;
  const originals = methods.map((m) => [m, (Logger.prototype as any)[m]] as const);
  for (const m of methods) {
    (Logger.prototype as any)[m] = function (...args: unknown[]) {
      lines.push(args.map((a) => (a instanceof Error ? `${a.message} ${a.stack}` : String(a))).join(' '));
    };
  }
  const writes = [process.stdout, process.stderr].map((stream) => {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      lines.push(String(chunk));
      return (write as any)(chunk, ...rest);
    }) as typeof stream.write;
    return () => (stream.write = write);
  });
  return {
    lines,
    restore: () => {
      originals.forEach(([m, fn]) => ((Logger.prototype as any)[m] = fn));
      writes.forEach((undo) => undo());
    },
  };
}

/** A free TCP port on loopback (for servers that must come back on the same port). */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Runs `body` against a fresh app, then closes clients and app whatever happens. */
export async function withApp(
  options: AuthSocketModuleOptions | DynamicModule,
  metadata: ModuleMetadata,
  body: (t: TestApp) => Promise<void>,
  configure?: (app: INestApplication) => void | Promise<void>,
): Promise<void> {
  const t =
    'module' in options
      ? await createAppWith(options, metadata, configure)
      : await createApp(options, metadata, configure);
  try {
    await body(t);
  } finally {
    closeClients();
    await t.close();
  }
}

const LIB_DIR = fileURLToPath(new URL('../../lib/', import.meta.url));

/**
 * Watches the real timers and event listeners that code under lib/ creates,
 * told apart by the call site on the stack. Leak checks built on it observe
 * the runtime itself, not the module's own bookkeeping, so a teardown that
 * empties its maps but forgets to clear a timer or remove a listener is caught.
 * Sees the global timer functions only (not an `import { setTimeout } from
 * 'node:timers'`): callers assert some timers are live first, so a blind
 * tracker fails instead of passing.
 */
export function trackLibResources(): {
  /** Every timer lib/ made that has not fired or been cleared, held or not. */
  liveTimers(): string[];
  /**
   * The ones that hold the process open. A DeadlineQueue lets its timer lapse
   * unref'd once empty (deadline-queue.ts), so while an app runs, "nothing
   * held" is the check; after close, `liveTimers()` must be empty too.
   */
  heldTimers(): string[];
  listenersStillOn(emitters: object[]): string[];
  restore(): void;
} {
  // The first frame past this wrapper (and socket.io's typed-events forwarder) is the caller.
  const fromLib = (): string | undefined => {
    const caller = new Error()
      .stack!.split('\n')
      .slice(3)
      .find((frame) => !frame.includes('typed-events'));
    return caller?.includes(LIB_DIR) ? caller.trim() : undefined;
  };
  const timers = new Map<unknown, string>();
  const listeners: Array<{
    emitter: EventEmitter;
    event: string | symbol;
    fn: (...args: any[]) => void;
    site: string;
  }> = [];
  const g = globalThis as any;
  const real = {
    setTimeout: g.setTimeout,
    setInterval: g.setInterval,
    clearTimeout: g.clearTimeout,
    clearInterval: g.clearInterval,
  };
  const proto = EventEmitter.prototype as any;
  const realOn = {
    on: proto.on,
    addListener: proto.addListener,
    prependListener: proto.prependListener,
    once: proto.once,
  };

  g.setTimeout = (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const site = fromLib();
    const handle = real.setTimeout(
      (...a: unknown[]) => {
        timers.delete(handle);
        fn(...a);
      },
      ms,
      ...args,
    );
    if (site) timers.set(handle, `setTimeout ${site}`);
    return handle;
  };
  g.setInterval = (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const site = fromLib();
    const handle = real.setInterval(fn, ms, ...args);
    if (site) timers.set(handle, `setInterval ${site}`);
    return handle;
  };
  g.clearTimeout = (handle: unknown) => {
    timers.delete(handle);
    real.clearTimeout(handle);
  };
  g.clearInterval = (handle: unknown) => {
    timers.delete(handle);
    real.clearInterval(handle);
  };
  for (const method of Object.keys(realOn) as Array<keyof typeof realOn>) {
    proto[method] = function (this: EventEmitter, event: string | symbol, fn: (...args: any[]) => void) {
      const site = fromLib();
      if (site) listeners.push({ emitter: this, event, fn, site });
      return realOn[method].call(this, event, fn);
    };
  }
  return {
    liveTimers: () => [...timers.values()],
    heldTimers: () =>
      [...timers]
        .filter(([handle]) => (handle as { hasRef?: () => boolean }).hasRef?.() !== false)
        .map(([, site]) => site),
    listenersStillOn: (emitters) =>
      listeners
        .filter(
          (l) =>
            emitters.includes(l.emitter) &&
            l.emitter.rawListeners(l.event).some((f: any) => f === l.fn || f.listener === l.fn),
        )
        .map((l) => `${String(l.event)} ${l.site}`),
    restore: () => {
      Object.assign(g, real);
      Object.assign(proto, realOn);
    },
  };
}
