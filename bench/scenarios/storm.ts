/**
 * connect_storm: N clients reconnecting at once (a deploy, a network blip)
 * to a warmed server whose token check takes 2 ms, awaited as a database call
 * would be: the `ours` strategy and the `middleware` variant's middleware
 * wait the same (app.ts, `authDelayMs`). The clients come from several pinned
 * client workers (clients.ts), every socket opened at once, none waiting for
 * another. Meanwhile a few already-authenticated users ping the server, open
 * loop (each on a fixed period, whether or not its last answer came), from
 * this process.
 *
 * Per round and variant: the time from the storm's start until every client
 * is authenticated (wall clock, ours ÷ middleware), the server's peak
 * event-loop delay (perf_hooks.monitorEventLoopDelay, how late a 10 ms timer
 * fired at worst), the pingers' round-trip p99 over the pings sent during the
 * storm, and the server's CPU per connection over the storm, which decides
 * the goal: on a shared 2-core machine the wall clock of a 10k storm measures
 * the scheduler and the client workers as much as the server (its intervals
 * spanned 0.5–1.8), as connect_auth found.
 *
 * Kept per round in `extra`, to read a noisy round by: the kernel's listen
 * queue overflows (a dropped SYN is retried a second later, so a storm that
 * overflows measures TCP's retry timer), and how long the server's event loop
 * waited for its core while other processes had it. The pingers' round trips
 * include this process's own wait for the load generator's core, which the
 * client workers keep busy: the same for both variants.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'socket.io-client';
import type { Variant } from '../app.js';
import { C } from '../config.js';
import { BenchServer, interleave, Ipc, live, LOAD_CORE, MODE, open, pin, sleep, spawnNode } from '../harness.js';
import { recordRatio } from '../record.js';
import { median, quantile } from '../stats.js';

const VARIANTS: Variant[] = ['middleware', 'ours'];
/** The servers' listen queue: what the kernel allows (net.core.somaxconn), rather than Node's 511. */
const BACKLOG = somaxconn();

function somaxconn(): number {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim()) || 511;
  } catch {
    return 511;
  }
}

interface StormReply {
  opened: number;
  failed: number;
  error?: string;
  /** Each client's ms from the storm's start in its worker until it was authenticated. */
  times: number[];
}

/** The kernel's count of connections dropped because a listen queue was full (all sockets; loopback is ours alone). */
function listenOverflows(): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
    const [names, values] = [lines[i].split(' '), lines[i + 1].split(' ')];
    return Number(values[names.indexOf('ListenOverflows')]) || 0;
  } catch {
    return NaN;
  }
}

/**
 * How long, in ms, a process's main thread (the server's event loop) has waited on a run queue for a core: time it
 * was ready to run and another process had the core. NaN where /proc has no schedstat.
 */
function runQueueWaitMs(pid: number | undefined): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
  } catch {
    return NaN;
  }
}

/** Open-loop pings from authenticated sockets: one every `periodMs` per socket, staggered; round trips in ms. */
function ping(sockets: Socket[], periodMs: number): { stop(): Promise<{ rtts: number[]; lost: number }> } {
  const pending: Promise<void>[] = [];
  const rtts: number[] = [];
  let lost = 0;
  let next = 0;
  const timer = setInterval(
    () => {
      const s = sockets[next++ % sockets.length];
      const t = performance.now();
      pending.push(
        s
          .timeout(10_000)
          .emitWithAck('echo', 1)
          .then(
            () => void rtts.push(performance.now() - t),
            () => void lost++,
          ),
      );
    },
    Math.max(1, periodMs / sockets.length),
  );
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
      return { rtts, lost };
    },
  };
}

export async function connectStorm(): Promise<void> {
  const { n, workers: w, rounds, pingers, pingMs, delayMs } = C.connectStorm;
  const workers: Ipc[] = [];
  const children = Array.from({ length: w }, () => spawnNode('./clients.js', []));
  children.forEach((c) => (live.add(c), workers.push(new Ipc(c))));
  const [servers] = await Promise.all([
    BenchServer.startAll(VARIANTS, { authDelayMs: delayMs, backlog: BACKLOG }),
    ...children.map((c) => Ipc.ready(c, 'client worker')),
  ]);
  const users = new Map<Variant, Socket[]>();
  try {
    children.forEach((c) => pin(c, LOAD_CORE));
    const all = <T>(cmd: string, extra: Record<string, unknown> = {}): Promise<T[]> =>
      Promise.all(workers.map((x) => x.call<T>(cmd, extra)));
    const storm = async (server: BenchServer, v: Variant, size: number): Promise<{ ms: number; clientP50: number }> => {
      const t0 = performance.now();
      const replies = await all<StormReply>('storm', { url: server.url, n: Math.round(size / w), mode: MODE[v] });
      const ms = performance.now() - t0;
      const failed = replies.reduce((sum, r) => sum + r.failed, 0);
      if (failed)
        throw new Error(
          `connect_storm: ${failed} of ${size} ${v} clients failed (${replies.find((r) => r.error)?.error})`,
        );
      return {
        ms,
        clientP50: quantile(
          replies.flatMap((r) => r.times),
          0.5,
        ),
      };
    };
    const calm = async (server: BenchServer): Promise<void> => {
      await all('close');
      await server.settle(pingers);
      await sleep(100);
    };
    for (const v of VARIANTS) {
      const server = servers.get(v)!;
      users.set(v, await Promise.all(Array.from({ length: pingers }, () => open(server.url, MODE[v]))));
      // A warm-up storm of a fifth of N: the server's code is hot before the first measured one.
      await storm(server, v, n / 5);
      await calm(server);
    }
    const samples = await interleave(
      `connect_storm n=${n}`,
      VARIANTS,
      rounds,
      async (v) => {
        const server = servers.get(v)!;
        const overflows0 = listenOverflows();
        const waited0 = runQueueWaitMs(server.child.pid);
        await server.call('eld-start');
        const cpu0 = await server.cpu();
        const pinging = ping(users.get(v)!, pingMs);
        const { ms, clientP50 } = await storm(server, v, n);
        const { rtts, lost } = await pinging.stop();
        const cpuUs = ((await server.cpu()) - cpu0) / n;
        const eld = await server.call<{ maxMs: number }>('eld-stop');
        const overflows = listenOverflows() - overflows0;
        const waitedMs = runQueueWaitMs(server.child.pid) - waited0;
        await calm(server);
        const p99 = quantile(rtts, 0.99);
        return { ms, clientP50, eldMs: eld.maxMs, p99, pings: rtts.length, lost, cpuUs, overflows, waitedMs };
      },
      0, // the warm-up storms above
    );
    const extra = {
      delayMs,
      backlog: BACKLOG,
      pingers,
      pingPeriodMs: pingMs,
      workers: w,
      // Per round: pings answered during the storm, pings never answered (10 s), connections the kernel's listen
      // queue dropped (the client then retries its SYN after a second: a storm with these measures TCP, not the app).
      pings: samples.pings,
      lostPings: samples.lost,
      listenOverflows: samples.overflows,
      // Per round: ms the server's event loop was ready to run but another process had its core (other jobs on the
      // machine; the server is pinned, they are not). A round that waited long measured them, not the server.
      serverRunQueueWaitMs: samples.waitedMs,
      // The median client's time until it was authenticated, per variant (median over the rounds).
      clientP50Ms: Object.fromEntries(Object.entries(samples.clientP50).map(([k, xs]) => [k, Math.round(median(xs))])),
    };
    recordRatio(
      {
        name: 'connect_storm',
        variant: 'time until all authenticated',
        n,
        unit: 'ms from the storm until every client is authenticated',
        samples: samples.ms,
        extra,
      },
      'ours',
      'middleware',
    );
    recordRatio(
      {
        name: 'connect_storm',
        variant: 'peak event-loop delay',
        n,
        unit: 'ms, the latest a 10 ms timer fired on the server',
        samples: samples.eldMs,
      },
      'ours',
      'middleware',
    );
    recordRatio(
      {
        name: 'connect_storm',
        variant: `round-trip p99 of ${pingers} users`,
        n,
        unit: 'p99 ms, pings sent during the storm',
        samples: samples.p99,
      },
      'ours',
      'middleware',
    );
    recordRatio(
      {
        name: 'connect_storm',
        variant: 'server CPU',
        n,
        unit: 'server CPU µs per connection, over the storm',
        samples: samples.cpuUs,
      },
      'ours',
      'middleware',
      { op: '<=', value: 1.1 },
    );
  } finally {
    for (const sockets of users.values()) sockets.forEach((s) => s.disconnect());
    servers.forEach((s) => s.stop());
    workers.forEach((x) => x.child.kill('SIGKILL'));
  }
}
