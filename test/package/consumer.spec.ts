/**
 * The package as users get it: `npm pack`, installed by path into two new
 * Nest 12 apps (ESM, and CommonJS as the Nest CLI generates), compiled under
 * strict with library checks on, started, and checked with socket.io-client.
 * Needs the npm registry (or a warm npm cache).
 */
import { jest } from '@jest/globals';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import {
  describeWithRegistry,
  install,
  listFiles,
  makeWorkDir,
  pack,
  serial,
  sh,
  startApp,
  tsc,
  writeApp,
  writeCliApp,
  type PackResult,
  type StartedApp,
} from './consumer-kit.js';

// Per test: a compile test may wait for its turn in the queue. The install is paid in beforeAll.
jest.setTimeout(90_000);

const suite = await describeWithRegistry();

let work: string;
let packed: PackResult;
let apps: string;
let installed: string;
const dirs: Record<'esm' | 'cjs', string> = { esm: '', cjs: '' };
const compiled: Record<'esm' | 'cjs', Promise<string>> = {} as never;
const checkedWithTs7: Record<'esm' | 'cjs', Promise<string>> = {} as never;
let commonjsModule: Promise<string>;
let cliDir: string;
let cliCompiled: Promise<string>;

suite('the package as users get it', () => {
  beforeAll(async () => {
    work = makeWorkDir();
    packed = await pack(work);
    apps = await install(work, packed.tarball);
    installed = join(apps, 'node_modules', 'nestjs-socket-auth');
    dirs.esm = writeApp(apps, 'esm');
    dirs.cjs = writeApp(apps, 'cjs');
    // Every compile is queued now, in the order the tests need them; each test awaits its own.
    for (const shape of ['esm', 'cjs'] as const) {
      compiled[shape] = serial(() => tsc(apps, 6, dirs[shape]));
      checkedWithTs7[shape] = serial(() => tsc(apps, 7, dirs[shape], '--noEmit'));
    }
    // Older Nest CLI templates say `module: commonjs` (TypeScript 6 then resolves as a bundler would).
    commonjsModule = serial(() =>
      tsc(apps, 6, dirs.cjs, '--noEmit', '--module', 'commonjs', '--moduleResolution', 'bundler'),
    );
    cliDir = writeCliApp(apps);
    cliCompiled = serial(() => tsc(apps, 6, cliDir));
    for (const p of [...Object.values(compiled), ...Object.values(checkedWithTs7), commonjsModule, cliCompiled])
      p.catch(() => undefined);
  }, 120_000);

  afterAll(() => {
    if (work && !process.env.KEEP_CONSUMER_APPS) rmSync(work, { recursive: true, force: true });
  });

  const clients: Socket[] = [];
  afterEach(() => clients.splice(0).forEach((s) => s.disconnect()));

  function connect(url: string): Socket {
    const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    clients.push(socket);
    return socket;
  }

  function next<T = any>(socket: Socket, event: string, ms = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
      socket.once(event, (payload: T) => {
        clearTimeout(timer);
        resolve(payload);
      });
    });
  }

  async function authenticated(url: string): Promise<Socket> {
    const socket = connect(url);
    await next(socket, 'connect');
    const welcome = next(socket, 'authenticated');
    socket.emit('authentication', { token: 'demo-token' });
    expect(await welcome).toEqual({ sessionId: expect.any(String), user: { id: 'alice' } });
    return socket;
  }

  describe('the tarball', () => {
    it('holds the built library, its sources and docs, and no tests, samples or benchmarks', () => {
      const unwanted = packed.files.filter((f) =>
        /^(test|sample|bench|dist\/(sample|bench|test))\/|\.spec\.[jt]s$|\.tgz$/.test(f),
      );
      expect(unwanted).toEqual([]);
      expect(packed.files).toEqual(
        expect.arrayContaining([
          'package.json',
          'README.md',
          'CHANGELOG.md',
          'LICENSE',
          'docs/options.md',
          'dist/lib/index.js',
          'dist/lib/testing/index.js',
          'lib/index.ts',
        ]),
      );
    });

    it('resolves every export it declares, types included', () => {
      const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
      const targets = Object.values(manifest.exports as Record<string, string | Record<string, string>>).flatMap((t) =>
        typeof t === 'string' ? [t] : Object.values(t),
      );
      expect(targets.length).toBeGreaterThan(4);
      expect(targets.filter((t) => !existsSync(join(installed, t)))).toEqual([]);
    });

    it('has source maps whose sources all exist in the package', () => {
      const maps = listFiles(installed).filter((f) => f.endsWith('.map'));
      expect(maps.length).toBeGreaterThan(10);
      const dangling = maps.flatMap((map) => {
        const { sources } = JSON.parse(readFileSync(join(installed, map), 'utf8')) as { sources: string[] };
        return sources.map((s) => resolve(installed, dirname(map), s)).filter((s) => !existsSync(s));
      });
      expect(dangling).toEqual([]);
    });

    it('ships the client helper as one ES module with no imports, so a browser loads it without a bundler', () => {
      const helper = readFileSync(join(installed, 'dist/lib/client/index.js'), 'utf8');
      expect(helper).toMatch(/^export function authenticate/m);
      expect(helper).not.toMatch(/^\s*import\s|\bimport\(|\brequire\(/m);
    });

    it('keeps internals out of the published types', () => {
      const service = readFileSync(join(installed, 'dist/lib/nest/auth-socket.service.d.ts'), 'utf8');
      expect(service).toContain('isAuthenticated(');
      expect(service).not.toMatch(/\b(attach|whenAuthenticated|resourceCounts)\(/);
    });
  });

  describe('the install', () => {
    it('holds one socket.io, the version @nestjs/platform-socket.io pins', async () => {
      const tree = JSON.parse(await sh('npm', ['ls', 'socket.io', '--all', '--json'], apps));
      const versions = new Set<string>();
      const walk = (deps: Record<string, any> = {}): void => {
        for (const [name, node] of Object.entries(deps)) {
          if (name === 'socket.io' && node.version) versions.add(node.version);
          walk(node.dependencies);
        }
      };
      walk(tree.dependencies);
      const pinned = JSON.parse(
        readFileSync(join(apps, 'node_modules/@nestjs/platform-socket.io/package.json'), 'utf8'),
      ).dependencies['socket.io'];
      expect([...versions]).toEqual([pinned]);
      expect(existsSync(join(apps, 'node_modules/@nestjs/platform-socket.io/node_modules/socket.io'))).toBe(false);
    });

    it('has the pub/sub adapter and not the streams one, as the pub/sub install line of docs/scaling.md leaves it', () => {
      expect(existsSync(join(apps, 'node_modules/@socket.io/redis-adapter/package.json'))).toBe(true);
      expect(existsSync(join(apps, 'node_modules/@socket.io/redis-streams-adapter'))).toBe(false);
    });
  });

  describe.each(['esm', 'cjs'] as const)('a new %s Nest 12 app', (shape) => {
    it('compiles under strict with skipLibCheck off, the client helper included', async () => {
      await expect(compiled[shape]).resolves.toBeDefined();
    });

    if (shape === 'cjs') {
      it('also compiles with the older template setting module: commonjs', async () => {
        await expect(commonjsModule).resolves.toBeDefined();
      });
    }

    it('type-checks against the published declarations with TypeScript 7', async () => {
      expect(await tsc(apps, 7, dirs[shape], '--version')).toMatch(/Version 7\./);
      await expect(checkedWithTs7[shape]).resolves.toBeDefined();
    });

    describe('running', () => {
      let app: StartedApp;
      beforeAll(async () => {
        if (!dirs[shape]) throw new Error('the consumer apps were not set up');
        await compiled[shape];
        app = await startApp(dirs[shape]);
      }, 90_000);
      afterAll(() => app?.stop());
      it('keeps broadcasts from a pending socket that is still connected', async () => {
        const alice = await authenticated(app.url);
        const pending = connect(app.url);
        await next(pending, 'connect');
        const seen: unknown[] = [];
        pending.on('news', (text) => seen.push(text));
        const delivered = next(alice, 'news');
        alice.emit('shout', 'hello');
        expect(await delivered).toBe('hello'); // positive control: the broadcast went out
        await new Promise((r) => setTimeout(r, 150));
        expect(pending.connected).toBe(true);
        expect(seen).toEqual([]);
      });

      it('refuses a guarded handler until the socket authenticates', async () => {
        const socket = connect(app.url);
        await next(socket, 'connect');
        expect((await socket.timeout(3000).emitWithAck('whoami'))?.error?.code).toBe('unauthenticated');
        const welcome = next(socket, 'authenticated');
        socket.emit('authentication', { token: 'demo-token' });
        await welcome;
        expect(await socket.timeout(3000).emitWithAck('whoami')).toBe('alice');
      });

      it("tells a silent socket unauthorized {code:'timeout'} and disconnects it", async () => {
        const silent = connect(app.url);
        const refused = next(silent, 'unauthorized');
        const gone = next(silent, 'disconnect');
        expect((await refused).code).toBe('timeout');
        await gone;
      });

      it("keeps the app's global Passport guard on HTTP while gateways work (HttpOnly)", async () => {
        expect((await fetch(`${app.url}/profile`)).status).toBe(401);
        expect((await fetch(`${app.url}/health`)).status).toBe(200);
        const socket = await authenticated(app.url);
        expect(await socket.timeout(3000).emitWithAck('whoami')).toBe('alice');
      });

      it('authenticates with the client helper and the app’s own socket.io-client', async () => {
        expect(await sh(process.execPath, ['dist/client.js', app.url], dirs[shape], 10_000)).toContain(
          'authenticated as alice',
        );
      });
    });
  });
  describe('start-up mistakes, made in the esm app', () => {
    let results: Record<string, { code?: string; message?: string; result?: string }>;
    beforeAll(async () => {
      await compiled.esm;
      const out = await sh(process.execPath, ['dist/mistakes.js'], dirs.esm, 30_000);
      results = Object.fromEntries(
        out
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l))
          .map((r) => [r.name, r]),
      );
    }, 90_000);

    it.each([
      ['authenticated-on-http', 'AUTH_SOCKET_NOT_A_GATEWAY', 'HTTP controller MeController.me()'],
      ['no-authenticate', 'AUTH_SOCKET_INVALID_STRATEGY', 'NotAStrategy is not an AuthStrategy'],
      ['passport-strategy', 'AUTH_SOCKET_INVALID_STRATEGY', 'JwtStrategy is a Passport strategy'],
      ['second-forRoot', 'AUTH_SOCKET_DUPLICATE_MODULE', 'imported 2 times'],
      ['misspelt-option', 'AUTH_SOCKET_UNKNOWN_OPTION', 'did you mean "strategyTimeout"?'],
      ['origin-with-slash', 'AUTH_SOCKET_INVALID_OPTION', 'did you mean "http://host"?'],
      ['timeout-from-config', 'AUTH_SOCKET_INVALID_OPTION', '(got "5 seconds", string)'],
    ])('%s fails with %s, saying %s', (name, code, words) => {
      expect(results[name]).toMatchObject({ code, message: expect.stringContaining(words) });
    });
  });

  describe('the Redis pub/sub deployment', () => {
    let app: StartedApp;
    beforeAll(async () => {
      await compiled.esm;
      app = await startApp(dirs.esm, { entry: 'dist/redis-main.js' });
    }, 90_000);
    afterAll(() => app?.stop());

    it('starts through nestjs-socket-auth/redis without the streams adapter installed, and authenticates', async () => {
      const socket = await authenticated(app.url);
      expect(await socket.timeout(3000).emitWithAck('whoami')).toBe('alice');
    });
  });

  describe("the README's quick start in a Nest 12 CLI app (ESM, vitest)", () => {
    it('compiles as written', async () => {
      await expect(cliCompiled).resolves.toBeDefined();
    });

    it('passes its own gateway test under vitest', async () => {
      await cliCompiled;
      const vitest = join(apps, 'node_modules', 'vitest', 'vitest.mjs');
      const out = await sh(process.execPath, [vitest, 'run', '--reporter=verbose'], cliDir, 90_000);
      expect(out).toMatch(/3 passed/);
    });

    it('runs: the client in the README authenticates and whoami answers', async () => {
      await cliCompiled;
      const app = await startApp(cliDir, {
        entry: 'dist/src/main.js',
        port: /Chat listening on \S+:(\d+)/,
        env: { PORT: '0' },
      });
      try {
        expect(await sh(process.execPath, ['dist/src/client.js', app.url], cliDir, 10_000)).toContain(
          'authenticated as alice; whoami says alice',
        );
      } finally {
        await app.stop();
      }
    });
  });
});
