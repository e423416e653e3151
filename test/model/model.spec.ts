/**
 * Model-based test: random command sequences against a real Nest app with two
 * gated namespaces and real socket.io clients, checked against a simple model
 * after every command. `npm run test:model -- --runs N --seed S` runs longer.
 */
import fc from 'fast-check';
import { sleep } from '../support/harness.js';
import {
  AuthenticateCmd,
  BroadcastCmd,
  ConnectCmd,
  DeauthenticateCmd,
  DirectAckCmd,
  DisconnectCmd,
  DropCmd,
  GuardedCmd,
  RevokeCmd,
  stats,
} from './commands.js';
import {
  DeauthenticateDuringRefreshCmd,
  DisconnectDuringAttemptCmd,
  ExpireCmd,
  GuardedDuringAuthCmd,
  JoinDuringAuthCmd,
  RevokeDuringAttemptCmd,
} from './races.js';
import { Model } from './model.js';
import { type Config, NSPS, PRINCIPALS, System } from './system.js';

const RUNS = Number(process.env.MODEL_RUNS ?? 25);
const SEED = Number(process.env.MODEL_SEED ?? 20260901);
const MAX_COMMANDS = Number(process.env.MODEL_MAX_COMMANDS ?? 15);
const CLIENTS = 2;
/** Per configuration: generous, since a failure is shrunk by re-running sequences on fresh apps. */
const TIMEOUT = Math.max(180_000, RUNS * MAX_COMMANDS * 600);

const client = fc.integer({ min: 0, max: CLIENTS - 1 });
const nsp = fc.constantFrom(...NSPS);
const principal = fc.constantFrom(...PRINCIPALS);
const connectCmd = fc.tuple(client, nsp).map(([c, n]) => new ConnectCmd(c, n));
const credential = fc.constantFrom('alice', 'bob', 'alice', 'bob', 'invalid') as fc.Arbitrary<
  'alice' | 'bob' | 'invalid'
>;
const authenticateCmd = fc.tuple(client, nsp, credential).map(([c, n, p]) => new AuthenticateCmd(c, n, p));
// Listed more than once: most interesting states need a connected, authenticated socket first.
export const modelCommands = [
  connectCmd,
  connectCmd,
  authenticateCmd,
  authenticateCmd,
  authenticateCmd,
  fc.tuple(client, nsp, principal).map(([c, n, p]) => new AuthenticateCmd(c, n, p, 'refresh')),
  fc.tuple(client, nsp).map(([c, n]) => new GuardedCmd(c, n)),
  fc.tuple(client, nsp).map(([c, n]) => new DirectAckCmd(c, n)),
  fc.tuple(client, nsp, credential).map(([c, n, p]) => new GuardedDuringAuthCmd(c, n, p)),
  fc.tuple(nsp, fc.option(principal, { nil: undefined })).map(([n, p]) => new BroadcastCmd(n, p)),
  fc.tuple(client, nsp).map(([c, n]) => new DeauthenticateCmd(c, n)),
  fc.tuple(client, nsp).map(([c, n]) => new DeauthenticateDuringRefreshCmd(c, n)),
  fc.tuple(client, nsp, principal, fc.boolean()).map(([c, n, p, h]) => new ExpireCmd(c, n, p, h)),
  principal.map((p) => new RevokeCmd(p)),
  fc.tuple(client, nsp, principal).map(([c, n, p]) => new RevokeDuringAttemptCmd(c, n, p)),
  fc.tuple(client, nsp, credential).map(([c, n, p]) => new DisconnectDuringAttemptCmd(c, n, p)),
  fc.tuple(client, nsp).map(([c, n]) => new DisconnectCmd(c, n)),
  client.map((c) => new DropCmd(c)),
  fc
    .tuple(client, nsp, principal, fc.constantFrom('strategy', 'hooks') as fc.Arbitrary<'strategy' | 'hooks'>)
    .map(([c, n, p, d]) => new JoinDuringAuthCmd(c, n, p, d)),
];

let sequences = 0;

/** One sequence on a fresh app; ends with every client gone and checks nothing is left behind. */
async function runSequence(config: Config, cmds: Iterable<fc.AsyncCommand<Model, System>>): Promise<void> {
  sequences++;
  const system = await System.start(config, CLIENTS);
  try {
    // Both clients start connected on '/', so most commands apply from the first step.
    const model = new Model(config, CLIENTS);
    for (let c = 0; c < CLIENTS; c++) await new ConnectCmd(c, '/').run(model, system);
    await fc.asyncModelRun(() => ({ model, real: system }), cmds);
    if (process.env.MODEL_TRACE) process.stderr.write(`${JSON.stringify(config)}: ${String(cmds)}\n`);
    for (const c of system.clients) for (const n of NSPS) c.sockets[n].sock.disconnect();
    const deadline = Date.now() + 2000;
    // Gone means the connections too, not only the namespace sockets.
    while (
      (system.io.engine.clientsCount > 0 || NSPS.some((n) => system.nsp(n).sockets.size > 0)) &&
      Date.now() < deadline
    )
      await sleep(5);
    const counts = system.t.auth.resourceCounts();
    const leftover = Object.entries(counts).filter(([name, v]) => v !== 0 && name !== 'connectionListeners');
    if (leftover.length)
      throw new Error(`resources left once every client has gone: ${JSON.stringify(Object.fromEntries(leftover))}`);
  } finally {
    await system.close();
  }
}

const onExpiry = fc.constantFrom('disconnect', 'reauthenticate') as fc.Arbitrary<Config['onExpiry']>;
const configs: Array<Pick<Config, 'scope' | 'recovery'>> = [
  { scope: 'connection', recovery: false },
  { scope: 'connection', recovery: true },
  { scope: 'namespace', recovery: false },
  { scope: 'namespace', recovery: true },
];

describe('model-based: sessions, rooms and broadcasts stay consistent under random command sequences', () => {
  afterAll(() =>
    process.stderr.write(
      `model: ${sequences} sequences, ${stats.commands} commands run (${RUNS} per configuration, seeds ${SEED}..${SEED + configs.length - 1})\n`,
    ),
  );

  it.each(configs.map((c, i) => [c.scope, c.recovery, i] as const))(
    'scope %s, recovery %s',
    async (scope, recovery, i) => {
      await fc.assert(
        fc.asyncProperty(
          onExpiry,
          fc.boolean(),
          fc.commands(modelCommands, {
            maxCommands: MAX_COMMANDS,
            size: 'max',
            replayPath: process.env.MODEL_REPLAY_PATH,
          }),
          (expiry, handshake, cmds) => runSequence({ scope, recovery, onExpiry: expiry, handshake }, cmds),
        ),
        {
          numRuns: RUNS,
          // A seed per configuration, so each explores its own sequences; a replay gives the printed seed as is.
          seed: process.env.MODEL_PATH ? SEED : SEED + i,
          path: process.env.MODEL_PATH,
          endOnFailure: process.env.MODEL_NO_SHRINK === '1',
        },
      );
    },
    TIMEOUT,
  );
});
