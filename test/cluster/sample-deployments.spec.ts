/**
 * The sample as its two other deployments start it: `npm run start:cluster`
 * (node:cluster workers on one port, sticky sessions, cluster adapter) and
 * `REDIS_ADAPTER=streams` (the Redis streams adapter), each in real processes.
 */
import { stripVTControlCharacters } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { closeClients, connect, freePort, once, sleep } from '../support/harness.js';
import { REDIS_URL, describeWithRedis } from './redis.js';
import { spawnTs, stopNode } from './topology.js';

const CLUSTER = fileURLToPath(new URL('../../sample/cluster.ts', import.meta.url));
const MAIN = fileURLToPath(new URL('../../sample/main.ts', import.meta.url));

async function login(url: string, user: string): Promise<string> {
  const res = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user, password: `${user}-secret` }),
  });
  return (await res.json()).token;
}

/** A chat client, retried like a real one when a connection through the sticky primary never completes (see topology.ts). */
async function joinChat(url: string, token: string, transports = ['websocket']) {
  for (let attempt = 1; ; attempt++) {
    const socket = connect(url, { transports });
    const ready = once(socket, 'authenticated', 5000);
    socket.emit('authentication', { token });
    try {
      await ready;
      return socket;
    } catch (err) {
      socket.disconnect();
      if (attempt === 3) throw err;
    }
  }
}

/** The pid of the process whose ChatGateway logged "<user> joined" (Nest prints its pid on every line). */
function joinedOn(output: string, user: string): string | undefined {
  const plain = stripVTControlCharacters(output); // Nest colours its log lines
  return plain.match(new RegExp(`\\[Nest\\] (\\d+)[^\\n]*\\[ChatGateway\\] ${user} joined`))?.[1];
}

const suite = await describeWithRedis();

suite('the sample deployed', () => {
  const children: ChildProcess[] = [];
  afterEach(async () => {
    closeClients();
    await Promise.all(children.splice(0).map(stopNode));
  });

  it('npm run start:cluster: two workers on one port are one chat, a long-polling client included, and logout revokes on every worker', async () => {
    const port = await freePort();
    const { child, output } = await spawnTs(
      CLUSTER,
      { PORT: String(port), WORKERS: '2', AUTH_SECRET: 'cluster-test-secret' },
      /chat on http:\/\/localhost:\d+ \(2 workers/,
    );
    children.push(child);
    const url = `http://127.0.0.1:${port}`;
    const aliceToken = await login(url, 'alice');
    const alice = await joinChat(url, aliceToken, ['polling']);
    const bob = await joinChat(url, await login(url, 'bob'));
    await sleep(200); // let both "joined" lines arrive
    const [alicePid, bobPid] = [joinedOn(output.text, 'alice'), joinedOn(output.text, 'bob')];
    expect(alicePid).toBeDefined();
    expect(bobPid).toBeDefined();
    expect(alicePid).not.toBe(bobPid); // least-connection placed them on different workers

    const bobGets = once(bob, 'chat:message');
    expect(await alice.timeout(3000).emitWithAck('chat:send', { text: 'over polling, across workers' })).toEqual({
      ok: true,
    });
    expect(await bobGets).toEqual({
      user: 'Alice',
      text: 'over polling, across workers',
    });
    const aliceGets = once(alice, 'chat:message');
    await bob.timeout(3000).emitWithAck('chat:send', { text: 'back again' });
    expect(await aliceGets).toEqual({ user: 'Bob', text: 'back again' });

    const told = once(alice, 'unauthorized');
    const res = await fetch(`${url}/auth/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${aliceToken}` },
    });
    expect(res.status).toBe(200);
    expect((await told).code).toBe('revoked');
    await sleep(100);
    expect(bob.connected).toBe(true);
  }, 60_000);

  it('REDIS_ADAPTER=streams: two instances are one chat through a Redis stream', async () => {
    const stream = createClient({ url: REDIS_URL });
    await stream.connect();
    try {
      const ports = await Promise.all([freePort(), freePort()]);
      const started = await Promise.all(
        ports.map((port) =>
          spawnTs(
            MAIN,
            { PORT: String(port), REDIS_URL, REDIS_ADAPTER: 'streams', AUTH_SECRET: 'streams-test-secret' },
            /clustered through Redis streams/,
          ),
        ),
      );
      children.push(...started.map((s) => s.child));
      const [one, two] = ports.map((p) => `http://127.0.0.1:${p}`);
      const alice = await joinChat(one, await login(two, 'alice'));
      const bob = await joinChat(two, await login(one, 'bob'));
      const entriesBefore = await stream.xLen('socket.io');
      const bobGets = once(bob, 'chat:message');
      await alice.timeout(3000).emitWithAck('chat:send', { text: 'through the stream' });
      expect(await bobGets).toEqual({ user: 'Alice', text: 'through the stream' });
      expect(await stream.xLen('socket.io')).toBeGreaterThan(entriesBefore); // the broadcast went through the stream
    } finally {
      await stream.quit();
    }
  }, 60_000);
});
