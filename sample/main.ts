import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';

export async function bootstrap(port = Number(process.env.PORT ?? 3000)) {
  const app = await NestFactory.create(AppModule);
  const redisUrl = process.env.REDIS_URL;
  if (redisUrl) {
    // Optional: only loaded when clustering, so the sample runs without Redis.
    const { RedisIoAdapter } = await import('../lib/redis/index.js');
    const adapter = new RedisIoAdapter(app, { url: redisUrl });
    await adapter.connect();
    app.useWebSocketAdapter(adapter);
  }
  app.enableShutdownHooks();
  await app.listen(port);
  new Logger('Sample').log(`chat on http://localhost:${port}${redisUrl ? ' (clustered through Redis)' : ''}`);
  return app;
}

await bootstrap();
