/**
 * The opt-in client room protocol (`clientRooms: true`): the client emits
 * `join {room}` / `leave {room}` with an ack, and only policed rooms the
 * principal qualifies for can be entered that way. Membership is checked with
 * real broadcasts (a member gets it; an outsider gets a later message on its
 * own id room and not the broadcast).
 */
import { Injectable } from '@nestjs/common';
import { WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import {
  type AuthOutcome,
  type AuthPrincipal,
  type AuthSocketModuleOptions,
  type AuthStrategy,
  principalRoom,
  type RoomPolicy,
} from '../../lib/index.js';
import { authenticate, closeClients, connect, connected, createApp, type TestApp, until } from '../support/harness.js';

/** `{ token: id, roles?, delayMs?, fail? }` → that principal after `delayMs`; `bad` is refused. */
@Injectable()
class RoleStrategy implements AuthStrategy {
  async authenticate(credentials: any): Promise<AuthPrincipal | null> {
    if (credentials?.delayMs) await new Promise((r) => setTimeout(r, credentials.delayMs));
    const id = credentials?.token;
    if (typeof id !== 'string' || id === 'bad') return null;
    return { id, roles: credentials.roles ?? [] };
  }
}

@WebSocketGateway()
class Gateway {
  @WebSocketServer() server!: Server;
}

/** An async predicate the test answers. */
const slow: Array<{ principalId: string; room: string; answer(ok: boolean): void }> = [];

const ROOMS: RoomPolicy[] = [
  { room: 'admins', require: { roles: ['admin'] } },
  { room: 'lobby', require: true },
  { room: /^long:/, require: true },
  {
    room: /^slow:/,
    require: (principal, { room }) =>
      new Promise<boolean>((answer) => slow.push({ principalId: principal.id, room, answer })),
  },
];

let t: TestApp;

async function app(options: Partial<AuthSocketModuleOptions> = {}): Promise<TestApp> {
  return createApp(
    { strategy: RoleStrategy, timeout: 5000, rooms: ROOMS, clientRooms: true, ...options } as AuthSocketModuleOptions,
    { providers: [Gateway] },
  );
}

const server = (): Server => t.app.get(Gateway).server;
const socketOf = (c: ClientSocket): Socket => server().of('/').sockets.get(c.id!)!;

async function user(credentials: object): Promise<ClientSocket> {
  const c = connect(t.url);
  expect(await authenticate(c, credentials)).toMatchObject({ ok: true });
  return c;
}

const ask = (c: ClientSocket, event: string, payload?: unknown, ms = 5000): Promise<any> =>
  payload === undefined ? c.timeout(ms).emitWithAck(event) : c.timeout(ms).emitWithAck(event, payload);

const refused = (code: string): object => ({ ok: false, error: { code, message: expect.any(String) } });

let probes = 0;
/** Broadcasts to `room`: every member gets it; every outsider gets a later message to its own id room, not the broadcast. */
async function reaches(room: string, members: ClientSocket[], outsiders: ClientSocket[] = []): Promise<void> {
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
  server().to(room).emit('probe', { n, kind: 'room' });
  for (const o of outsiders) server().to(o.id!).emit('probe', { n, kind: 'fence' });
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

afterEach(async () => {
  closeClients();
  await t?.close();
  slow.length = 0;
});

describe('join and leave', () => {
  it('join answers { ok: true, room } and the socket is in the room; leave answers the same and it is out', async () => {
    t = await app();
    const alice = await user({ token: 'alice', roles: ['admin'] });
    const bob = await user({ token: 'bob' });
    expect(await ask(alice, 'join', { room: 'admins' })).toEqual({ ok: true, room: 'admins' });
    expect(await ask(bob, 'join', { room: 'lobby' })).toEqual({ ok: true, room: 'lobby' });
    expect(await ask(alice, 'join', { room: 'lobby' })).toEqual({ ok: true, room: 'lobby' });
    await reaches('admins', [alice], [bob]);
    await reaches('lobby', [alice, bob]);

    expect(await ask(bob, 'leave', { room: 'lobby' })).toEqual({ ok: true, room: 'lobby' });
    await reaches('lobby', [alice], [bob]);
  });

  it("forbidden when the policy refuses or no policy matches; reported room_refused via 'client'", async () => {
    t = await app();
    const outcomes: AuthOutcome[] = [];
    t.auth.outcomes.subscribe((o) => outcomes.push(o));
    const alice = await user({ token: 'alice', roles: ['admin'] });
    const bob = await user({ token: 'bob' });
    void socketOf(alice).join('plain'); // an unpoliced room the server put her in
    expect(await ask(bob, 'join', { room: 'admins' })).toEqual(refused('forbidden'));
    expect(await ask(bob, 'join', { room: 'plain' })).toEqual(refused('forbidden'));
    expect(await ask(alice, 'join', { room: 'admins' })).toEqual({ ok: true, room: 'admins' }); // control
    await reaches('admins', [alice], [bob]);
    await reaches('plain', [alice], [bob]);
    expect(outcomes.filter((o) => o.type === ('room_refused' as string))).toEqual([
      { type: 'room_refused', socketId: bob.id, namespace: '/', principalId: 'bob', room: 'admins', via: 'client' },
      { type: 'room_refused', socketId: bob.id, namespace: '/', principalId: 'bob', room: 'plain', via: 'client' },
    ]);
  });

  it('a join that needs an async predicate is answered once it decides', async () => {
    t = await app();
    const alice = await user({ token: 'alice' });
    const bob = await user({ token: 'bob' });
    let answered = false;
    const joining = ask(alice, 'join', { room: 'slow:1' }).then((r) => ((answered = true), r));
    await until(() => slow.length === 1, 5000, 'the predicate to be asked');
    await reaches('slow:1', [], [alice, bob]); // not in while the predicate runs
    expect(answered).toBe(false);
    slow.shift()!.answer(true);
    expect(await joining).toEqual({ ok: true, room: 'slow:1' });
    const refusedJoin = ask(bob, 'join', { room: 'slow:1' });
    await until(() => slow.length === 1, 5000, 'the predicate to be asked again');
    slow.shift()!.answer(false);
    expect(await refusedJoin).toEqual(refused('forbidden'));
    await reaches('slow:1', [alice], [bob]);
  });

  it('leave of a room the protocol could not have joined is forbidden, and the socket stays in it', async () => {
    t = await app();
    const alice = await user({ token: 'alice' });
    const bob = await user({ token: 'bob' });
    void socketOf(alice).join('plain');
    expect(await ask(alice, 'leave', { room: 'plain' })).toEqual(refused('forbidden'));
    expect(await ask(alice, 'leave', { room: alice.id })).toEqual(refused('forbidden'));
    expect(await ask(alice, 'leave', { room: principalRoom('alice') })).toEqual(refused('forbidden'));
    await reaches('plain', [alice], [bob]);
    await reaches(alice.id!, [alice], [bob]);
    await reaches(principalRoom('alice'), [alice], [bob]);
  });
});

describe('who may use it', () => {
  it('a pending socket gets unauthenticated; a join sent while an attempt is in flight waits for it', async () => {
    t = await app();
    const member = await user({ token: 'root' });
    void socketOf(member).join('lobby');
    const pending = connect(t.url);
    await connected(pending);
    expect(await ask(pending, 'join', { room: 'lobby' })).toEqual(refused('unauthenticated'));

    const slowAuth = connect(t.url);
    await connected(slowAuth);
    const authed = slowAuth.timeout(5000).emitWithAck('authentication', { token: 'carol', delayMs: 400 });
    const joined = ask(slowAuth, 'join', { room: 'lobby' });
    expect(await joined).toEqual({ ok: true, room: 'lobby' });
    expect(await authed).toMatchObject({ ok: true });

    const failing = connect(t.url);
    await connected(failing);
    const failed = failing.timeout(5000).emitWithAck('authentication', { token: 'bad', delayMs: 300 });
    expect(await ask(failing, 'join', { room: 'lobby' })).toEqual(refused('unauthenticated'));
    expect((await failed).ok).toBe(false);
    await reaches('lobby', [member, slowAuth]);
  });
});

describe('joins waiting on an async predicate', () => {
  it('a socket may have 8 in flight; the next is refused with rate_limited until one is answered', async () => {
    t = await app();
    const alice = await user({ token: 'alice' });
    const waiting = Array.from({ length: 8 }, (_, i) => ask(alice, 'join', { room: `slow:${i}` }, 8000));
    await until(() => slow.length === 8, 5000, 'eight predicates asked');
    expect(await ask(alice, 'join', { room: 'slow:8' })).toEqual(refused('rate_limited'));
    for (const s of slow.splice(0)) s.answer(true);
    expect(await Promise.all(waiting)).toEqual(Array.from({ length: 8 }, (_, i) => ({ ok: true, room: `slow:${i}` })));
    const ninth = ask(alice, 'join', { room: 'slow:8' });
    await until(() => slow.length === 1, 5000, 'the ninth predicate asked');
    slow.shift()!.answer(true);
    expect(await ninth).toEqual({ ok: true, room: 'slow:8' });
    await reaches('slow:8', [alice]);
  });
});

describe('payloads', () => {
  it.each([
    ['a bare string', 'lobby'],
    ['an array', ['lobby']],
    ['null', null],
    ['a number', 7],
    ['a room that is not a string', { room: 42 }],
    ['an empty room', { room: '' }],
    ['a room over 200 characters', { room: `long:${'x'.repeat(196)}` }],
    ['a huge room name (100 000 characters)', { room: `long:${'x'.repeat(100_000)}` }],
  ])('%s is refused with bad_request', async (_name, payload) => {
    t = await app();
    const alice = await user({ token: 'alice' });
    expect(await ask(alice, 'join', payload)).toEqual(refused('bad_request'));
    expect(await ask(alice, 'leave', payload)).toEqual(refused('bad_request'));
    expect(alice.connected).toBe(true);
    expect(await ask(alice, 'join', { room: 'lobby' })).toEqual({ ok: true, room: 'lobby' }); // control
    await reaches('lobby', [alice]);
  });

  it('a room of exactly 200 characters is accepted; no payload at all (only the ack) is bad_request', async () => {
    t = await app();
    const alice = await user({ token: 'alice' });
    const room = `long:${'x'.repeat(195)}`;
    expect(room).toHaveLength(200);
    expect(await ask(alice, 'join', { room })).toEqual({ ok: true, room });
    expect(await ask(alice, 'join')).toEqual(refused('bad_request'));
    await reaches(room, [alice]);
  });

  it('without an ack, join still enters the room and a bad payload is ignored without harm', async () => {
    t = await app();
    const alice = await user({ token: 'alice' });
    const bob = await user({ token: 'bob' });
    alice.emit('join', 'garbage');
    alice.emit('join', { room: 'admins' }); // forbidden, silently
    alice.emit('join', { room: 'lobby' });
    await until(() => socketOf(alice).rooms.has('lobby'), 5000, 'the join without an ack');
    await reaches('lobby', [alice], [bob]);
    await reaches('admins', [], [alice]);
    alice.emit('leave', { room: 'lobby' });
    await until(() => !socketOf(alice).rooms.has('lobby'), 5000, 'the leave without an ack');
    expect(await ask(bob, 'join', { room: 'lobby' })).toEqual({ ok: true, room: 'lobby' });
    await reaches('lobby', [bob], [alice]);
  });
});

describe('rooms the protocol never grants', () => {
  it("even with a catch-all policy, a client cannot join its own id room, another socket's id room or a principal room", async () => {
    t = await app({ rooms: [{ room: /.*/, require: true }] });
    const alice = await user({ token: 'alice' });
    const bob = await user({ token: 'bob' });
    expect(await ask(alice, 'join', { room: alice.id })).toEqual(refused('forbidden'));
    expect(await ask(alice, 'join', { room: bob.id })).toEqual(refused('forbidden'));
    expect(await ask(alice, 'join', { room: principalRoom('bob') })).toEqual(refused('forbidden'));
    expect(await ask(alice, 'join', { room: 'anything' })).toEqual({ ok: true, room: 'anything' }); // control: the policy lets her in elsewhere
    await reaches(bob.id!, [bob], [alice]);
    await reaches(principalRoom('bob'), [bob], [alice]);
    await reaches('anything', [alice], [bob]);
    // Nor leave its own id room or its principal room: direct emits keep reaching it.
    expect(await ask(alice, 'leave', { room: alice.id })).toEqual(refused('forbidden'));
    expect(await ask(alice, 'leave', { room: principalRoom('alice') })).toEqual(refused('forbidden'));
    await reaches(alice.id!, [alice], [bob]);
    await reaches(principalRoom('alice'), [alice], [bob]);
  });
});

describe('clientRooms off', () => {
  it('join and leave do nothing without clientRooms (no answer, no room); with it on the same emit joins', async () => {
    t = await app({ clientRooms: false });
    const alice = await user({ token: 'alice' });
    const witness = await user({ token: 'root' });
    void socketOf(witness).join('lobby');
    await expect(ask(alice, 'join', { room: 'lobby' }, 1500)).rejects.toThrow(/timed out/);
    await reaches('lobby', [witness], [alice]);
    void socketOf(alice).join('lobby');
    await expect(ask(alice, 'leave', { room: 'lobby' }, 1500)).rejects.toThrow(/timed out/);
    await reaches('lobby', [witness, alice]); // the leave did nothing either
    await t.close();

    t = await app({ clientRooms: true });
    const on = await user({ token: 'alice' });
    expect(await ask(on, 'join', { room: 'lobby' })).toEqual({ ok: true, room: 'lobby' });
    await reaches('lobby', [on]);
  });

  it('the event names can be renamed with events.join and events.leave', async () => {
    t = await app({ events: { join: 'enter', leave: 'exit' } } as Partial<AuthSocketModuleOptions>);
    const alice = await user({ token: 'alice' });
    const bob = await user({ token: 'bob' });
    await expect(ask(alice, 'join', { room: 'lobby' }, 1500)).rejects.toThrow(/timed out/);
    expect(await ask(alice, 'enter', { room: 'lobby' })).toEqual({ ok: true, room: 'lobby' });
    expect(await ask(bob, 'enter', { room: 'lobby' })).toEqual({ ok: true, room: 'lobby' });
    expect(await ask(bob, 'exit', { room: 'lobby' })).toEqual({ ok: true, room: 'lobby' });
    await reaches('lobby', [alice], [bob]);
  });
});
