import { Logger } from '@nestjs/common';
import type { createClient } from 'redis';

export type RedisClient = ReturnType<typeof createClient>;

/** Logs a Redis outage once when it starts and once when it ends, never per message. */
export class OutageLog {
  private readonly logger: Logger;
  down = false;

  constructor(
    context: string,
    private readonly messages: { down: string; back: string },
    private readonly level: 'error' | 'warn' = 'error',
  ) {
    this.logger = new Logger(context);
  }

  /** Wires the client's error and ready events to this log. */
  watch(client: RedisClient): void {
    client.on('error', (err: Error) => this.outage(err));
    client.on('ready', () => this.recovered());
  }

  outage(err: Error): void {
    if (this.down) return;
    this.down = true;
    this.logger[this.level](`Redis unavailable (${err.message}); ${this.messages.down}`);
  }

  recovered(): void {
    if (!this.down) return;
    this.down = false;
    this.logger.log(`Redis is back; ${this.messages.back}`);
  }
}

/** A Lua script by its SHA, loading it on the first NOSCRIPT: one round trip on every later call. */
export async function runScript(
  client: RedisClient,
  script: { source: string; sha: string },
  args: { keys: string[]; arguments: string[] },
): Promise<unknown> {
  try {
    return await client.evalSha(script.sha, args);
  } catch (err) {
    if (!String((err as Error)?.message).startsWith('NOSCRIPT')) throw err;
    return client.eval(script.source, args);
  }
}

/** `work`, or a rejection after `ms`; a late failure of `work` is not left unhandled. */
export function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  work.catch(() => undefined);
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Adapters publish (and the streams adapter persists sessions) without awaiting:
 * a rejected call must not become an unhandled rejection.
 */
export function guardPublish(client: RedisClient, onError: (err: Error) => void): RedisClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== 'publish' && prop !== 'sPublish' && prop !== 'set')
        return typeof value === 'function' ? value.bind(target) : value;
      return (...args: unknown[]) =>
        (value as (...a: unknown[]) => Promise<unknown>).apply(target, args).catch((err: Error) => onError(err));
    },
  });
}

/**
 * QUIT, but never waiting more than `ms`: a client caught mid-reconnect may not
 * answer, and shutdown must not hang on it.
 */
export async function closeClient(client: RedisClient | undefined, ms = 2000): Promise<void> {
  if (!client?.isOpen) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([client.quit().catch(() => undefined), late]);
  clearTimeout(timer);
  if (client.isOpen) client.destroy();
}

/**
 * Connects the clients, or fails after `ms` with a message that says where
 * and why, instead of retrying forever: node-redis's `connect()` keeps
 * reconnecting while the server is down, which would hang the app's start-up.
 * The URL is shown without its password.
 */
export async function connectWithin(clients: RedisClient[], url: string, ms: number, who: string): Promise<void> {
  let reason = 'no answer';
  let settled = false;
  // Left on the client once connected (inert), not removed: with client.off() here, the streams adapter's client
  // no longer reported a later outage at all (test/cluster/outage.spec.ts caught it).
  const onError = (err: Error): void => {
    if (!settled) reason = (err as { code?: string }).code ?? err.message;
  };
  for (const client of clients) client.on('error', onError);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, ms, 'late')));
  try {
    const result = await Promise.race([Promise.all(clients.map((c) => c.connect())), late]);
    if (result !== 'late') return;
    for (const client of clients) if (client.isOpen) client.destroy();
    throw Object.assign(
      new Error(`${who}: Redis at ${withoutPassword(url)} did not answer within ${ms} ms (${reason}); is it running?`),
      { code: 'AUTH_SOCKET_REDIS_UNREACHABLE' },
    );
  } finally {
    clearTimeout(timer);
    settled = true;
  }
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an invalid URL)';
  }
}
