/**
 * The sample's rooms and devices over real HTTP and socket.io: team rooms
 * (members only) joined through the client protocol, direct-message rooms
 * (the pair only), an admin taking a user out of a team live, the devices
 * view with its sign-out, and the per-user session limit. Every refusal has
 * a positive control beside it; every "did not get it" waits for a message
 * the same socket did get after it.
 */
import type { ManagerOptions, SocketOptions } from 'socket.io-client';
import type { Socket as ClientSocket } from 'socket.io-client';
import { AuthSocketService, principalRoom } from '../../lib/index.js';
import { ChatGateway } from '../../sample/chat.gateway.js';
import { closeClients, connect, once, record } from '../support/harness.js';
import { claims, loginFull, refresh, startSample, type Login, type Sample } from './sample-app.js';

const env = { ...process.env };
beforeAll(() => {
  for (const name of ['REDIS_URL', 'MAX_SESSIONS_PER_USER', 'TOKEN_TTL_SECONDS', 'REVALIDATE_INTERVAL_MS'])
    delete process.env[name];
});
afterEach(() => closeClients());
afterAll(() => {
  process.env = env;
});

interface Device {
  socket: ClientSocket;
  /** The authentication ack: `{ ok, user, sessionId, expiresAt }`. */
  reply: any;
  login: Login;
  token: string;
}

/** A socket on `/` authenticated with `token` (a fresh login's by default), sending `agent` as its User-Agent. */
async function device(
  sample: Sample,
  user: string,
  { login, token, agent }: { login?: Login; token?: string; agent?: string } = {},
): Promise<Device> {
  login ??= await loginFull(sample.url, user);
  token ??= login.token;
  const options: Partial<ManagerOptions & SocketOptions> = agent ? { extraHeaders: { 'user-agent': agent } } : {};
  const socket = connect(sample.url, options);
  await once(socket, 'connect');
  const reply = await socket.timeout(3000).emitWithAck('authentication', { token });
  if (!reply.ok) throw new Error(`${user} was refused: ${reply.error.code}`);
  return { socket, reply, login, token };
}

const join = (socket: ClientSocket, room: unknown) => socket.timeout(3000).emitWithAck('join', { room });
const leave = (socket: ClientSocket, room: string) => socket.timeout(3000).emitWithAck('leave', { room });
const say = (socket: ClientSocket, room: string, text: string) =>
  socket.timeout(3000).emitWithAck('room:send', { room, text });
const dm = (socket: ClientSocket, to: string, text: string) =>
  socket.timeout(3000).emitWithAck('dm:send', { to, text });
const chat = (socket: ClientSocket, text: string) => socket.timeout(3000).emitWithAck('chat:send', { text });

/** The first `room:message` (or `chat:message`) with this text. */
function heard(socket: ClientSocket, text: string, event = 'room:message'): Promise<any> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} "${text}" within 3000 ms`)), 3000);
    const listener = (message: { text?: string }) => {
      if (message?.text !== text) return;
      clearTimeout(timer);
      socket.off(event, listener);
      resolve(message);
    };
    socket.on(event, listener);
  });
}

/**
 * The positive control of a "never got it": `socket` now hears a broadcast
 * sent after the one it must not have got (the server writes to one socket in
 * order), so an empty `seen` means refused, not late.
 */
async function settled(socket: ClientSocket, sender: ClientSocket): Promise<void> {
  const text = `control ${Math.random()}`;
  const got = heard(socket, text, 'chat:message');
  expect(await chat(sender, text)).toEqual({ ok: true });
  await got;
  expect(socket.connected).toBe(true);
}

/** The socket ids in `room`, from the server. */
async function inRoom(sample: Sample, room: string): Promise<string[]> {
  const sockets = await sample.app.get(ChatGateway).server.in(room).fetchSockets();
  return sockets.map((s) => s.id).sort();
}

function http(sample: Sample, method: string, path: string, token?: string, headers: Record<string, string> = {}) {
  return fetch(`${sample.url}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
}

describe('team rooms through the client protocol', () => {
  let sample: Sample;
  beforeAll(async () => {
    sample = await startSample();
  });
  afterAll(() => sample.close());

  it('a member joins their team room; another team, an unpoliced room and a malformed request are refused, while the same socket joins its own', async () => {
    const bob = await device(sample, 'bob');
    const carol = await device(sample, 'carol');
    expect(bob.reply.user).toEqual({ id: 'bob', name: 'Bob', roles: [], teams: ['red'] });

    expect(await join(bob.socket, 'team:blue')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await join(carol.socket, 'team:red')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    // Only policed rooms can be joined by clients: a plain socket.io room, or the module's own, is refused.
    expect(await join(bob.socket, 'lobby')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await join(bob.socket, principalRoom('carol'))).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await join(bob.socket, 42)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(await inRoom(sample, 'team:blue')).toEqual([]);
    expect(await inRoom(sample, principalRoom('carol'))).toEqual([carol.socket.id]);

    // Controls: each joins their own team.
    expect(await join(bob.socket, 'team:red')).toEqual({ ok: true, room: 'team:red' });
    expect(await join(carol.socket, 'team:blue')).toEqual({ ok: true, room: 'team:blue' });
    expect(await inRoom(sample, 'team:red')).toEqual([bob.socket.id]);
    expect(await inRoom(sample, 'team:blue')).toEqual([carol.socket.id]);
  });

  it("room:send reaches the room's members only; a room the socket is not in is refused, and so is its own id room", async () => {
    const [alice, bob, carol] = [
      await device(sample, 'alice'),
      await device(sample, 'bob'),
      await device(sample, 'carol'),
    ];
    for (const [member, room] of [
      [alice, 'team:red'],
      [bob, 'team:red'],
      [carol, 'team:blue'],
    ] as const)
      expect(await join(member.socket, room)).toMatchObject({ ok: true });
    const carolSeen = record(carol.socket, 'room:message');
    const toBob = heard(bob.socket, 'for red');
    const toAlice = heard(alice.socket, 'for red');

    expect(await say(alice.socket, 'team:red', 'for red')).toEqual({ ok: true });
    expect(await toBob).toEqual({ room: 'team:red', user: 'Alice', text: 'for red' });
    await toAlice;
    await settled(carol.socket, alice.socket);
    expect(carolSeen).toEqual([]);

    // Not in the room: refused on the ack, and nobody hears it.
    const bobSeen = record(bob.socket, 'room:message');
    expect(await say(carol.socket, 'team:red', 'sneaking in')).toEqual({
      ok: false,
      error: { code: 'forbidden', message: 'You are not in this room' },
    });
    expect(await say(bob.socket, 'team:blue', 'sneaking in')).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect(await say(bob.socket, bob.socket.id!, 'to myself')).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect(await say(bob.socket, 'team:red', '')).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    await settled(bob.socket, carol.socket);
    expect(bobSeen).toEqual([]);
    // Control: carol writes to her own team and hears it.
    const own = heard(carol.socket, 'for blue');
    expect(await say(carol.socket, 'team:blue', 'for blue')).toEqual({ ok: true });
    expect(await own).toEqual({ room: 'team:blue', user: 'Carol', text: 'for blue' });
  });

  it('leave takes the socket out of its team room (messages to it stop), and only policed rooms can be left this way', async () => {
    const alice = await device(sample, 'alice');
    const bob = await device(sample, 'bob');
    await join(alice.socket, 'team:red');
    await join(bob.socket, 'team:red');
    expect(await leave(bob.socket, 'lobby')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await leave(bob.socket, 'team:red')).toEqual({ ok: true, room: 'team:red' });
    const bobSeen = record(bob.socket, 'room:message');
    const own = heard(alice.socket, 'after bob left');
    expect(await say(alice.socket, 'team:red', 'after bob left')).toEqual({ ok: true });
    await own;
    await settled(bob.socket, alice.socket);
    expect(bobSeen).toEqual([]);
    expect(await say(bob.socket, 'team:red', 'gone')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    // Control: he may join again, and hears the room again.
    expect(await join(bob.socket, 'team:red')).toEqual({ ok: true, room: 'team:red' });
    const back = heard(bob.socket, 'welcome back');
    await say(alice.socket, 'team:red', 'welcome back');
    await back;
  });
});

describe('direct messages', () => {
  let sample: Sample;
  beforeAll(async () => {
    sample = await startSample();
  });
  afterAll(() => sample.close());

  it("a DM puts both users' sockets (every tab) in dm:<a>:<b> and reaches only them; replies go to the room; a third user can neither join nor write to it", async () => {
    const alice = await device(sample, 'alice');
    const carolTabs = [await device(sample, 'carol'), await device(sample, 'carol')];
    const bob = await device(sample, 'bob');
    const bobSeen = record(bob.socket, 'room:message');
    const toCarol = carolTabs.map((tab) => heard(tab.socket, 'hi carol'));
    const echo = heard(alice.socket, 'hi carol');

    expect(await dm(alice.socket, 'carol', 'hi carol')).toEqual({ ok: true, room: 'dm:alice:carol' });
    for (const message of await Promise.all(toCarol))
      expect(message).toEqual({ room: 'dm:alice:carol', user: 'Alice', text: 'hi carol' });
    await echo;
    expect(await inRoom(sample, 'dm:alice:carol')).toEqual(
      [alice.socket.id!, ...carolTabs.map((t) => t.socket.id!)].sort(),
    );

    // Carol answers in the room the DM put her in.
    const reply = heard(alice.socket, 'hi alice');
    expect(await say(carolTabs[1].socket, 'dm:alice:carol', 'hi alice')).toEqual({ ok: true });
    expect(await reply).toEqual({ room: 'dm:alice:carol', user: 'Carol', text: 'hi alice' });

    // Bob: not through the protocol, not by writing to it, not by the unsorted name of the same pair.
    expect(await join(bob.socket, 'dm:alice:carol')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await join(bob.socket, 'dm:carol:alice')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await join(carolTabs[0].socket, 'dm:carol:alice')).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect(await say(bob.socket, 'dm:alice:carol', 'let me in')).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    // Nor by the server itself: socketsJoin() is checked like every way in (control: his own DM room with alice).
    const server = sample.app.get(ChatGateway).server;
    server.in(principalRoom('bob')).socketsJoin(['dm:alice:carol', 'dm:alice:bob']);
    expect(await inRoom(sample, 'dm:alice:carol')).not.toContain(bob.socket.id);
    expect(await inRoom(sample, 'dm:alice:bob')).toEqual([bob.socket.id]);
    await settled(bob.socket, alice.socket);
    expect(bobSeen).toEqual([]);
    // Control: carol's page may join her DM room through the protocol (after a reconnection, say).
    expect(await join(carolTabs[0].socket, 'dm:alice:carol')).toEqual({ ok: true, room: 'dm:alice:carol' });
  });

  it('a DM to nobody, to oneself or without text is refused on the ack, and joins no room', async () => {
    const alice = await device(sample, 'alice');
    expect(await dm(alice.socket, 'mallory', 'hello?')).toEqual({
      ok: false,
      error: { code: 'bad_request', message: 'No such user' },
    });
    expect(await dm(alice.socket, 'alice', 'me')).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(await dm(alice.socket, 'bob', '   ')).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(await inRoom(sample, 'dm:alice:mallory')).toEqual([]);
    expect(await inRoom(sample, 'dm:alice:bob')).toEqual([]);
    // Control: a real DM, even with bob offline, joins the sender.
    expect(await dm(alice.socket, 'bob', 'when you are back')).toEqual({ ok: true, room: 'dm:alice:bob' });
    expect(await inRoom(sample, 'dm:alice:bob')).toEqual([alice.socket.id]);
  });
});

describe('an admin changing teams, live', () => {
  let sample: Sample;
  let admin: string;
  beforeAll(async () => {
    sample = await startSample();
    admin = (await loginFull(sample.url, 'alice')).token;
  });
  afterAll(() => sample.close());

  it('the team routes are for admins: no token 401, a user 403, a cross-origin request 403; unknown users 404, bad team names 400', async () => {
    const bob = (await loginFull(sample.url, 'bob')).token;
    expect((await http(sample, 'GET', '/admin/users')).status).toBe(401);
    expect((await http(sample, 'GET', '/admin/users', bob)).status).toBe(403);
    expect((await http(sample, 'DELETE', '/admin/users/carol/teams/blue', bob)).status).toBe(403);
    expect((await http(sample, 'GET', '/admin/users', admin, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await http(sample, 'PUT', '/admin/users/mallory/teams/red', admin)).status).toBe(404);
    expect((await http(sample, 'PUT', '/admin/users/bob/teams/Not%20A%20Team', admin)).status).toBe(400);
    // Control: the admin's list, unchanged by the refused calls above.
    const res = await http(sample, 'GET', '/admin/users', admin);
    expect(res.status).toBe(200);
    expect((await res.json()).users).toEqual([
      { id: 'alice', name: 'Alice', roles: ['admin'], teams: ['red'] },
      { id: 'bob', name: 'Bob', roles: [], teams: ['red'] },
      { id: 'carol', name: 'Carol', roles: [], teams: ['blue'] },
    ]);
  });

  it("taken out of red, bob's tabs leave team:red at once (room_left forbidden, authenticated with his new teams), red's messages stop reaching him and he may not join again; put back, he may", async () => {
    const alice = await device(sample, 'alice', { token: admin });
    const bobTabs = [await device(sample, 'bob'), await device(sample, 'bob')];
    const carol = await device(sample, 'carol');
    for (const member of [alice, ...bobTabs]) expect(await join(member.socket, 'team:red')).toMatchObject({ ok: true });
    expect(await join(carol.socket, 'team:blue')).toMatchObject({ ok: true });
    // Control: before, bob hears red.
    const before = bobTabs.map((tab) => heard(tab.socket, 'before'));
    await say(alice.socket, 'team:red', 'before');
    await Promise.all(before);
    const carolLeft = record(carol.socket, 'room_left');
    const aliceLeft = record(alice.socket, 'room_left');

    const left = bobTabs.map((tab) => once(tab.socket, 'room_left'));
    const told = bobTabs.map((tab) => once(tab.socket, 'authenticated'));
    const res = await http(sample, 'DELETE', '/admin/users/bob/teams/red', admin);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      user: { id: 'bob', name: 'Bob', roles: [], teams: [] },
      revalidated: 2,
      complete: true,
    });
    // Out of the room by the time the route answered.
    expect(await inRoom(sample, 'team:red')).toEqual([alice.socket.id]);
    for (const payload of await Promise.all(left))
      expect(payload).toEqual({ room: 'team:red', code: 'forbidden', message: expect.any(String) });
    for (const payload of await Promise.all(told)) expect(payload.user).toMatchObject({ id: 'bob', teams: [] });

    const bobSeen = bobTabs.map((tab) => record(tab.socket, 'room:message'));
    const own = heard(alice.socket, 'after');
    expect(await say(alice.socket, 'team:red', 'after')).toEqual({ ok: true });
    await own;
    for (const tab of bobTabs) await settled(tab.socket, alice.socket);
    expect(bobSeen).toEqual([[], []]);
    expect(await join(bobTabs[0].socket, 'team:red')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await say(bobTabs[0].socket, 'team:red', 'still here?')).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    // Still logged in, still chatting; nobody else left a room.
    expect(await chat(bobTabs[1].socket, 'bob, demoted, still chats')).toEqual({ ok: true });
    expect(carolLeft).toEqual([]);
    expect(aliceLeft).toEqual([]);
    expect(await inRoom(sample, 'team:blue')).toEqual([carol.socket.id]);

    // Put back: his sessions hear the new teams, and may join again.
    const again = once(bobTabs[0].socket, 'authenticated');
    const put = await http(sample, 'PUT', '/admin/users/bob/teams/red', admin);
    expect(put.status).toBe(200);
    expect((await again).user.teams).toEqual(['red']);
    expect(await join(bobTabs[0].socket, 'team:red')).toEqual({ ok: true, room: 'team:red' });
    const welcome = heard(bobTabs[0].socket, 'welcome back');
    await say(alice.socket, 'team:red', 'welcome back');
    await welcome;
  });

  it('a user added to a team may join its room from then on, without logging in again', async () => {
    const bob = await device(sample, 'bob');
    expect(await join(bob.socket, 'team:blue')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    const told = once(bob.socket, 'authenticated');
    expect((await http(sample, 'PUT', '/admin/users/bob/teams/blue', admin)).status).toBe(200);
    expect((await told).user.teams).toEqual(['blue', 'red']);
    expect(await join(bob.socket, 'team:blue')).toEqual({ ok: true, room: 'team:blue' });
    expect((await http(sample, 'DELETE', '/admin/users/bob/teams/blue', admin)).status).toBe(200);
  });
});

describe('the devices view', () => {
  let sample: Sample;
  let service: AuthSocketService;
  beforeAll(async () => {
    sample = await startSample();
    service = sample.app.get(AuthSocketService);
  });
  afterAll(() => sample.close());

  /** A second tab of the same browser: the same refresh cookie, a token of its own from it. */
  async function secondTab(sample: Sample, of: Device, agent: string): Promise<Device> {
    const res = await refresh(sample.url, of.login.cookie);
    expect(res.status).toBe(200);
    return device(sample, claims(of.token).sub, { login: of.login, token: (await res.json()).token, agent });
  }

  it("GET /auth/sessions lists the caller's live sessions (node, namespaces, address, user agent, times, the ids the acks gave, the browser) and no one else's", async () => {
    const since = Date.now();
    const laptop = await device(sample, 'alice', { agent: 'laptop-browser' });
    const laptopTab = await secondTab(sample, laptop, 'laptop-browser');
    const phone = await device(sample, 'alice', { agent: 'phone-browser' });
    const bob = await device(sample, 'bob', { agent: 'bob-browser' });
    for (const d of [laptop, laptopTab, phone, bob]) expect(d.reply.sessionId).toEqual(expect.any(String));

    const res = await http(sample, 'GET', '/auth/sessions', phone.token);
    expect(res.status).toBe(200);
    const { sessions, complete } = await res.json();
    expect(complete).toBe(true);
    const byId = new Map<string, any>(sessions.map((s: any) => [s.id, s]));
    expect([...byId.keys()].sort()).toEqual([laptop, laptopTab, phone].map((d) => d.reply.sessionId).sort());
    for (const d of [laptop, laptopTab, phone]) {
      const row = byId.get(d.reply.sessionId);
      expect(row).toEqual({
        id: d.reply.sessionId,
        node: expect.any(String),
        namespaces: ['/'],
        address: expect.stringMatching(/127\.0\.0\.1$/),
        userAgent: d === phone ? 'phone-browser' : 'laptop-browser',
        authenticatedAt: expect.any(Number),
        expiresAt: claims(d.token).exp * 1000,
        browser: expect.any(String),
      });
      expect(row.authenticatedAt).toBeGreaterThanOrEqual(since);
      expect(row.authenticatedAt).toBeLessThanOrEqual(Date.now());
    }
    // The two tabs of the laptop are one browser; the phone is another. The label is not the login's id.
    expect(byId.get(laptop.reply.sessionId).browser).toBe(byId.get(laptopTab.reply.sessionId).browser);
    expect(byId.get(phone.reply.sessionId).browser).not.toBe(byId.get(laptop.reply.sessionId).browser);
    expect(byId.get(laptop.reply.sessionId).browser).not.toBe(claims(laptop.login.cookie.split('=')[1]).jti);

    // Bob sees his own only.
    const bobs = await (await http(sample, 'GET', '/auth/sessions', bob.token)).json();
    expect(bobs.sessions.map((s: any) => s.id)).toEqual([bob.reply.sessionId]);
    // No token, a refresh token as the bearer, a cross-origin request: refused.
    expect((await http(sample, 'GET', '/auth/sessions')).status).toBe(401);
    expect((await http(sample, 'GET', '/auth/sessions', laptop.login.cookie.split('=')[1])).status).toBe(401);
    expect((await http(sample, 'GET', '/auth/sessions', phone.token, { 'sec-fetch-site': 'cross-site' })).status).toBe(
      403,
    );
  });

  it("signing out a device: another user's session id is 404 and ends nothing; the caller's other device ends with both its tabs, its cookie and tokens are refused from then on; the caller's own device goes on", async () => {
    const phone = await device(sample, 'alice', { agent: 'phone-browser' });
    const laptop = await device(sample, 'alice', { agent: 'laptop-browser' });
    const laptopTab = await secondTab(sample, laptop, 'laptop-browser');
    const bob = await device(sample, 'bob');
    const phoneTold = record(phone.socket, 'unauthorized');
    const bobTold = record(bob.socket, 'unauthorized');

    // Session ids are not secrets: bob ending alice's is refused as if it did not exist.
    expect((await http(sample, 'POST', `/auth/sessions/${laptop.reply.sessionId}/end`, bob.token)).status).toBe(404);
    expect((await http(sample, 'POST', '/auth/sessions/no-such-session/end', phone.token)).status).toBe(404);
    expect((await http(sample, 'POST', `/auth/sessions/${laptop.reply.sessionId}/end`)).status).toBe(401);
    expect(await chat(laptop.socket, 'laptop still here')).toEqual({ ok: true });
    expect((await refresh(sample.url, laptop.login.cookie)).status).toBe(200);

    const told = [laptop, laptopTab].map((d) => once(d.socket, 'unauthorized'));
    const gone = [laptop, laptopTab].map((d) => once(d.socket, 'disconnect'));
    const res = await http(sample, 'POST', `/auth/sessions/${laptop.reply.sessionId}/end`, phone.token);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toEqual({ ok: true, ended: expect.any(Array), complete: true });
    expect(body.ended.sort()).toEqual([laptop.reply.sessionId, laptopTab.reply.sessionId].sort());
    for (const payload of await Promise.all(told))
      expect(payload).toEqual({ code: 'revoked', message: 'Signed out from another device' });
    await Promise.all(gone);

    // The laptop cannot come back without the password: its cookie, and the tokens its tabs held, are refused.
    expect((await refresh(sample.url, laptop.login.cookie)).status).toBe(401);
    for (const token of [laptop.token, laptopTab.token])
      await expect(device(sample, 'alice', { login: laptop.login, token })).rejects.toThrow('revoked');

    // Controls: the phone and bob go on, the phone's cookie works, the list has the phone alone, and the laptop
    // logs in again with the password.
    expect(await chat(phone.socket, 'phone still here')).toEqual({ ok: true });
    expect(phoneTold).toEqual([]);
    expect(bobTold).toEqual([]);
    expect(bob.socket.connected).toBe(true);
    expect((await refresh(sample.url, phone.login.cookie)).status).toBe(200);
    expect((await service.sessions('alice')).sessions.map((s) => s.id)).toEqual([phone.reply.sessionId]);
    const again = await device(sample, 'alice', { agent: 'laptop-browser' });
    const listed = await (await http(sample, 'GET', '/auth/sessions', phone.token)).json();
    expect(listed.sessions.map((s: any) => s.id).sort()).toEqual([phone.reply.sessionId, again.reply.sessionId].sort());
  });
});

describe('sessions per user (maxSessionsPerPrincipal 5, evict-oldest)', () => {
  let sample: Sample;
  beforeAll(async () => {
    sample = await startSample();
  });
  afterAll(() => sample.close());

  it("a sixth session signs the user's oldest out with revoked; five are allowed, and the others and other users' stay", async () => {
    const carol = [];
    for (let i = 0; i < 5; i++) carol.push(await device(sample, 'carol'));
    const bob = await device(sample, 'bob');
    const told = carol.map((d) => record(d.socket, 'unauthorized'));
    const bobTold = record(bob.socket, 'unauthorized');
    // Control: five at once are allowed (the fifth evicted nobody).
    for (const d of carol) expect(d.socket.connected).toBe(true);
    expect((await sample.app.get(AuthSocketService).sessions('carol')).sessions).toHaveLength(5);

    const evicted = once(carol[0].socket, 'unauthorized');
    const gone = once(carol[0].socket, 'disconnect');
    const sixth = await device(sample, 'carol');
    expect(sixth.reply).toMatchObject({ ok: true, user: { id: 'carol' } });
    expect(await evicted).toMatchObject({ code: 'revoked', message: expect.any(String) });
    await gone;
    for (const d of [...carol.slice(1), sixth]) expect(await chat(d.socket, 'still here')).toEqual({ ok: true });
    expect(told.slice(1)).toEqual([[], [], [], []]);
    expect(bobTold).toEqual([]);
    expect((await sample.app.get(AuthSocketService).sessions('carol')).sessions.map((s) => s.id).sort()).toEqual(
      [...carol.slice(1), sixth].map((d) => d.reply.sessionId).sort(),
    );
  });
});
