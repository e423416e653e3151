/**
 * The sample chat in real headless Chromium (Debian's package, driven by
 * playwright-core), against the built sample server run as `npm start` runs it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { freePort } from '../support/harness.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
// Without the networking flags, Chromium floods this closed network with refused connections.
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

let port: number;
let server: ChildProcess | undefined;
let context: BrowserContext;
let profile: string;

async function startServer(): Promise<void> {
  server = spawn(process.execPath, ['dist/sample/main.js'], { cwd: root, env: { ...process.env, PORT: String(port), AUTH_TIMEOUT_MS: '1500' }, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('sample server did not start')), 20_000);
    server!.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('chat on http')) {
        clearTimeout(timer);
        resolve();
      }
    });
    server!.once('exit', (code) => reject(new Error(`sample server exited with ${code}`)));
  });
}

async function stopServer(): Promise<void> {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((resolve) => server!.once('exit', resolve));
  server.kill('SIGKILL');
  await exited;
}

async function loggedIn(user: 'alice' | 'bob'): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.fill('#username', user);
  await page.fill('#password', `${user}-secret`);
  await page.click('#login');
  await page.waitForFunction(() => document.querySelector('#status')?.textContent?.includes('authenticated as'));
  return page;
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#message', text);
  await page.click('#send');
}

const messages = (page: Page): Promise<string[]> => page.$$eval('#messages > *', (nodes) => nodes.map((n) => n.textContent ?? ''));

// Without Chromium the suite skips with one line, except under CI, where .ci/run installs it and its absence is a failure.
if (!existsSync(CHROMIUM) && process.env.CI) throw new Error(`browser tests need ${CHROMIUM} (CI is set, so this fails instead of skipping)`);
const describeIfChromium = existsSync(CHROMIUM) ? describe : describe.skip;
if (!existsSync(CHROMIUM)) console.warn(`browser tests skipped: ${CHROMIUM} not found (apt-get install -y chromium)`);

describeIfChromium('sample chat in Chromium', () => {
  beforeAll(async () => {
    // The page loads the compiled client helper; build exactly as `npm start` does.
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
    port = await freePort();
    await startServer();
    profile = mkdtempSync(join(tmpdir(), 'nsa-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await stopServer();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  let alice: Page;
  let bob: Page;

  it('alice and bob log in on two pages and exchange messages', async () => {
    alice = await loggedIn('alice');
    bob = await loggedIn('bob');
    await say(alice, 'hi bob');
    await bob.waitForFunction(() => document.querySelector('#messages')?.textContent?.includes('hi bob'));
    await say(bob, 'hello alice');
    await alice.waitForFunction(() => document.querySelector('#messages')?.textContent?.includes('hello alice'));
    expect(await messages(alice)).toEqual(['Alicehi bob', 'Bobhello alice']);
    expect(await messages(bob)).toEqual(['Alicehi bob', 'Bobhello alice']);
    await bob.waitForFunction(() => document.querySelectorAll('#presence li').length === 2);
    await bob.setViewportSize({ width: 1000, height: 620 });
    await bob.screenshot({ path: join(root, 'docs/screenshot.png') });
  }, 60_000);

  it('a third page that never logs in shows no chat messages, even with a socket of its own', async () => {
    const stranger = await context.newPage();
    await stranger.goto(`http://127.0.0.1:${port}/`);
    // A raw unauthenticated socket in the page, listening for chat traffic.
    await stranger.evaluate(async () => {
      const { io } = await import('/socket.io/socket.io.esm.min.js' as string);
      const seen: unknown[] = [];
      (window as any).seen = seen;
      const s = io({ transports: ['websocket'] });
      s.on('chat:message', (m: unknown) => seen.push(m));
      await new Promise((r) => s.on('connect', r));
    });
    await say(alice, 'secret plans');
    await bob.waitForFunction(() => document.querySelector('#messages')?.textContent?.includes('secret plans'));
    await stranger.waitForTimeout(200);
    expect(await stranger.evaluate(() => (window as any).seen)).toEqual([]);
    expect(await messages(stranger)).toEqual([]);
    expect(await stranger.isVisible('#chat-panel')).toBe(false);
    await stranger.close();
  }, 60_000);

  it('after the server restarts, a logged-in page reconnects and re-authenticates by itself', async () => {
    await stopServer();
    await alice.waitForFunction(() => !document.querySelector('#status')?.textContent?.includes('authenticated as'));
    await startServer();
    await alice.waitForFunction(() => document.querySelector('#status')?.textContent?.includes('authenticated as Alice'), undefined, { timeout: 20_000 });
    await bob.waitForFunction(() => document.querySelector('#status')?.textContent?.includes('authenticated as Bob'), undefined, { timeout: 20_000 });
    await say(alice, 'back again');
    await bob.waitForFunction(() => document.querySelector('#messages')?.textContent?.includes('back again'));
  }, 60_000);

  it("logout revokes alice's page", async () => {
    await alice.click('#logout');
    await alice.waitForFunction(() => document.querySelector('#status')?.textContent?.includes('revoked'));
    expect(await alice.textContent('#status')).toContain('revoked');
    // Bob is untouched.
    expect(await bob.textContent('#status')).toContain('authenticated as Bob');
    // The login form is back, and logging in again works.
    await alice.fill('#username', 'alice');
    await alice.fill('#password', 'alice-secret');
    await alice.click('#login');
    await alice.waitForFunction(() => document.querySelector('#status')?.textContent?.includes('authenticated as Alice'));
  }, 60_000);
});
