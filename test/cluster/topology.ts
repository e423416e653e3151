/**
 * Three nodes behind one interface, so the adapter matrix runs one scenario
 * list: in-process Nest apps on the Redis pub/sub or streams adapter (the
 * layout of socket.io's own adapter suites), or real node:cluster workers
 * behind @socket.io/sticky on one port, driven from outside through the
 * test-only ControlGateway.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Socket as ClientSocket } from 'socket.io-client';
import { connect, connected, sleep } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';
import { ChatGateway } from './chat.gateway.js';
import { type ClusterNode, type RedisAdapterKind, startNode, uniqueKey } from './nodes.js';
import { principalRoom } from '../../lib/index.js';

export type AdapterKind = RedisAdapterKind | 'cluster';

export interface Topology {
  /** A connected, still pending socket on node `i` (0, 1, 2). Node 1's sockets use HTTP long-polling. */
  socketOn(i: number): Promise<ClientSocket>;
  /** `AuthSocketService.revoke()` run on node `i`; resolves to what it returned. */
  revoke(i: number, principalId: string, reason?: string): Promise<unknown>;
  /** `server.to(principalRoom(id)).emit(event, payload)` run on node `i`. */
  tell(i: number, principalId: string, event: string, payload: unknown): Promise<void>;
  /** `server.fetchSockets()` run on node `i`. */
  fetchSockets(i: number): Promise<Array<{ id: string; data: any }>>;
  close(): Promise<void>;
}

export const transportsFor = (i: number): string[] => (i === 1 ? ['polling'] : ['websocket']);

export async function startTopology(kind: AdapterKind): Promise<Topology> {
  return kind === 'cluster' ? startWorkers() : startInProcess(kind);
}

async function startInProcess(kind: RedisAdapterKind): Promise<Topology> {
  const key = uniqueKey(`matrix-${kind}`);
  const nodes: ClusterNode[] = await Promise.all(
    [0, 1, 2].map(() =>
      startNode(key, { ...tokenAuth, timeout: 15_000 }, { providers: [ChatGateway] }, undefined, kind),
    ),
  );
  const server = (i: number) => nodes[i].app.get(ChatGateway).server;
  return {
    async socketOn(i) {
      const socket = connect(nodes[i].url, { transports: transportsFor(i) });
      await connected(socket, 10_000);
      return socket;
    },
    revoke: (i, principalId, reason) => nodes[i].auth.revoke(principalId, reason),
    async tell(i, principalId, event, payload) {
      server(i).to(principalRoom(principalId)).emit(event, payload);
    },
    fetchSockets: async (i) => (await server(i).fetchSockets()).map((s) => ({ id: s.id, data: s.data })),
    close: async () => void (await Promise.all(nodes.map((n) => n.app.close()))),
  };
}

const NODE_SCRIPT = fileURLToPath(new URL('./process/node.ts', import.meta.url));
const TS_REGISTER = fileURLToPath(new URL('./process/ts-register.mjs', import.meta.url));

/** A TypeScript entry point in its own process (through the test loader), with everything it prints kept in `output`. */
export function spawnTs(
  script: string,
  env: Record<string, string>,
  ready: RegExp,
): Promise<{ child: ChildProcess; match: RegExpMatchArray; output: { text: string } }> {
  const child = spawn(process.execPath, ['--import', TS_REGISTER, script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { text: '' };
  return new Promise((resolve, reject) => {
    let resolved = false;
    const onData = (chunk: Buffer): void => {
      output.text += chunk.toString();
      const match = resolved ? null : output.text.match(ready);
      if (match) {
        resolved = true;
        resolve({ child, match, output });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${script} exited early (${code}):\n${output.text}`)));
  });
}

/** test/cluster/process/node.ts in its own process; resolves once it prints its port. */
export async function spawnNode(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const { child, match } = await spawnTs(NODE_SCRIPT, env, /^\{"port":(\d+)\}$/m);
  return { child, url: `http://127.0.0.1:${match[1]}` };
}

export async function stopNode(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGCONT'); // in case a test left it stopped
  child.kill('SIGTERM');
  await exited;
}

async function startWorkers(): Promise<Topology> {
  const { child, url } = await spawnNode({ ADAPTER: 'cluster', WORKERS: '3', AUTH_TIMEOUT_MS: '15000' });
  const socketOn = async (i: number): Promise<ClientSocket> => {
    // The sticky primary places new connections round-robin; keep the one that landed on worker i.
    for (let tries = 0; tries < 12; tries++) {
      const socket = connect(url, { transports: transportsFor(i) });
      // On a loaded machine about one new connection in a hundred through the sticky primary never completes
      // (reproduced with plain socket.io + @socket.io/sticky 2.0.1, no Nest; for long-polling see also the sid
      // race of socketio/socket.io-sticky#2). Give up on it after 3 s and open another, as a client would.
      const where = await socket
        .timeout(3000)
        .emitWithAck('test:where')
        .catch(() => undefined);
      if (where === String(i)) return socket;
      socket.disconnect();
    }
    throw new Error(`no connection landed on worker ${i}`);
  };
  const control = async <T>(i: number, event: string, body?: unknown): Promise<T> => {
    const socket = await socketOn(i);
    try {
      return await socket.timeout(20_000).emitWithAck(event, body);
    } finally {
      socket.disconnect();
    }
  };
  return {
    socketOn,
    revoke: async (i, principalId, reason) =>
      (await control<{ result: unknown }>(i, 'test:revoke', { principalId, reason })).result,
    tell: (i, principalId, event, payload) => control(i, 'test:tell', { principalId, event, payload }),
    async fetchSockets(i) {
      const answer = await control<Array<{ id: string; data: any }> | { error: string }>(i, 'test:fetch');
      if (!Array.isArray(answer)) throw new Error(`fetchSockets() on worker ${i} failed: ${answer.error}`);
      return answer;
    },
    async close() {
      await sleep(300); // let the last long-polling close requests finish before the server goes
      await stopNode(child);
    },
  };
}
