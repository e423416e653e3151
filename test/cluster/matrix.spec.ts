/**
 * The adapter matrix: the same gating, revoke, principal-room and fetchSockets
 * scenarios on @socket.io/redis-adapter, @socket.io/redis-streams-adapter, and
 * @socket.io/cluster-adapter with node:cluster workers behind @socket.io/sticky.
 */
import { clusterScenarios } from './scenarios.js';
import { type AdapterKind, type Topology, startTopology } from './topology.js';
import { describeWithRedis } from './redis.js';

const suite = await describeWithRedis();
const adapters: Array<[string, AdapterKind]> = [
  ['@socket.io/redis-adapter (three Nest apps)', 'redis'],
  ['@socket.io/redis-streams-adapter (three Nest apps)', 'streams'],
  ['@socket.io/cluster-adapter (three node:cluster workers, sticky, one port)', 'cluster'],
];

suite.each(adapters)('on %s', (_name, kind) => {
  let topology: Topology;
  beforeAll(async () => {
    topology = await startTopology(kind);
  }, 60_000);
  afterAll(() => topology?.close());

  clusterScenarios(() => topology);
});
