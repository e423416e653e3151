/**
 * Builds the throwaway consumer apps for consumer.spec.ts: packs the repository
 * as `npm publish` would, installs the tarball from a path into a fresh app
 * directory, and writes two apps that share that install: one ESM, one
 * CommonJS shaped like the Nest CLI's template.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const fixture = fileURLToPath(new URL('./fixture/src/', import.meta.url));
/** The README's quick start files, as the README shows them (test/docs checks they match). */
const quickstart = fileURLToPath(new URL('../../docs/quickstart/src/', import.meta.url));
const run = promisify(execFile);

export interface PackResult {
  tarball: string;
  files: string[];
}

/** Runs a command for its stdout; on failure the error carries all its output, so a compile error reads as one. */
export async function sh(cmd: string, args: string[], cwd: string, timeout = 90_000): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, {
      cwd,
      timeout,
      maxBuffer: 32 * 1024 * 1024,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    return stdout;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`, {
      cause: err,
    });
  }
}

/**
 * `npm pack` on a copy of the repository, so the build its prepack runs never
 * touches the dist/ other suites use. The copy has everything but build output
 * and installs, so a `files` mistake still shows in the tarball.
 */
export async function pack(work: string): Promise<PackResult> {
  const stage = join(work, 'stage');
  const skip = new Set(['node_modules', 'dist', '.git', 'coverage']);
  cpSync(repoRoot, stage, {
    recursive: true,
    filter: (src) => {
      const rel = relative(repoRoot, src);
      return !skip.has(rel.split('/')[0]!) && !rel.endsWith('.tgz') && !rel.startsWith('test/browser/artifacts');
    },
  });
  symlinkSync(realpathSync(join(repoRoot, 'node_modules')), join(stage, 'node_modules'));
  const out = await sh('npm', ['pack', '--json', '--pack-destination', work], stage);
  const [info] = JSON.parse(out) as [{ filename: string; files: { path: string }[] }];
  return { tarball: join(work, info.filename), files: info.files.map((f) => f.path).sort() };
}

/**
 * A fresh app directory, with what `nest new` installs, plus the tarball and
 * what the README's install lines add: the Redis pub/sub adapter (and not the
 * streams one, whose absence must not break nestjs-socket-auth/redis), the
 * recipe's Passport packages, express-session, and vitest as the Nest 12 CLI's
 * ESM template has it. The tarball's required peers (@nestjs/websockets,
 * @nestjs/platform-socket.io) are deliberately not listed: npm must bring them
 * in itself, and socket.io with them, once. socket.io-client is the app's own.
 */
export async function install(work: string, tarball: string): Promise<string> {
  const apps = join(work, 'apps');
  mkdirSync(apps);
  const dependencies = {
    '@nestjs/common': '^12.0.0',
    '@nestjs/core': '^12.0.0',
    '@nestjs/platform-express': '^12.0.0',
    'reflect-metadata': '^0.2.0',
    rxjs: '^7.8.0',
    'nestjs-socket-auth': `file:${tarball}`,
    'socket.io-client': '^4.8.0',
    '@socket.io/redis-adapter': '^8.3.0',
    redis: '^6.0.0',
    '@nestjs/passport': '^12.0.0',
    passport: '^0.7.0',
    'passport-jwt': '^4.0.1',
    'express-session': '^1.18.0',
  };
  const devDependencies = {
    typescript: '~6.0.0',
    ts7: 'npm:typescript@^7',
    '@types/node': '^20.19.0',
    '@types/passport-jwt': '^4.0.1',
    '@types/express-session': '^1.18.0',
    '@nestjs/testing': '^12.0.0',
    vitest: '^4.1.2',
    'vite-tsconfig-paths': '^5.1.4',
  };
  writeFileSync(
    join(apps, 'package.json'),
    JSON.stringify({ name: 'consumer-apps', private: true, dependencies, devDependencies }, null, 2),
  );
  // --prefer-offline: the shared npm cache answers when it can; the registry fills gaps.
  await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], apps, 120_000);
  return apps;
}

/** Strict everywhere, and library declarations checked: skipLibCheck off. */
const strict = {
  strict: true,
  skipLibCheck: false,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  outDir: './dist',
  rootDir: './src',
};

export const appShapes = {
  esm: {
    packageJson: { type: 'module' },
    compilerOptions: {
      ...strict,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'ES2023',
      isolatedModules: true,
    },
  },
  // The Nest CLI template's tsconfig: a CommonJS package compiled with module nodenext.
  cjs: {
    packageJson: {},
    compilerOptions: {
      ...strict,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      resolvePackageJsonExports: true,
      esModuleInterop: true,
      isolatedModules: true,
      declaration: true,
      removeComments: true,
      allowSyntheticDefaultImports: true,
      target: 'ES2023',
      sourceMap: true,
      forceConsistentCasingInFileNames: true,
    },
  },
} as const;

export function writeApp(apps: string, shape: keyof typeof appShapes): string {
  const dir = join(apps, shape);
  mkdirSync(dir);
  cpSync(fixture, join(dir, 'src'), { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: `consumer-${shape}`, private: true, ...appShapes[shape].packageJson }),
  );
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: appShapes[shape].compilerOptions, include: ['src'] }, null, 2),
  );
  return dir;
}

/**
 * The Nest 12 CLI's ESM template (`nest new`, @nestjs/schematics 12: "type":
 * "module", its tsconfig and vitest.config.ts, strict on), with the README's
 * quick start files as its src/.
 */
export function writeCliApp(apps: string): string {
  const dir = join(apps, 'cli');
  mkdirSync(dir);
  cpSync(quickstart, join(dir, 'src'), { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'quickstart', private: true, type: 'module', scripts: { test: 'vitest run' } }, null, 2),
  );
  const compilerOptions = {
    module: 'nodenext',
    moduleResolution: 'nodenext',
    resolvePackageJsonExports: true,
    esModuleInterop: true,
    isolatedModules: true,
    declaration: true,
    removeComments: true,
    emitDecoratorMetadata: true,
    experimentalDecorators: true,
    allowSyntheticDefaultImports: true,
    target: 'ES2023',
    sourceMap: true,
    outDir: './dist',
    rootDir: '.',
    incremental: true,
    skipLibCheck: true,
    strict: true,
    strictPropertyInitialization: false,
    types: ['vitest/globals', 'node'],
  };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions }, null, 2));
  writeFileSync(
    join(dir, 'vitest.config.ts'),
    [
      "import { defineConfig } from 'vitest/config';",
      "import tsconfigPaths from 'vite-tsconfig-paths';",
      '',
      'export default defineConfig({',
      '  plugins: [tsconfigPaths()],',
      "  test: { globals: true, root: './', include: ['**/*.spec.ts'], exclude: ['dist/**', 'node_modules/**'] },",
      '});',
      '',
    ].join('\n'),
  );
  return dir;
}

/** TypeScript 6 (the repository's) or 7 (the registry's current major), from the app's own install. */
export function tsc(apps: string, major: 6 | 7, dir: string, ...extra: string[]): Promise<string> {
  const bin = join(apps, 'node_modules', major === 7 ? 'ts7' : 'typescript', 'bin', 'tsc');
  return sh(process.execPath, [bin, '-p', join(dir, 'tsconfig.json'), ...extra], dir);
}

export interface StartedApp {
  url: string;
  stop(): Promise<void>;
}

/** Starts the compiled app and waits for the port it prints. */
export function startApp(
  dir: string,
  { entry = 'dist/main.js', port = /listening (\d+)/, env = {} as Record<string, string> } = {},
): Promise<StartedApp> {
  const child: ChildProcess = spawn(process.execPath, [entry], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', ...env },
  });
  let output = '';
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => void stop().then(() => reject(new Error(`app did not start:\n${output}`))), 20_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const found = port.exec(output)?.[1];
      if (found) {
        clearTimeout(timer);
        resolve({ url: `http://127.0.0.1:${found}`, stop });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`app exited with ${code}:\n${output}`));
    });
  });
}

/**
 * Runs tasks one at a time. The compiles are CPU-bound; in parallel they would
 * starve the timing-sensitive suites jest runs in its other worker.
 */
let queue: Promise<unknown> = Promise.resolve();
export function serial<T>(task: () => Promise<T>): Promise<T> {
  const result = queue.then(task);
  queue = result.catch(() => undefined);
  return result;
}

/**
 * `describe`, or `describe.skip` with one clear line when the npm registry is
 * unreachable outside CI. In CI an unreachable registry is a failure.
 */
export async function describeWithRegistry(): Promise<jest.Describe> {
  const registry = (await sh('npm', ['config', 'get', 'registry'], repoRoot, 10_000)).trim();
  const reachable = await fetch(new URL('typescript', registry.endsWith('/') ? registry : `${registry}/`), {
    method: 'HEAD',
    signal: AbortSignal.timeout(5000),
  }).then(
    (r) => r.ok,
    () => false,
  );
  if (reachable) return describe;
  if (process.env.CI)
    throw new Error(
      `the consumer test needs the npm registry at ${registry} (CI is set, so this fails instead of skipping)`,
    );
  console.warn(`consumer test skipped: the npm registry at ${registry} is unreachable`);
  return describe.skip;
}

export function makeWorkDir(): string {
  return mkdtempSync(join(tmpdir(), 'nsa-consumer-'));
}

/** Every file under dir, relative to it. */
export function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(join(dir, e.name), base) : [relative(base, join(dir, e.name))],
  );
}
