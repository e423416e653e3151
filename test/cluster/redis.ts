import { type ChildProcess, spawn } from 'node:child_process';
import { createClient } from 'redis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Whether Redis answers. Without it the cluster suites skip with one line
 * saying why, unless CI is set: there a missing Redis is a failure.
 */
export async function redisReachable(url = REDIS_URL): Promise<boolean> {
  const client = createClient({ url, socket: { connectTimeout: 1000, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch {
    return false;
  } finally {
    if (client.isOpen) await client.quit().catch(() => undefined);
  }
}

/** `describe`, or `describe.skip` with one clear line when Redis is absent outside CI. */
export async function describeWithRedis(): Promise<jest.Describe> {
  if (await redisReachable()) return describe;
  if (process.env.CI)
    throw new Error(`cluster tests need Redis at ${REDIS_URL} (CI is set, so this fails instead of skipping)`);
  console.warn(`cluster tests skipped: no Redis reachable at ${REDIS_URL} (set REDIS_URL, or start redis-server)`);
  return describe.skip;
}

/** A throwaway redis-server on `port`, for tests that stop and restart Redis. */
export async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 100 && !(await redisReachable(`redis://127.0.0.1:${port}`)); i++)
    await new Promise((r) => setTimeout(r, 50));
  return child;
}

/** SIGKILLs a redis-server started by startRedis and waits for it to be gone. */
export async function killRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Polls `check` until it answers true or `ms` pass. */
export async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
