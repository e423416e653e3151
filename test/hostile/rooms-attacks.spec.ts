/**
 * Attacks on room policies, the client room protocol, the per-principal
 * session limit, the session view and the throttler guard, written the way a
 * hostile client or an unlucky deployment would drive them: real Nest app,
 * real socket.io server, real socket.io-client or raw engine.io frames over
 * loopback. Every "not in the room" is proven with a broadcast that a member
 * (the positive control) does receive, and a later message on the outsider's
 * own id room (socket.io keeps one socket's packets in order).
 */
import { Injectable } from '@nestjs/common';
import { WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Server, Socket } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import {
  type AuthPrincipal,
  type AuthSocketModuleOptions,
  type AuthStrategy,
  type LimitStore,
  MemoryLimitStore,
  principalRoom,
  PublicNamespace,
  type RoomPolicy,
} from '../../lib/index.js';
import {
  authenticate,
  closeClients,
  connect,
  connected,
  connectNamespace,
  createApp,
  once,
  record,
  type TestApp,
  until,
} from '../support/harness.js';
import { openPolling, type PollingSession, SEP } from '../support/raw.js';
import { spawnTs, stopNode } from '../cluster/topology.js';

// ── the app under attack ─────────────────────────────────────────────────────

/**
 * What the tests change under live sessions. `keys`: while set, every
 * authenticate() waits on the same promise, as every JWT verification waits
 * on one in-flight JWKS fetch (jose's createRemoteJWKSet) or a single-flight
 * user lookup does: the attempts that arrived meanwhile all answer in one tick.
 */
const control = {
  locked: new Set<string>(),
  keys: undefined as undefined | { waiting: number; ready: Promise<void>; open(): void },
  /** While true, the vault predicate never settles (a database call with no timeout); its resolvers, for teardown. */
  vaultHangs: false,
  hung: [] as Array<(ok: boolean) => void>,
};

function holdKeys(): void {
  let open!: () => void;
  const ready = new Promise<void>((resolve) => (open = resolve));
  control.keys = { waiting: 0, ready, open };
}

/** `{ token: id, roles?, ttlMs?, delayMs? }` → that principal; `bad` is refused. revalidate() refuses `locked` ids. */
@Injectable()
class KeyedStrategy implements AuthStrategy {
  async authenticate(c: any): Promise<AuthPrincipal | null> {
    const keys = control.keys;
    if (keys) {
      keys.waiting++;
      await keys.ready;
    }
    if (c?.delayMs) await new Promise((r) => setTimeout(r, c.delayMs));
    const id = c?.token;
    if (typeof id !== 'string' || !id || id === 'bad') return null;
    return { id, roles: c.roles ?? [], ...(c.ttlMs ? { expiresAt: Date.now() + c.ttlMs } : {}) };
  }

  async revalidate(principal: AuthPrincipal): Promise<AuthPrincipal | null> {
    return control.locked.has(principal.id) ? null : { ...principal };
  }
}

const vault = (): Promise<boolean> => {
  if (!control.vaultHangs) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => control.hung.push(resolve));
};

const ROOMS: RoomPolicy[] = [
  { room: 'admins', require: { roles: ['admin'] } },
  { room: /^lobby-\d+$/, require: true },
  // The docs' own example: a direct-message room names its members.
  { room: /^dm:/, require: (p, { room }) => room.split(':').slice(1).includes(p.id) },
  { room: /^vault:/, require: vault },
];

@WebSocketGateway()
class Gateway {
  @WebSocketServer() server!: Server;
}

@PublicNamespace()
@WebSocketGateway({ namespace: '/pub' })
class PubGateway {}

@WebSocketGateway({ connectionStateRecovery: { maxDisconnectionDuration: 60_000 } })
class RecoveringGateway {
  @WebSocketServer() server!: Server;
}

let t: TestApp | undefined;
let gateway: typeof Gateway | typeof RecoveringGateway = Gateway;

async function app(options: Partial<AuthSocketModuleOptions> = {}, gw = Gateway, extra: any[] = []): Promise<TestApp> {
  gateway = gw;
  t = await createApp(
    {
      strategy: KeyedStrategy,
      timeout: 5000,
      strategyTimeout: 1000,
      rooms: ROOMS,
      ...options,
    } as AuthSocketModuleOptions,
    { providers: [gw, ...extra] },
  );
  return t;
}

const server = (): Server => t!.app.get(gateway as any).server;
const socketOf = (c: ClientSocket): Socket => server().of('/').sockets.get(c.id!)!;

async function user(credentials: object, options: object = {}): Promise<ClientSocket> {
  const c = connect(t!.url, options);
  expect(await authenticate(c, credentials)).toMatchObject({ ok: true });
  return c;
}

const ask = (c: ClientSocket, event: string, payload?: unknown, ms = 5000): Promise<any> =>
  c.timeout(ms).emitWithAck(event, payload);

const refused = (code: string): object => ({ ok: false, error: { code, message: expect.any(String) } });

let probes = 0;
/** `room` reaches every member; each outsider gets a later message on its own id room and not the broadcast. */
async function reaches(
  room: string,
  members: ClientSocket[],
  outsiders: ClientSocket[] = [],
  namespace = '/',
): Promise<void> {
  const nsp = server().of(namespace);
  const n = ++probes;
  const heard = new Map<ClientSocket, string[]>();
  const off: Array<() => void> = [];
  for (const c of [...members, ...outsiders]) {
    const got: string[] = [];
    heard.set(c, got);
    const handler = (p: { n: number; kind: string }): void => void (p?.n === n && got.push(p.kind));
    c.on('probe', handler);
    off.push(() => c.off('probe', handler));
  }
  nsp.to(room).emit('probe', { n, kind: 'room' });
  for (const o of outsiders) nsp.to(o.id!).emit('probe', { n, kind: 'fence' });
  try {
    await until(
      () =>
        members.every((m) => heard.get(m)!.includes('room')) && outsiders.every((o) => heard.get(o)!.includes('fence')),
      8000,
      `the probe of ${room}`,
    );
  } finally {
    off.forEach((f) => f());
  }
  expect({ room, outsiders: outsiders.map((o) => heard.get(o)) }).toEqual({
    room,
    outsiders: outsiders.map(() => ['fence']),
  });
}

const nonZero = (counts: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(counts).filter(([, n]) => n !== 0));

/** A raw long-polling client: every packet the server sent, read by repeated GETs. */
class RawPoller {
  packets: string[] = [];
  constructor(readonly poll: PollingSession) {}

  static async open(base: string): Promise<RawPoller> {
    const raw = new RawPoller(await openPolling(base));
    await raw.poll.post('40');
    await raw.until((p) => p.startsWith('40{'));
    return raw;
  }

  /** GETs until a packet matching `match` arrived (only call when something is due: an idle GET waits for the ping). */
  async until(match: (packet: string) => boolean, ms = 8000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.packets.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching packet; got ${this.packets.join(' | ')}`);
      const res = await this.poll.get();
      if (res.status !== 200) throw new Error(`polling GET refused: ${res.status} ${res.body}`);
      this.packets.push(...res.body.split(SEP).filter(Boolean));
    }
  }

  /** The ack answer for id `n`, parsed. */
  async ack(n: number, ms = 8000): Promise<any> {
    const packet = await this.until((p) => p.startsWith(`43${n}[`), ms);
    return JSON.parse(packet.slice(`43${n}`.length))[0];
  }
}

afterEach(async () => {
  closeClients();
  const closing = t;
  t = undefined;
  await closing?.close();
  control.locked.clear();
  control.keys?.open();
  control.keys = undefined;
  control.vaultHangs = false;
  control.hung.splice(0).forEach((resolve) => resolve(false));
});

// ─────────────────────────────────────────────────────────────────────────────

describe('the client join protocol under load', () => {
  it('twelve joins emitted right after connecting with handshake credentials all succeed: joins waiting for the authentication are not "in flight on a predicate"', async () => {
    await app({ clientRooms: true, handshake: true });
    // The usual client: credentials in the handshake, then the rooms it wants, without waiting.
    const c = connect(t!.url, { auth: { token: 'alice', delayMs: 300 } });
    const answers = Promise.all(Array.from({ length: 12 }, (_, i) => ask(c, 'join', { room: `lobby-${i}` }, 8000)));
    const told = await once(c, 'authenticated', 8000);
    expect(told).toMatchObject({ user: { id: 'alice' } }); // control: the handshake authenticated her
    expect(await answers).toEqual(Array.from({ length: 12 }, (_, i) => ({ ok: true, room: `lobby-${i}` })));
  });

  it('a batch of twelve joins of rooms with a synchronous policy, in one long-polling payload, is answered ok for every one', async () => {
    await app({ clientRooms: true });
    const raw = await RawPoller.open(t!.url);
    await raw.poll.post('420["authentication",{"token":"alice"}]');
    expect(await raw.ack(0)).toMatchObject({ ok: true, user: { id: 'alice' } });
    // Nothing here waits on a predicate: `lobby-N` needs only authentication, decided inside join().
    const batch = Array.from({ length: 12 }, (_, i) => `42${i + 1}["join",{"room":"lobby-${i}"}]`).join(SEP);
    await raw.poll.post(batch);
    const acks = [];
    for (let i = 1; i <= 12; i++) acks.push(await raw.ack(i));
    expect(acks).toEqual(Array.from({ length: 12 }, (_, i) => ({ ok: true, room: `lobby-${i}` })));
  });

  it('one socket cannot make the server hold an unbounded number of rooms through join (the docs’ dm: policy)', async () => {
    await app({ clientRooms: true });
    const alice = await user({ token: 'alice' });
    const total = 4000;
    let granted = 0;
    // Eight at a time, each batch awaited: the per-socket in-flight cap never triggers, so only a room cap could refuse.
    for (let i = 0; i < total; i += 8) {
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, k) => ask(alice, 'join', { room: `dm:alice:${'x'.repeat(150)}${i + k}` }, 8000)),
      );
      granted += answers.filter((a) => a?.ok).length;
      if (answers.some((a) => !a?.ok)) break; // a cap answered: it is bounded
    }
    expect(alice.connected).toBe(true);
    // Each of these is a ~160-character room in the adapter, held for as long as the socket lives (and copied into
    // the recovery store with connectionStateRecovery). With no cap, `total` of them from one message loop.
    expect(granted).toBeLessThan(total);
    expect(socketOf(alice).rooms.size).toBeLessThan(total);
  });

  it('odd payloads over raw frames (binary attachment as the room, prototype keys, arrays, numbers) are bad_request and join nothing', async () => {
    await app({ clientRooms: true });
    const witness = await user({ token: 'root', roles: ['admin'] });
    void socketOf(witness).join('admins');
    const raw = await RawPoller.open(t!.url);
    await raw.poll.post('420["authentication",{"token":"mallory"}]');
    expect(await raw.ack(0)).toMatchObject({ ok: true });
    const frames = [
      '421["join",{"room":["admins"]}]',
      '422["join",{"room":42}]',
      '423["join",{"__proto__":{"room":"admins"}}]',
      '424["join",["admins"]]',
      '425["join","admins"]',
      '426["join",{"room":"admins","roles":["admin"]}]',
    ].join(SEP);
    await raw.poll.post(frames);
    const answers = [];
    for (let i = 1; i <= 6; i++) answers.push(await raw.ack(i));
    expect(answers).toEqual([
      refused('bad_request'),
      refused('bad_request'),
      refused('bad_request'),
      refused('bad_request'),
      refused('bad_request'),
      refused('forbidden'),
    ]);
    // A binary attachment standing in for the room: socket.io hands the handler a Buffer.
    await raw.poll.post(
      `451-7["join",{"room":{"_placeholder":true,"num":0}}]${SEP}b${Buffer.from('admins').toString('base64')}`,
    );
    expect(await raw.ack(7)).toEqual(refused('bad_request'));
    const mallory = [...server().of('/').sockets.values()].find((s) => s.data?.auth?.principalId === 'mallory')!;
    expect(mallory.rooms.has('admins')).toBe(false);
    await reaches('admins', [witness]);
  });
});

// Regression guard: failed on d404c6d (the protocol checked only this node's live sockets); d75c36a refuses id-shaped rooms.
describe('catch-all policies and socket id rooms', () => {
  it('a client cannot join the id room of a socket that is away for connection-state recovery, and so never gets what is sent to it once it is back', async () => {
    await app({ clientRooms: true, rooms: [{ room: /.*/, require: true }] }, RecoveringGateway);
    const victim = await user({ token: 'victim' });
    const mallory = await user({ token: 'mallory' });
    const victimId = victim.id!;
    expect(await ask(mallory, 'join', { room: victimId })).toEqual(refused('forbidden')); // control: while it is here

    // A network blip: the victim's socket is gone for now, its id kept for recovery.
    const gone = once(victim, 'disconnect', 5000);
    (victim.io as any).engine.close();
    await gone;
    await until(() => !server().of('/').sockets.has(victimId), 5000, 'the server to forget the socket');
    const answer = await ask(mallory, 'join', { room: victimId });

    victim.connect();
    await once(victim, 'connect', 8000);
    expect({ recovered: victim.recovered, id: victim.id }).toEqual({ recovered: true, id: victimId }); // control
    expect(await authenticate(victim, { token: 'victim' })).toMatchObject({ ok: true });
    const privateToMallory = record(mallory, 'private');
    const delivered = once(victim, 'private', 5000);
    server().to(victimId).emit('private', 'for the victim only'); // how apps address one socket
    expect(await delivered).toBe('for the victim only'); // positive control
    await reaches(mallory.id!, [mallory]); // a later message to mallory: the private one would have come first
    expect({ answer, privateToMallory }).toEqual({ answer: refused('forbidden'), privateToMallory: [] });
  });
});

describe('a demoted socket that authenticates as someone else', () => {
  it('keeps none of the policed or plain rooms joined for the previous user, on a gated and a public namespace, even rooms the new user qualifies for', async () => {
    await app({}, Gateway, [PubGateway]);
    const root = connect(t!.url);
    const pub = connectNamespace(root, '/pub');
    await Promise.all([connected(root), connected(pub)]);
    expect(await authenticate(root, { token: 'alice', roles: ['admin'] })).toMatchObject({ ok: true });
    await until(
      () => t!.auth.isAuthenticated(server().of('/pub').sockets.get(pub.id!)!),
      5000,
      '/pub to join the session',
    );
    const rooms = ['admins', 'dm:alice:bob', 'lobby-1'];
    const witness = await user({ token: 'bob', roles: ['admin'] }); // bob's own device, in all three
    for (const room of rooms) expect(await t!.auth.join(socketOf(witness), room)).toBe(true);
    const pubSocket = server().of('/pub').sockets.get(pub.id!)!;
    for (const room of rooms) {
      expect(await t!.auth.join(socketOf(root), room)).toBe(true);
      expect(await t!.auth.join(pubSocket, room)).toBe(true);
    }
    await reaches('admins', [witness, root]); // control: she was in
    await reaches('dm:alice:bob', [pub], [], '/pub'); // and on the public namespace

    const told = once(root, 'unauthorized');
    expect(t!.auth.deauthenticate(socketOf(root))).toBe(true); // alice signs out of the shared computer
    expect((await told).code).toBe('deauthenticated');
    // Bob signs in on the same tab; he is an admin and in dm:alice:bob himself, but did not join anything here.
    expect(await authenticate(root, { token: 'bob', roles: ['admin'] })).toMatchObject({
      ok: true,
      user: { id: 'bob' },
    });
    await reaches(principalRoom('bob'), [root]); // control: released, as bob
    await reaches(principalRoom('bob'), [pub], [], '/pub');
    for (const room of rooms) {
      await reaches(room, [witness], [root]);
      expect({ room, pub: server().of('/pub').sockets.get(pub.id!)!.rooms.has(room) }).toEqual({ room, pub: false });
    }
  });
});

describe('room predicates that never answer', () => {
  it('a vault predicate that never settles does not hold revalidation forever: a locked account is still ended', async () => {
    await app({ revalidateInterval: false });
    const alice = await user({ token: 'alice' });
    expect(await t!.auth.join(socketOf(alice), 'vault:a')).toBe(true); // control: in while the database answers
    control.vaultHangs = true;
    void t!.auth.revalidate('alice'); // re-checks vault:a for the fresh principal: the database call hangs
    await until(() => control.hung.length === 1, 5000, 'the re-check to reach the predicate');

    // The account is locked; the admin asks again. strategyTimeout (1 s) bounds every other app call.
    control.locked.add('alice');
    const ended = once(alice, 'unauthorized', 6000).catch(() => 'never told');
    void t!.auth.revalidate('alice');
    expect(await ended).toEqual({ code: 'invalidated', message: expect.any(String) });
  });

  it('a vault predicate that never settles does not hold a refresh forever: the refresh is answered, and the next one is not in_progress', async () => {
    await app();
    const alice = await user({ token: 'alice', roles: ['a'] });
    expect(await t!.auth.join(socketOf(alice), 'vault:a')).toBe(true);
    control.vaultHangs = true;
    const first = ask(alice, 'authentication', { token: 'alice', roles: ['b'] }, 6000).catch(() => 'no answer');
    await until(() => control.hung.length === 1, 5000, 'the refresh to reach the predicate');
    expect(await first).toMatchObject({ ok: expect.any(Boolean) });
    const second = await ask(alice, 'authentication', { token: 'alice', roles: ['c'] }, 6000).catch(() => 'no answer');
    expect(second).not.toEqual(refused('in_progress'));
  });
});

describe('revocations that land in the new async windows', () => {
  it('a revoke with a grace that lands while a refresh waits on an async room re-check is not wiped by that refresh', async () => {
    await app();
    const alice = await user({ token: 'alice' });
    expect(await t!.auth.join(socketOf(alice), 'vault:a')).toBe(true);
    control.vaultHangs = true;
    // Credentials sent before the revoke: they passed the revocation store before it existed.
    const refresh = ask(alice, 'authentication', { token: 'alice', roles: ['x'] }, 8000).catch(() => 'no answer');
    await until(() => control.hung.length === 1, 5000, 'the refresh to re-check vault:a');
    const warned = once(alice, 'refresh_required', 5000);
    await t!.auth.revoke('alice', { graceMs: 1000, reason: 'password changed' });
    expect(await warned).toMatchObject({ code: 'revoked' }); // control: the grace started
    const ended = once(alice, 'unauthorized', 6000).catch(() => 'never ended');
    control.vaultHangs = false;
    control.hung.splice(0).forEach((resolve) => resolve(true)); // the database answers: she may stay in vault:a
    const answer = await refresh;
    expect({ refresh: answer?.ok === true ? 'accepted' : answer, ended: await ended }).toEqual({
      refresh: refused('revoked'),
      ended: { code: 'revoked', message: 'password changed' },
    });
  });

  it('a revoke that lands while the session limit is counted (an async limit store, as Redis) still refuses that attempt', async () => {
    const store = new GatedStore();
    await app({ maxSessionsPerPrincipal: 2, limitStore: store });
    const c = connect(t!.url);
    await connected(c);
    store.arm();
    const attempt = ask(c, 'authentication', { token: 'alice' }, 8000);
    await until(() => store.waiting === 1, 5000, 'the attempt to reach the limit store');
    await t!.auth.revoke('alice'); // "log out everywhere": credentials issued before now are dead
    store.open();
    const answer = await attempt;
    // Control: credentials presented after the revoke are fine.
    expect(await authenticate(connect(t!.url), { token: 'alice' })).toMatchObject({ ok: true });
    expect(answer?.ok === true ? 'accepted' : answer).toEqual(refused('revoked'));
  });
});

describe('maxSessionsPerPrincipal when authentications answer together', () => {
  async function race(count: number): Promise<any[]> {
    const racers = Array.from({ length: count }, () => connect(t!.url));
    await Promise.all(racers.map((c) => connected(c)));
    holdKeys();
    const acks = Promise.all(racers.map((c) => ask(c, 'authentication', { token: 'alice' }, 8000)));
    await until(() => control.keys!.waiting === count, 5000, 'every attempt to wait on the key fetch');
    control.keys!.open(); // the keys arrive: every verification answers in the same tick
    control.keys = undefined;
    return acks;
  }

  // Regression guard: failed on d404c6d (4 of 4 accepted); d75c36a counts admissions in flight.
  it("'reject': four attempts answered together for a limit of two end with two sessions, not four", async () => {
    await app({ maxSessionsPerPrincipal: 2, onSessionLimit: 'reject' });
    const acks = await race(4);
    const { sessions } = await t!.auth.sessions('alice');
    expect({
      accepted: acks.filter((a) => a.ok).length,
      refused: acks.filter((a) => !a.ok).map((a) => a.error.code),
      live: sessions.length,
    }).toEqual({ accepted: 2, refused: ['too_many_sessions', 'too_many_sessions'], live: 2 });
  });

  it("'evict-oldest': three attempts answered together for a limit of one leave one session alive", async () => {
    await app({ maxSessionsPerPrincipal: 1, onSessionLimit: 'evict-oldest' });
    const acks = await race(3);
    expect(acks.every((a) => a.ok)).toBe(true); // evict-oldest accepts the new ones
    // Evictions happen inside the new session's take, before its ack: by now they are done.
    const { sessions } = await t!.auth.sessions('alice');
    expect({ live: sessions.length, authenticated: t!.auth.stats().authenticated }).toEqual({
      live: 1,
      authenticated: 1,
    });
  });

  it('a count left behind by a crashed node, then two devices back at once: both are accepted, and the limit still holds for a third', async () => {
    // A node died holding five of alice's sessions (its count in the shared store stays until the TTL); the cluster
    // heals that from what really holds a slot. Her two devices reconnect to this node together.
    const store = new ObservedStore();
    store.add('sessions:alice', 5, 86_400_000, true);
    await app({ maxSessionsPerPrincipal: 2, onSessionLimit: 'reject', limitStore: store });
    const acks = await race(2);
    expect(acks.map((a) => a.ok)).toEqual([true, true]); // control: the drift healed for them
    const third = await authenticate(connect(t!.url), { token: 'alice' });
    const { sessions } = await t!.auth.sessions('alice');
    expect({ third: third.ok ? 'accepted' : third.error.code, live: sessions.length }).toEqual({
      third: 'too_many_sessions',
      live: 2,
    });
  });

  it('a count left behind by a crashed node does not refuse every racer: with one slot free, one of two devices gets it', async () => {
    const store = new ObservedStore();
    store.add('sessions:alice', 3, 86_400_000, true);
    await app({ maxSessionsPerPrincipal: 1, onSessionLimit: 'reject', limitStore: store });
    const acks = await race(2);
    const { sessions } = await t!.auth.sessions('alice');
    expect({ accepted: acks.filter((a) => a.ok).length, live: sessions.length }).toEqual({ accepted: 1, live: 1 });
  });

  it('control: the same attempts answering one after another respect the limit', async () => {
    await app({ maxSessionsPerPrincipal: 2, onSessionLimit: 'reject' });
    const acks = [];
    for (let i = 0; i < 4; i++) acks.push(await authenticate(connect(t!.url), { token: 'alice' }));
    expect(acks.map((a) => a.ok)).toEqual([true, true, false, false]);
  });
});

/** A LimitStore the test can read: the real in-memory store, with its totals visible. */
class ObservedStore implements LimitStore {
  private readonly inner = new MemoryLimitStore();
  readonly totals = new Map<string, number>();
  add(key: string, delta: number, ttlMs: number, refresh?: boolean): number {
    const total = this.inner.add(key, delta, ttlMs, refresh);
    this.totals.set(key, total);
    return total;
  }
  close(): void {
    this.inner.close();
  }
}

/** The in-memory store answering like a remote one; when armed, new session counts wait until the test opens it. */
class GatedStore implements LimitStore {
  private readonly inner = new MemoryLimitStore();
  private gate?: { ready: Promise<void>; open(): void };
  waiting = 0;
  arm(): void {
    let open!: () => void;
    const ready = new Promise<void>((resolve) => (open = resolve));
    this.gate = { ready, open };
  }
  open(): void {
    this.gate?.open();
    this.gate = undefined;
  }
  async add(key: string, delta: number, ttlMs: number, refresh?: boolean): Promise<number> {
    const gate = this.gate;
    if (gate && key.startsWith('sessions:') && delta > 0) {
      this.waiting++;
      await gate.ready;
    }
    return this.inner.add(key, delta, ttlMs, refresh);
  }
  close(): void {
    this.open();
    this.inner.close();
  }
}

describe('the session count, whichever way a session ends', () => {
  it('disconnect, timeout, revoke, expiry, deauthenticate, end() and shutdown each give the slot back: the count returns to zero and a full set is accepted again', async () => {
    const store = new ObservedStore();
    const options = {
      maxSessionsPerPrincipal: 2,
      limitStore: store,
      timeout: 1500,
      revalidateInterval: false,
    } as Partial<AuthSocketModuleOptions>;
    await app(options);
    const count = (): number => store.totals.get('sessions:alice') ?? 0;

    /** Two sessions accepted, a third refused: the count is neither high nor low. */
    async function full(credentials: object = {}): Promise<ClientSocket[]> {
      const two = [await user({ token: 'alice', ...credentials }), await user({ token: 'alice', ...credentials })];
      const third = connect(t!.url);
      expect((await authenticate(third, { token: 'alice' })).error?.code).toBe('too_many_sessions');
      expect(count()).toBe(2);
      return two;
    }
    const settled = (what: string) => until(() => count() === 0 && t!.auth.stats().authenticated === 0, 5000, what);

    let [a, b] = await full();
    a.disconnect();
    b.disconnect();
    await settled('disconnects to give the slots back');

    await full();
    await t!.auth.revoke('alice');
    await settled('revoke to give the slots back');

    [a, b] = await full({ ttlMs: 1500 }); // onExpiry 'end' (the default)
    await Promise.all([once(a, 'unauthorized', 5000), once(b, 'unauthorized', 5000)]);
    await settled('expiry to give the slots back');

    [a, b] = await full();
    const [sa, sb] = [socketOf(a), socketOf(b)];
    expect([t!.auth.deauthenticate(sa), t!.auth.deauthenticate(sb)]).toEqual([true, true]);
    await settled('deauthenticate to give the slots back');
    // Demoted sockets stay connected until their timeout (1.5 s): no slot while pending, none after.
    await Promise.all([once(a, 'disconnect', 5000), once(b, 'disconnect', 5000)]);
    expect(count()).toBe(0);

    [a, b] = await full();
    for (const c of [a, b]) expect(await t!.auth.end(sessionIdOf(c))).toEqual({ ended: true, complete: true });
    await settled('end() to give the slots back');

    await full();
    const closing = t!;
    t = undefined;
    await closing.close(); // shutdown, with the app's store outliving it
    closeClients();
    expect(count()).toBe(0);
    await app(options); // a new node on the same store
    await full();
  });
});

/** The session id the client was told (`authenticated` carries it; `data.auth` holds it server-side). */
function sessionIdOf(c: ClientSocket): string {
  return socketOf(c).data.auth.sessionId;
}

describe('session ids and the session view', () => {
  it('after deauthenticate and re-authentication as another user the session id is new: end() of the old user’s id does not end the new user', async () => {
    await app();
    const c = connect(t!.url);
    const asAlice = await authenticate(c, { token: 'alice' });
    const aliceSession = asAlice.sessionId as string;
    expect((await t!.auth.sessions('alice')).sessions.map((s) => s.id)).toEqual([aliceSession]); // control
    const told = once(c, 'unauthorized');
    expect(t!.auth.deauthenticate(socketOf(c))).toBe(true); // alice logs out of the shared computer
    expect((await told).code).toBe('deauthenticated');
    const asBob = await authenticate(c, { token: 'bob' });
    expect(asBob).toMatchObject({ ok: true, user: { id: 'bob' } });
    // Alice's account page still lists her old device, and "sign out that device" sends its id.
    const result = await t!.auth.end(aliceSession, 'signed out by alice');
    const server_side = socketOf(c);
    const bobStillIn = !!server_side && t!.auth.isAuthenticated(server_side);
    expect({ bobsId: asBob.sessionId === aliceSession ? 'alice’s id' : 'a new id', result, bobStillIn }).toEqual({
      bobsId: 'a new id',
      result: { ended: false, complete: true },
      bobStillIn: true,
    });
  });

  it('sessions() lists only that principal’s sessions with only the documented fields; end() refuses malformed ids and ends nothing for unknown ones', async () => {
    await app();
    const alice = await user(
      { token: 'alice', roles: ['admin'] },
      { extraHeaders: { 'user-agent': 'x'.repeat(1000) } },
    );
    const bob = await user({ token: 'bob', roles: ['secret-role'] });
    const { sessions, complete } = await t!.auth.sessions('alice');
    expect(complete).toBe(true);
    expect(sessions).toHaveLength(1);
    expect(Object.keys(sessions[0]).sort()).toEqual(
      ['address', 'authenticatedAt', 'id', 'namespaces', 'node', 'userAgent'].sort(),
    );
    expect(sessions[0].userAgent).toHaveLength(256);
    expect(JSON.stringify(sessions)).not.toMatch(/secret-role|admin|bob/);
    for (const id of ['', 'alice', `${sessions[0].node}.zzzz`, '__proto__', 'constructor'])
      if (id === '') await expect(t!.auth.end(id)).rejects.toThrow(/non-empty string/);
      else expect(await t!.auth.end(id)).toEqual({ ended: false, complete: true });
    await expect(t!.auth.end(42 as any)).rejects.toThrow(/non-empty string/);
    await expect(t!.auth.sessions({ toString: () => 'alice' } as any)).rejects.toThrow(/non-empty string/);
    await reaches('nestjs-socket-auth:principal:alice', [alice]);
    await reaches('nestjs-socket-auth:principal:bob', [bob]);
  });
});

describe('teardown', () => {
  it('after app.close() with policed rooms, predicates still running, protocol joins waiting and counted sessions, nothing is left', async () => {
    const store = new ObservedStore();
    await app({ clientRooms: true, maxSessionsPerPrincipal: 3, limitStore: store });
    const alice = await user({ token: 'alice', roles: ['admin'] });
    void socketOf(alice).join('admins');
    expect(await t!.auth.join(socketOf(alice), 'vault:open')).toBe(true);
    control.vaultHangs = true;
    const pendingJoin = t!.auth.join(socketOf(alice), 'vault:hangs');
    const clientJoin = ask(alice, 'join', { room: 'vault:client' }, 8000).catch(() => 'no answer');
    await until(() => control.hung.length === 2, 5000, 'both predicates to be running');
    const pending = connect(t!.url);
    await connected(pending);
    const closing = t!;
    t = undefined;
    await closing.close();
    closeClients();
    control.hung.splice(0).forEach((resolve) => resolve(true)); // the database answers after the app is gone
    expect(await pendingJoin).toBe(false);
    expect(await clientJoin).toBe('no answer');
    expect(nonZero(closing.auth.resourceCounts())).toEqual({});
    expect(store.totals.get('sessions:alice') ?? 0).toBe(0);
  });
});

// ── the throttler guard, in its own process (see test/rooms/process/throttler-app.ts for why) ────────────────

const THROTTLED_APP = fileURLToPath(new URL('./process/throttled-proxy-app.ts', import.meta.url));

describe('SocketThrottlerGuard behind a trusted proxy', () => {
  let child: ChildProcess | undefined;
  afterEach(async () => {
    closeClients();
    if (child) await stopNode(child);
    child = undefined;
  });

  it('anonymous sockets are throttled per client address (trustProxy), not all together as the proxy’s address', async () => {
    const started = await spawnTs(THROTTLED_APP, { LIMIT: '2' }, /^\{"port":(\d+)\}$/m);
    child = started.child;
    const url = `http://127.0.0.1:${started.match[1]}`;
    const via = (address: string): ClientSocket => connect(url, { extraHeaders: { 'x-forwarded-for': address } });
    const first = via('203.0.113.1');
    const second = via('203.0.113.2');
    await Promise.all([connected(first), connected(second)]);
    const pings = async (c: ClientSocket, n: number): Promise<unknown[]> => {
      const out = [];
      for (let i = 0; i < n; i++) out.push(await ask(c, 'ping', undefined, 5000));
      return out;
    };
    expect(await pings(first, 3)).toEqual(['pong', 'pong', refused('rate_limited')]); // control: the limit is on
    // Control: the library itself sees the forwarded address (the session view's address).
    expect(await authenticate(second, { token: 'bob-token' })).toMatchObject({ ok: true });
    expect(await ask(second, 'my-addresses', undefined, 5000)).toEqual(['203.0.113.2']);
    // Another client behind the same proxy has its own budget.
    const third = via('203.0.113.3');
    await connected(third);
    expect(await pings(third, 1)).toEqual(['pong']);
  });
});
