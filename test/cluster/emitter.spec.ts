/**
 * Notifications from a process that is not a socket.io server (a background
 * job) through @socket.io/redis-emitter: they reach authenticated sockets on
 * every node and never a pending one; to(principalRoom(id)) reaches all of one
 * principal's sockets.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { authenticate, closeClients, connect, connected, once, record, sleep } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';
import { ChatGateway } from './chat.gateway.js';
import { type ClusterNode, startNode, uniqueKey } from './nodes.js';
import { REDIS_URL, describeWithRedis } from './redis.js';

const JOB = fileURLToPath(new URL('./process/notify-job.ts', import.meta.url));
const TS_REGISTER = fileURLToPath(new URL('./process/ts-register.mjs', import.meta.url));

const suite = await describeWithRedis();

suite('a background job notifying through @socket.io/redis-emitter', () => {
  let nodes: ClusterNode[];
  let key: string;
  const runJob = (job: object) =>
    promisify(execFile)(process.execPath, ['--import', TS_REGISTER, JOB], {
      env: { ...process.env, REDIS_URL, KEY: key, JOB: JSON.stringify(job) },
      timeout: 20_000,
    });

  beforeAll(async () => {
    key = uniqueKey('emitter');
    nodes = await Promise.all(
      [0, 1, 2].map(() => startNode(key, { ...tokenAuth, timeout: 10_000 }, { providers: [ChatGateway] })),
    );
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.app.close()));
  });

  it('a broadcast from the job reaches authenticated sockets on every node and no pending socket', async () => {
    const authed = nodes.map((n) => connect(n.url));
    await Promise.all(authed.map((s, i) => authenticate(s, { token: i === 1 ? 'bob-token' : 'alice-token' })));
    const pending = [connect(nodes[1].url), connect(nodes[2].url)];
    await Promise.all(pending.map((s) => connected(s)));
    const pendingSeen = pending.map((s) => record(s, 'news'));
    const got = authed.map((s) => once(s, 'news', 10_000));
    await runJob({ event: 'news', payload: 'from the job' });
    expect(await Promise.all(got)).toEqual(['from the job', 'from the job', 'from the job']);
    await sleep(150);
    expect(pendingSeen).toEqual([[], []]);
    expect(pending.every((s) => s.connected)).toBe(true);
  }, 30_000);

  it('emitter.to(principalRoom(id)) reaches every socket of that principal on every node, and no one else', async () => {
    const alice = [connect(nodes[0].url), connect(nodes[2].url), connect(nodes[2].url)];
    const bob = connect(nodes[1].url);
    await Promise.all([
      ...alice.map((s) => authenticate(s, { token: 'alice-token' })),
      authenticate(bob, { token: 'bob-token' }),
    ]);
    const bobSeen = record(bob, 'dm');
    const got = alice.map((s) => once(s, 'dm', 10_000));
    await runJob({ principalId: 'alice', event: 'dm', payload: 'your export is ready' });
    expect(await Promise.all(got)).toEqual(Array(3).fill('your export is ready'));
    await sleep(150);
    expect(bobSeen).toEqual([]);
    expect(bob.connected).toBe(true);
  }, 30_000);
});
