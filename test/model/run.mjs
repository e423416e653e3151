#!/usr/bin/env node
// Runs the model-based test longer than CI does:
//   npm run test:model -- --runs 500 --seed 42 [--commands 25] [--no-shrink] [--trace]
// Replaying a failure printed as `{ seed: S, path: "P" }` ... `/*replayPath="R"*/` under "scope namespace, recovery true",
// with the same --runs and --commands as the run that found it:
//   npm run test:model -- --runs N --seed S --path P --replay-path R --only "scope namespace, recovery true"
// Options reach the spec through environment variables; jest runs only that spec.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const env = { ...process.env };
let only;
const names = { '--runs': 'MODEL_RUNS', '--seed': 'MODEL_SEED', '--commands': 'MODEL_MAX_COMMANDS' };
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  const [flag, inline] = arg.split('=');
  if (names[flag]) {
    const value = inline ?? args[++i];
    if (!/^\d+$/.test(value ?? '')) {
      console.error(`${flag} needs a whole number`);
      process.exit(2);
    }
    env[names[flag]] = value;
  } else if (flag === '--path') {
    env.MODEL_PATH = inline ?? args[++i];
  } else if (flag === '--replay-path') {
    env.MODEL_REPLAY_PATH = inline ?? args[++i];
  } else if (flag === '--only') {
    only = inline ?? args[++i];
  } else if (arg === '--trace') {
    env.MODEL_TRACE = '1'; // prints every sequence as it ran
  } else if (arg === '--no-shrink') {
    env.MODEL_NO_SHRINK = '1';
  } else {
    console.error(
      `unknown option ${arg} (use --runs N, --seed S, --commands N, --path P, --replay-path R, --only NAME, --trace, --no-shrink)`,
    );
    process.exit(2);
  }
}
const result = spawnSync(
  process.execPath,
  [
    '--experimental-vm-modules',
    'node_modules/jest/bin/jest.js',
    '--runTestsByPath',
    'test/model/model.spec.ts',
    '--testTimeout',
    String(24 * 3600 * 1000),
    ...(only ? ['-t', only] : []),
  ],
  { cwd: root, env, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
