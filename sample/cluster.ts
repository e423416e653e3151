/**
 * The sample on several workers of one machine, on one port: `npm run start:cluster`.
 * The primary routes connections (sticky, so a long-polling client stays on
 * its worker) and relays broadcasts between workers; each worker runs the
 * unchanged AppModule. WORKERS (default: the number of cores, at least 2), PORT.
 */
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';
import { ClusterIoAdapter, setupClusterPrimary } from '../lib/cluster/index.js';
import { shareAdminUiPassword } from './admin-ui.js';
import { AppModule } from './app.module.js';
import { startMetrics } from './telemetry.js';

const port = Number(process.env.PORT ?? 3000);
const READY = 'sample:worker-ready';

if (cluster.isPrimary) {
  const logger = new Logger('Primary');
  // The Admin UI sends its events between workers through the cluster adapter's IPC, which cannot carry them
  // ("could not be cloned": the workers crash). Off here unless asked for; it works with Redis deployments.
  process.env.ADMIN_UI ??= 'off';
  const count = Number(process.env.WORKERS) > 0 ? Number(process.env.WORKERS) : Math.max(2, availableParallelism());
  const http = createServer();
  setupClusterPrimary(http);
  let stopping = false;
  let ready = 0;
  // Listen once every worker can take connections: one handed to a worker still
  // starting would be lost.
  const onReady = (message: unknown): void => {
    if (message === READY && ++ready === count) {
      http.listen(port, () => logger.log(`chat on http://localhost:${port} (${count} workers, one port)`));
    }
  };
  shareAdminUiPassword(logger); // workers inherit the environment: one Admin UI password for all
  for (let i = 0; i < count; i++) cluster.fork().on('message', onReady);
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    logger.warn(`worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    cluster.fork();
  });
  const stop = (): void => {
    stopping = true;
    http.close();
    http.closeAllConnections(); // long-polling requests the primary still relays
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} else {
  // Each worker records its own metrics, before its app is built; GET /metrics answers for the worker it reaches.
  startMetrics();
  const app = await NestFactory.create(AppModule);
  app.useWebSocketAdapter(new ClusterIoAdapter(app));
  app.enableShutdownHooks();
  await app.init(); // no listen(): the primary hands each connection over
  process.send!(READY);
  process.once('disconnect', () => void app.close()); // the primary went away
}
