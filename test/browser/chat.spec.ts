/**
 * The sample chat in real headless Chromium (Debian's package, driven by
 * playwright-core), against the built sample server run as `npm start` runs it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { describeIfChromium, launchChromium } from '../support/chromium.js';
import { freePort } from '../support/harness.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

let port: number;
let server: ChildProcess | undefined;
let context: BrowserContext;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
// Shared by both server runs, so tokens survive the restart test (without it each process picks a random secret).
const AUTH_SECRET = randomBytes(32).toString('base64url');

async function startServer(secret = AUTH_SECRET): Promise<void> {
  server = spawn(process.execPath, ['dist/sample/main.js'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      AUTH_TIMEOUT_MS: '1500',
      AUTH_SECRET: secret,
      STATUS_INTERVAL_MS: '300',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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

const online = (page: Page): Promise<string | null> => page.getAttribute('#online', 'data-online');

const messages = (page: Page): Promise<string[]> =>
  page.$$eval('#messages > *', (nodes) => nodes.map((n) => n.textContent ?? ''));

describeIfChromium('sample chat in Chromium', () => {
  beforeAll(async () => {
    // The page loads the compiled client helper; build exactly as `npm start` does.
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
    port = await freePort();
    await startServer();
    browser = await launchChromium();
    context = browser.context;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stopServer();
  });

  let alice: Page;
  let bob: Page;

  it('the login screen shows how many users are online, and the count follows logins and leaves', async () => {
    const visitor = await context.newPage();
    await visitor.goto(`http://127.0.0.1:${port}/`);
    await visitor.waitForFunction(() => document.querySelector('#online')?.getAttribute('data-online') === '0');
    expect(await visitor.isVisible('#online')).toBe(true);
    expect(await visitor.isVisible('#login-panel')).toBe(true);
    expect(await visitor.textContent('#online')).toBe('0 users online');
    const someone = await loggedIn('alice');
    await visitor.waitForFunction(() => document.querySelector('#online')?.getAttribute('data-online') === '1');
    expect(await visitor.textContent('#online')).toBe('1 user online');
    await someone.close();
    await visitor.waitForFunction(() => document.querySelector('#online')?.getAttribute('data-online') === '0');
    expect(await online(visitor)).toBe('0');
    await visitor.close();
  }, 60_000);

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

  it("alice, an admin, sees Clear and clearing empties bob's history; bob sees no button, and his scripted chat:clear is forbidden", async () => {
    await alice.waitForFunction(() => !(document.querySelector('#clear') as HTMLElement | null)?.hidden);
    expect(await alice.isVisible('#clear')).toBe(true);
    expect(await bob.isVisible('#clear')).toBe(false);

    // Bob tries from a script in his own page, with his own token: refused, and still connected.
    const attempt = await bob.evaluate(async () => {
      const { io } = await import('/socket.io/socket.io.esm.min.js' as string);
      const { authenticate } = await import('/client/index.js' as string);
      const s = io({ transports: ['websocket'], forceNew: true });
      await authenticate(s, { token: sessionStorage.getItem('token') });
      const reply = await s.timeout(3000).emitWithAck('chat:clear');
      await new Promise((r) => setTimeout(r, 200));
      const connected = s.connected;
      s.close();
      return { reply, connected };
    });
    expect(attempt.reply).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(attempt.connected).toBe(true);
    expect((await messages(bob)).length).toBeGreaterThan(0);
    expect(await messages(alice)).toEqual(await messages(bob));

    await alice.click('#clear');
    await bob.waitForFunction(() => document.querySelectorAll('#messages > *').length === 0);
    await alice.waitForFunction(() => document.querySelectorAll('#messages > *').length === 0);
    // Cleared on the server too: a page loaded now gets no history.
    const later = await loggedIn('bob');
    await say(alice, 'after the clear');
    await later.waitForFunction(() => document.querySelector('#messages')?.textContent?.includes('after the clear'));
    expect(await messages(later)).toEqual(['Aliceafter the clear']);
    await later.close();
  }, 60_000);

  it('after the server restarts, a logged-in page reconnects and re-authenticates by itself', async () => {
    await stopServer();
    await alice.waitForFunction(() => !document.querySelector('#status')?.textContent?.includes('authenticated as'));
    await startServer();
    await alice.waitForFunction(
      () => document.querySelector('#status')?.textContent?.includes('authenticated as Alice'),
      undefined,
      { timeout: 20_000 },
    );
    await bob.waitForFunction(
      () => document.querySelector('#status')?.textContent?.includes('authenticated as Bob'),
      undefined,
      { timeout: 20_000 },
    );
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
    await alice.waitForFunction(() =>
      document.querySelector('#status')?.textContent?.includes('authenticated as Alice'),
    );
  }, 60_000);

  it('a page whose token the server no longer accepts (a restart with another secret) goes back to the login form', async () => {
    await stopServer();
    await startServer(randomBytes(32).toString('base64url'));
    await alice.waitForFunction(
      () => !!document.querySelector('#login-error')?.textContent?.includes('session has ended'),
      undefined,
      { timeout: 20_000 },
    );
    expect(await alice.isVisible('#login-panel')).toBe(true);
    expect(await alice.isVisible('#chat-panel')).toBe(false);
    expect(await alice.evaluate(() => sessionStorage.getItem('token'))).toBeNull();
    // Logging in again gets a token from the new server.
    await alice.fill('#username', 'alice');
    await alice.fill('#password', 'alice-secret');
    await alice.click('#login');
    await alice.waitForFunction(() =>
      document.querySelector('#status')?.textContent?.includes('authenticated as Alice'),
    );
  }, 60_000);
});
