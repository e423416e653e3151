import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { authIssuer } from './env.js';
import { startMetrics } from './telemetry.js';

export async function bootstrap(port = Number(process.env.PORT ?? 3000)) {
  // Before the app: the module takes its meter when AppModule is built, and a meter taken earlier is a no-op.
  startMetrics();
  const app = await NestFactory.create(AppModule);
  const redisUrl = process.env.REDIS_URL;
  if (redisUrl) {
    // Optional: only loaded when clustering, so the sample runs without Redis.
    // REDIS_ADAPTER=streams: Redis streams, which let a client recover its session on another node.
    const { RedisIoAdapter, RedisStreamsIoAdapter } = await import('../lib/redis/index.js');
    const adapter =
      process.env.REDIS_ADAPTER === 'streams'
        ? new RedisStreamsIoAdapter(app, { url: redisUrl })
        : new RedisIoAdapter(app, { url: redisUrl });
    await adapter.connect();
    app.useWebSocketAdapter(adapter);
  }
  app.enableShutdownHooks();
  await app.listen(port);
  const issuer = authIssuer();
  new Logger('Sample').log(
    `chat on http://localhost:${port}${redisUrl ? ` (clustered through Redis${process.env.REDIS_ADAPTER === 'streams' ? ' streams' : ''})` : ''}${issuer ? `, tokens from ${issuer}` : ''}`,
  );
  return app;
}

await bootstrap();
