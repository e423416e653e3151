/**
 * The session lifecycle under load: expiring sessions refreshed in place
 * (lib/core/session.ts, lib/client), each scenario on its own fresh `ours`
 * server with LifecycleStrategy (app.ts), whose tokens carry their expiry.
 * refresh_stream: 2-second tokens under a numbered broadcast stream. Clients
 *   using the helper (lib/client, credentials as a function) and plain
 *   clients that follow the protocol by hand must miss no message and hear no
 *   `unauthorized`. A control group that never refreshes must do both, or the
 *   counting is broken (the harness then fails, in --quick too).
 * refresh_storm: sessions whose tokens were minted within one second all
 *   expire within one second. The peak of authenticate() calls per second on
 *   the server (100 ms buckets) as they refresh, with the helper's jitter
 *   against plain clients that refresh the moment `refresh_required` arrives.
 * revalidate_cost: server CPU per AuthSocketService.revalidate(principalId)
 *   against per refresh (a re-authentication) of the same sessions.
 */
import { io, type Socket } from 'socket.io-client';
import { authenticate, type AuthSession } from '../../lib/client/index.js';
import { C } from '../config.js';
import { BenchServer, expiringToken, interleave, now, progress, sleep } from '../harness.js';
import { recordCount, recordRatio } from '../record.js';
import { median } from '../stats.js';

const HOUR = 3_600_000;
/** refresh_storm: the tokens of one round are minted over this long. */
const MINT_SPREAD_MS = 1000;

type Kind = 'helper' | 'plain';

interface Client {
  kind: Kind;
  id: string;
  socket: Socket;
  /** The helper's session (kind 'helper'). */
  session?: AuthSession;
  unauthorized: number;
  /** Refusals of a refresh: `auth_error` (plain, no ack) or the helper's onRefreshError. */
  refreshErrors: number;
  /** `refresh_required` events received. */
  warned: number;
  /** `authenticated` events after the first: refreshes that passed. */
  refreshed: number;
  /** Called with each `authenticated` payload. */
  onAuthenticated?: (payload: { expiresAt?: number }) => void;
}

interface CallCounts {
  authenticate: number;
  refreshes: number;
  revalidate: number;
  buckets: number[];
  bucketMs: number;
}

/**
 * A connected, authenticated client. 'helper': lib/client's authenticate()
 * with credentials as a function, so it refreshes ahead of expiry by itself.
 * 'plain': `authentication` on connect, and with `refreshes` again the moment
 * `refresh_required` arrives, as the protocol documents. `token()` is asked
 * for every credential sent.
 */
async function openClient(url: string, kind: Kind, id: string, token: () => string, refreshes = true): Promise<Client> {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
  const c: Client = { kind, id, socket, unauthorized: 0, refreshErrors: 0, warned: 0, refreshed: 0 };
  let authenticated = 0;
  socket.on('unauthorized', () => c.unauthorized++);
  socket.on('refresh_required', () => c.warned++);
  socket.on('auth_error', () => c.refreshErrors++);
  socket.on('authenticated', (payload: { expiresAt?: number }) => {
    if (authenticated++) c.refreshed++;
    c.onAuthenticated?.(payload);
  });
  const ready = new Promise<void>((resolve, reject) => {
    socket.once('connect_error', reject);
    socket.once('authenticated', () => resolve());
    socket.once('unauthorized', (e: { code?: string }) => reject(new Error(`${id}: unauthorized ${e?.code}`)));
  });
  if (kind === 'helper') {
    c.session = authenticate(socket, () => ({ token: token() }));
    c.session.onRefreshError(() => c.refreshErrors++);
  } else {
    socket.on('connect', () => socket.emit('authentication', { token: token() }));
    if (refreshes) socket.on('refresh_required', () => socket.emit('authentication', { token: token() }));
  }
  await ready;
  return c;
}

/** `make(i)` for i < n, at most `inFlight` at a time (the same for every kind). */
async function openAll<T>(n: number, make: (i: number) => Promise<T>, inFlight = 50): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, n) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await make(i);
      }
    }),
  );
  return out;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

// ── refresh_stream ───────────────────────────────────────────────────────────

export async function refreshStream(): Promise<void> {
  const { n, seconds, lifetimeMs, rate, control } = C.stream;
  const server = await BenchServer.start('ours', { lifecycle: true });
  const clients: Client[] = [];
  try {
    const fresh = (id: string) => () => expiringToken(id, now() + lifetimeMs);
    const tag = `${process.pid}`;
    clients.push(
      ...(await openAll(n, (i) => openClient(server.url, 'helper', `sh${tag}-${i}`, fresh(`sh${tag}-${i}`)))),
    );
    clients.push(
      ...(await openAll(n, (i) => openClient(server.url, 'plain', `sp${tag}-${i}`, fresh(`sp${tag}-${i}`)))),
    );
    // Last, so they expire (and are cut off) early in the stream.
    const controls = await openAll(control, (i) =>
      openClient(server.url, 'plain', `sc${tag}-${i}`, fresh(`sc${tag}-${i}`), false),
    );
    const seen = new Map<Client, Set<number>>();
    for (const c of [...clients, ...controls]) {
      const mine = new Set<number>();
      seen.set(c, mine);
      c.socket.on('seq', (m: { seq: number }) => mine.add(m.seq));
    }
    const calls0 = await server.call<CallCounts>('calls');
    const first = await server.call<number>('stream-start', { rate });
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      await sleep(Math.min(1000, seconds * 1000 - (performance.now() - t0)));
      progress(`refresh_stream: ${Math.round((performance.now() - t0) / 1000)}/${seconds} s`, t0);
    }
    const last = await server.call<number>('stream-stop');
    // Whatever is still on its way to a live client gets a few seconds to arrive.
    const live = clients.filter((c) => c.socket.connected);
    for (let waited = 0; waited < 3000 && live.some((c) => !seen.get(c)!.has(last)); waited += 20) await sleep(20);
    const calls1 = await server.call<CallCounts>('calls');
    const missed = (c: Client): number => {
      let got = 0;
      for (const s of seen.get(c)!) if (s >= first && s <= last) got++;
      return last - first + 1 - got;
    };
    // The positive control: sockets that never refresh are cut off at expiry and miss the rest of the stream.
    if (controls.some((c) => c.unauthorized === 0 || missed(c) === 0))
      throw new Error(
        'refresh_stream: a control client that never refreshes was not cut off, or missed nothing: the counting is broken',
      );
    const controlKey = 'control (never refreshes)';
    const base = {
      name: 'refresh_stream',
      n,
      extra: {
        seconds,
        lifetimeMs,
        rate,
        messagesPerClient: last - first + 1,
        refreshesOnServer: calls1.refreshes - calls0.refreshes,
        controlClients: controls.length,
      },
    };
    for (const kind of ['helper', 'plain'] as const) {
      const mine = clients.filter((c) => c.kind === kind);
      const extra = {
        ...base.extra,
        refreshesPerClient: median(mine.map((c) => c.refreshed)),
        refreshErrors: sum(mine.map((c) => c.refreshErrors)),
        disconnected: mine.filter((c) => !c.socket.connected).length,
      };
      recordCount(
        {
          ...base,
          variant: `${kind}: messages missed`,
          unit: 'messages missed (by sequence number), all clients',
          extra,
        },
        { [kind]: mine.map(missed), [controlKey]: controls.map(missed) },
        kind,
        { op: '<=', value: 0 },
      );
      recordCount(
        { ...base, variant: `${kind}: unauthorized`, unit: '`unauthorized` events received, all clients', extra },
        { [kind]: mine.map((c) => c.unauthorized), [controlKey]: controls.map((c) => c.unauthorized) },
        kind,
        { op: '<=', value: 0 },
      );
    }
    controls.forEach((c) => c.socket.disconnect());
  } finally {
    clients.forEach((c) => c.socket.disconnect());
    server.stop();
  }
}

// ── refresh_storm ────────────────────────────────────────────────────────────

/**
 * One storm: client i refreshes at MINT_SPREAD_MS·i/n with a token minted
 * then, lasting `lifetimeMs` (so every session's expiry falls within one
 * second), then each refreshes again as its kind does, with a token good for
 * an hour, which leaves the set quiet until the next storm. The calls counted
 * are those from just after the last of the first refreshes was answered
 * until the last of the second ones.
 */
async function storm(server: BenchServer, clients: Client[], lifetimeMs: number): Promise<Record<string, number>> {
  const n = clients.length;
  const quietFrom = now() + HOUR / 2;
  const waves = clients.map(
    (c) =>
      new Promise<void>((resolve) => {
        c.onAuthenticated = (p) => (p.expiresAt ?? 0) > quietFrom && resolve();
      }),
  );
  const before = clients.map((c) => [c.unauthorized, c.refreshErrors, c.warned]);
  const sync = async (c: Client, token: string): Promise<void> => {
    if (c.session) {
      stormTokens.set(c.id, token); // what the helper's credentials function hands out next
      await c.session.refresh();
      return;
    }
    const answer = await c.socket.emitWithAck('authentication', { token });
    if (!answer?.ok) throw new Error(`refresh_storm: ${c.id} refused a fresh token: ${answer?.error?.code}`);
  };
  const t0 = now();
  const synced: Promise<void>[] = [];
  for (let i = 0; i < n;) {
    const due = Math.min(n, Math.floor(((now() - t0) / MINT_SPREAD_MS) * n) + 1);
    for (; i < due; i++)
      synced.push(sync(clients[i], expiringToken(clients[i].id, t0 + (MINT_SPREAD_MS * i) / n + lifetimeMs)));
    if (i < n) await sleep(5);
  }
  await Promise.all(synced);
  const probe = await server.call<CallCounts>('calls');
  const from = (Math.floor(now() / probe.bucketMs) + 1) * probe.bucketMs;
  const syncMs = now() - t0;
  // Every expiry has passed by then: a session that did not refresh has been told `unauthorized`.
  const deadline = t0 + MINT_SPREAD_MS + lifetimeMs + 3000;
  let unfinished = n;
  waves.forEach((w) => void w.then(() => unfinished--));
  while (unfinished > 0 && now() < deadline) await sleep(20);
  const { buckets, bucketMs } = await server.call<CallCounts>('calls', { from, to: now() });
  const perSecond = 1000 / bucketMs;
  const busy = buckets.map((x, i) => (x ? i : -1)).filter((i) => i >= 0);
  const delta = (k: number): number =>
    sum(clients.map((c, i) => [c.unauthorized, c.refreshErrors, c.warned][k] - before[i][k]));
  return {
    peak: Math.max(0, ...buckets) * perSecond,
    counted: sum(buckets),
    unfinished,
    unauthorized: delta(0),
    refreshErrors: delta(1),
    warned: delta(2),
    spreadMs: busy.length ? (busy.at(-1)! - busy[0] + 1) * bucketMs : 0,
    syncMs,
  };
}

/** A storm token a helper client is about to fetch; otherwise storm clients get tokens good for an hour. */
const stormTokens = new Map<string, string>();
const stormToken = (id: string) => (): string => {
  const token = stormTokens.get(id);
  stormTokens.delete(id);
  return token ?? expiringToken(id, now() + HOUR);
};

export async function refreshStorm(): Promise<void> {
  const { n, lifetimeMs, rounds } = C.storm;
  const server = await BenchServer.start('ours', { lifecycle: true });
  const sets = new Map<string, Client[]>();
  try {
    const tag = `${process.pid}`;
    const open = (kind: Kind, prefix: string) =>
      openAll(n, (i) => openClient(server.url, kind, `${prefix}${tag}-${i}`, stormToken(`${prefix}${tag}-${i}`)), 100);
    const t0 = performance.now();
    sets.set('jitter', await open('helper', 'rh'));
    progress(`refresh_storm: ${n} helper clients open`, t0);
    sets.set('no jitter', await open('plain', 'rp'));
    progress(`refresh_storm: ${n} plain clients open`, t0);
    const samples = await interleave(
      'refresh_storm',
      [...sets.keys()],
      rounds,
      (v) => storm(server, sets.get(v)!, lifetimeMs),
      0, // connecting warmed the refresh path
    );
    // Not a broken harness, but a peak that leaves calls out (or that sessions fell off): said, and kept in `extra`.
    for (const [v, counted] of Object.entries(samples.counted))
      if (counted.some((x) => x !== n) || samples.unfinished[v].some((x) => x > 0))
        console.error(`  refresh_storm (${v}): counted ${counted.join(', ')} of ${n} refreshes per round`);
    recordRatio(
      {
        name: 'refresh_storm',
        variant: 'peak strategy calls/s',
        n,
        unit: 'peak authenticate() calls per second on the server (100 ms buckets), helper (jitter) / plain (no jitter)',
        samples: samples.peak,
        extra: {
          lifetimeMs,
          mintSpreadMs: MINT_SPREAD_MS,
          counted: samples.counted,
          unfinished: samples.unfinished,
          unauthorized: samples.unauthorized,
          refreshErrors: samples.refreshErrors,
          refreshRequiredReceived: samples.warned,
          spreadMs: samples.spreadMs,
          syncMs: samples.syncMs,
        },
      },
      'jitter',
      'no jitter',
    );
  } finally {
    for (const set of sets.values()) set.forEach((c) => c.socket.disconnect());
    server.stop();
  }
}

// ── revalidate_cost ──────────────────────────────────────────────────────────

export async function revalidateCost(): Promise<void> {
  const { m, rounds } = C.revalidate;
  const server = await BenchServer.start('ours', { lifecycle: true });
  const prefix = `rc${process.pid}-`;
  const token = (i: number): string => expiringToken(`${prefix}${i}`, now() + HOUR);
  let clients: Client[] = [];
  try {
    clients = await openAll(m, (i) => openClient(server.url, 'plain', `${prefix}${i}`, () => token(i), false), 100);
    const samples = await interleave('revalidate_cost', ['revalidate', 'refresh'], rounds, async (v) => {
      const before = await server.call<CallCounts>('calls');
      const cpu0 = await server.cpu();
      if (v === 'revalidate') {
        const sessions = await server.call<number>('revalidate', { prefix, n: m });
        if (sessions !== m) throw new Error(`revalidate_cost: revalidate() reached ${sessions} of ${m} sessions`);
      } else {
        const answers = await Promise.all(
          clients.map((c, i) => c.socket.emitWithAck('authentication', { token: token(i) })),
        );
        const refused = answers.filter((a) => !a?.ok).length;
        if (refused) throw new Error(`revalidate_cost: ${refused} of ${m} refreshes refused`);
      }
      const cpu1 = await server.cpu();
      const after = await server.call<CallCounts>('calls');
      const made = v === 'revalidate' ? after.revalidate - before.revalidate : after.refreshes - before.refreshes;
      if (made !== m) throw new Error(`revalidate_cost: ${made} strategy calls for ${m} ${v}s`);
      return { us: (cpu1 - cpu0) / m };
    });
    recordRatio(
      {
        name: 'revalidate_cost',
        variant: 'server CPU per call',
        n: m,
        unit: 'server CPU µs per call: AuthSocketService.revalidate(id) / a refresh (authenticate() again)',
        samples: samples.us,
      },
      'revalidate',
      'refresh',
    );
  } finally {
    clients.forEach((c) => c.socket.disconnect());
    server.stop();
  }
}
