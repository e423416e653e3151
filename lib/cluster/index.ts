/**
 * `nestjs-socket-auth/cluster`: several workers of one machine on one port,
 * through `node:cluster`, `@socket.io/sticky` (long-polling requests of one
 * client must reach the same worker) and `@socket.io/cluster-adapter`
 * (broadcasts cross workers through the primary). The gate needs nothing
 * more: it works on the adapter's in-memory membership in each worker.
 *
 *   primary: `setupClusterPrimary(httpServer)`, `httpServer.listen(port)`, fork workers
 *   worker:  `app.useWebSocketAdapter(new ClusterIoAdapter(app))`, `await app.init()`
 *            (no listen: the primary hands connections over)
 */
import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter, setupPrimary } from '@socket.io/cluster-adapter';
import type { ClusterAdapterOptions } from 'socket.io-adapter';
import { setupMaster, setupWorker } from '@socket.io/sticky';
import cluster from 'node:cluster';
import type { Server as HttpServer } from 'node:http';
import type { Server, ServerOptions } from 'socket.io';

/**
 * Heartbeat settings of `@socket.io/cluster-adapter`. Cluster-wide requests wait
 * as long as the caller's `server.timeout(ms)` (socket.io's default: 5000 ms).
 */
export type ClusterIoAdapterOptions = ClusterAdapterOptions;

/** Marks an HTTP server whose worker side of sticky is set up. */
const STICKY = Symbol('nestjs-socket-auth.sticky');

/** The worker side: the cluster adapter, and connections taken from the primary. */
export class ClusterIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly clusterOptions: ClusterIoAdapterOptions = {},
  ) {
    super(app);
  }

  /** Nest's server, with the cluster adapter set on it. */
  createIOServer(port: number, options?: ServerOptions): Server {
    const server = super.createIOServer(port, options) as Server;
    server.adapter(createAdapter(this.clusterOptions));
    // Once per HTTP server: a second gateway on another namespace shares it.
    const http = server.httpServer as HttpServer & { [STICKY]?: true };
    if (!http[STICKY]) {
      http[STICKY] = true;
      setupWorker(server);
    }
    return server;
  }
}

/**
 * The primary side: routes each HTTP connection to a worker, keeping a
 * long-polling session on the worker that opened it, and relays adapter
 * messages between workers. Call before forking; listen on `httpServer` afterwards.
 */
export function setupClusterPrimary(
  httpServer: HttpServer,
  options: { loadBalancingMethod?: 'random' | 'round-robin' | 'least-connection' } = {},
): void {
  // Sticky hands over each connection's first bytes as a Buffer, which JSON IPC would mangle.
  cluster.setupPrimary({ serialization: 'advanced' });
  setupMaster(httpServer, { loadBalancingMethod: options.loadBalancingMethod ?? 'least-connection' });
  setupPrimary();
}
