/**
 * Redis down when the app starts: connect() fails after a bounded wait, with
 * where and why (and no password), instead of hanging start-up while the log
 * claims to serve local clients. Redis up (control): the same call connects.
 */
import { Test } from '@nestjs/testing';
import { RedisIoAdapter, RedisStreamsIoAdapter } from '../../lib/redis/index.js';
import { captureLogs, freePort } from '../support/harness.js';
import { REDIS_URL } from './redis.js';
import { describeWithRedis } from './redis.js';

const suite = await describeWithRedis();

suite.each([
  ['RedisIoAdapter', RedisIoAdapter],
  ['RedisStreamsIoAdapter', RedisStreamsIoAdapter],
] as const)('%s at boot', (name, Adapter) => {
  async function adapterFor(url: string) {
    const app = (await Test.createTestingModule({}).compile()).createNestApplication({ logger: false });
    return { app, adapter: new Adapter(app, { url, connectTimeout: 400 }) };
  }

  it('fails clearly within its connectTimeout when Redis is down, without the password', async () => {
    const port = await freePort(); // nothing listens there
    const { app, adapter } = await adapterFor(`redis://user:hunter2@127.0.0.1:${port}`);
    const logs = captureLogs();
    const started = Date.now();
    try {
      const err = await adapter.connect().then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      );
      expect(err?.code).toBe('AUTH_SOCKET_REDIS_UNREACHABLE');
      expect(err?.message).toBe(
        `${name}: Redis at redis://user:***@127.0.0.1:${port} did not answer within 400 ms (ECONNREFUSED); is it running?`,
      );
      expect(Date.now() - started).toBeLessThan(5000);
      expect(logs.lines.join('\n')).not.toContain('hunter2');
    } finally {
      logs.restore();
      await app.close();
    }
  });

  it('connects when Redis is up (control)', async () => {
    const { app, adapter } = await adapterFor(REDIS_URL);
    try {
      await expect(adapter.connect()).resolves.toBeUndefined();
    } finally {
      await adapter.dispose();
      await app.close();
    }
  });
});
