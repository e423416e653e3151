/**
 * The sample chat in real headless Chromium (Debian's package, driven by
 * playwright-core), against the built sample server run as `npm start` runs it,
 * with 3-second access tokens, so every page lives through many refreshes.
 * Three browsers (three profiles, three cookie jars): alice's, bob's, and
 * another device.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { authenticate } from '../../lib/client/index.js';
import { describeIfChromium, launchChromium } from '../support/chromium.js';
import { closeClients, connect, freePort } from '../support/harness.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** Access token lifetime for the whole suite. */
const TTL = 3;

let port: number;
let server: ChildProcess | undefined;
type Browser = Awaited<ReturnType<typeof launchChromium>>;
const browsers: Browser[] = [];
/** alice's browser, bob's, and another device (no login until late in the run). */
let aliceBrowser: BrowserContext;
let bobBrowser: BrowserContext;
let otherBrowser: BrowserContext;
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
      TOKEN_TTL_SECONDS: String(TTL),
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

const base = (): string => `http://127.0.0.1:${port}`;
const isRefresh = (url: string): boolean => new URL(url).pathname === '/auth/refresh';

/** Loads (or reloads) the page; resolves with the status of the /auth/refresh the page makes as it loads. */
async function load(page: Page, reload = false): Promise<number> {
  const refreshed = page.waitForResponse((r) => isRefresh(r.url()));
  await (reload ? page.reload() : page.goto(`${base()}/`));
  return (await refreshed).status();
}

const statusIncludes = (page: Page, text: string, timeout = 10_000) =>
  page.waitForFunction((t) => !!document.querySelector('#status')?.textContent?.includes(t), text, { timeout });

/** Fills the login form and waits until the page is authenticated. */
async function logIn(page: Page, user: 'alice' | 'bob'): Promise<void> {
  await page.fill('#username', user);
  await page.fill('#password', `${user}-secret`);
  await page.click('#login');
  await statusIncludes(page, `authenticated as ${user === 'alice' ? 'Alice' : 'Bob'}`);
}

/** A new tab in `browser` as `user`: by the browser's refresh cookie when it has one, else through the form. */
async function loggedIn(browser: BrowserContext, user: 'alice' | 'bob'): Promise<Page> {
  const page = await browser.newPage();
  if ((await load(page)) === 200) await statusIncludes(page, `authenticated as ${user === 'alice' ? 'Alice' : 'Bob'}`);
  else await logIn(page, user);
  return page;
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#message', text);
  await page.click('#send');
}

const online = (page: Page): Promise<string | null> => page.getAttribute('#online', 'data-online');

const messages = (page: Page): Promise<string[]> =>
  page.$$eval('#messages > *', (nodes) => nodes.map((n) => n.textContent ?? ''));

const exp = (token: string): number => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).exp;

/** Bob from Node (socket.io-client and the sample's client helper), logging in for every token. */
async function bobFromNode() {
  const socket = connect(base());
  const login = async () => {
    const res = await fetch(`${base()}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bob', password: 'bob-secret' }),
    });
    return { token: (await res.json()).token as string };
  };
  const auth = authenticate(socket, login);
  await auth;
  return { socket, auth };
}

describeIfChromium('sample chat in Chromium', () => {
  beforeAll(async () => {
    // The page loads the compiled client helper; build exactly as `npm start` does.
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
    port = await freePort();
    await startServer();
    for (let i = 0; i < 3; i++) browsers.push(await launchChromium());
    [aliceBrowser, bobBrowser, otherBrowser] = browsers.map((b) => b.context);
  }, 120_000);

  afterAll(async () => {
    closeClients();
    await Promise.all(browsers.map((b) => b.close()));
    await stopServer();
  });

  let alice: Page;
  let bob: Page;
  /** alice on the other device, from the Log out test on. */
  let device: Page;

  it('the login screen shows how many users are online, and the count follows logins and leaves', async () => {
    const visitor = await bobBrowser.newPage();
    await load(visitor);
    await visitor.waitForFunction(() => document.querySelector('#online')?.getAttribute('data-online') === '0');
    expect(await visitor.isVisible('#online')).toBe(true);
    expect(await visitor.isVisible('#login-panel')).toBe(true);
    expect(await visitor.textContent('#online')).toBe('0 users online');
    const someone = await loggedIn(aliceBrowser, 'alice');
    await visitor.waitForFunction(() => document.querySelector('#online')?.getAttribute('data-online') === '1');
    expect(await visitor.textContent('#online')).toBe('1 user online');
    await someone.close();
    await visitor.waitForFunction(() => document.querySelector('#online')?.getAttribute('data-online') === '0');
    expect(await online(visitor)).toBe('0');
    await visitor.close();
  }, 60_000);

  it('alice and bob log in on two pages and exchange messages', async () => {
    alice = await loggedIn(aliceBrowser, 'alice'); // by the cookie the page above left: a new tab stays logged in
    bob = await loggedIn(bobBrowser, 'bob');
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

  it('the access token is in no storage a script can read; the refresh token is an httpOnly, SameSite=Strict cookie for /auth only; a reload stays logged in', async () => {
    expect(await alice.evaluate(() => [sessionStorage.length, localStorage.length, document.cookie])).toEqual([
      0,
      0,
      '',
    ]);
    const cookies = await aliceBrowser.cookies(`${base()}/auth/refresh`);
    expect(cookies.map(({ name, httpOnly, sameSite, path }) => ({ name, httpOnly, sameSite, path }))).toEqual([
      { name: 'sample_refresh', httpOnly: true, sameSite: 'Strict', path: '/auth' },
    ]);
    expect(await load(alice, true)).toBe(200);
    await statusIncludes(alice, 'authenticated as Alice');
    expect(await alice.isVisible('#chat-panel')).toBe(true);
  }, 60_000);

  it('a page stays connected across three token expiries and misses none of a message every 200 ms', async () => {
    const tokens: string[] = [];
    const onResponse = async (r: { url(): string; status(): number; json(): Promise<any> }) => {
      if (isRefresh(r.url()) && r.status() === 200) tokens.push((await r.json()).token);
    };
    alice.on('response', onResponse);
    const sockets: string[] = [];
    alice.on('websocket', (ws) => sockets.push(ws.url()));
    // Every status the page shows from now on: a refresh re-sends `authenticated`, which the page shows again.
    await alice.evaluate(() => {
      const seen: string[] = [];
      (window as any).statuses = seen;
      const status = document.querySelector('#status')!;
      new MutationObserver(() => seen.push(status.textContent ?? '')).observe(status, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    const sender = await bobFromNode();
    const acks: Array<Promise<unknown>> = [];
    let n = 0;
    const started = Date.now();
    const expired = () => tokens.filter((t) => exp(t) * 1000 < Date.now()).length;
    // Until three tokens the page refreshed to have expired (and at least three lifetimes passed).
    while (expired() < 3 || Date.now() - started < 3 * TTL * 1000) {
      if (Date.now() - started > 30_000) throw new Error(`only ${expired()} refreshed tokens expired in 30 s`);
      acks.push(sender.socket.timeout(3000).emitWithAck('chat:send', { text: `tick ${++n}` }));
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const ack of await Promise.all(acks)) expect(ack).toEqual({ ok: true });
    await alice.waitForFunction(
      (last) => !!document.querySelector('#messages')?.textContent?.includes(last),
      `tick ${n}`,
    );
    alice.off('response', onResponse);
    const ticks = (await messages(alice)).filter((m) => m.startsWith('Bobtick '));
    expect(ticks).toEqual(Array.from({ length: n }, (_, i) => `Bobtick ${i + 1}`));
    expect(n).toBeGreaterThanOrEqual(40);
    const statuses: string[] = await alice.evaluate(() => (window as any).statuses);
    expect(statuses.length).toBeGreaterThanOrEqual(3); // refreshed at least three times
    expect(new Set(statuses)).toEqual(new Set(['connected · authenticated as Alice']));
    expect(sockets).toEqual([]); // no new connection: the same socket throughout
    expect(sender.auth.state).toBe('authenticated');
    sender.auth.close();
    sender.socket.disconnect();
  }, 60_000);

  it('a third page that never logs in shows no chat messages, even with a socket of its own', async () => {
    const stranger = await otherBrowser.newPage();
    expect(await load(stranger)).toBe(401); // no cookie in this browser yet
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

    // Bob tries from a script in his own page, with a token of his own from the refresh cookie: refused, and still connected.
    const attempt = await bob.evaluate(async () => {
      const { io } = await import('/socket.io/socket.io.esm.min.js' as string);
      const { authenticate } = await import('/client/index.js' as string);
      const { token } = await (await fetch('/auth/refresh', { method: 'POST' })).json();
      const s = io({ transports: ['websocket'], forceNew: true });
      await authenticate(s, { token });
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
    const later = await loggedIn(bobBrowser, 'bob');
    await say(alice, 'after the clear');
    await later.waitForFunction(() => document.querySelector('#messages')?.textContent?.includes('after the clear'));
    expect(await messages(later)).toEqual(['Aliceafter the clear']);
    await later.close();
  }, 60_000);

  it('after the server restarts, a logged-in page reconnects and re-authenticates by itself', async () => {
    await stopServer();
    await alice.waitForFunction(() => !document.querySelector('#status')?.textContent?.includes('authenticated as'));
    await startServer();
    await statusIncludes(alice, 'authenticated as Alice', 20_000);
    await statusIncludes(bob, 'authenticated as Bob', 20_000);
    await say(alice, 'back again');
    await bob.waitForFunction(() => document.querySelector('#messages')?.textContent?.includes('back again'));
  }, 60_000);

  it("Log out logs out every tab of this browser, but not alice's other device; the cookie is gone, so a reload shows the login form", async () => {
    const secondTab = await loggedIn(aliceBrowser, 'alice'); // by the cookie
    device = await loggedIn(otherBrowser, 'alice'); // through the form: its own cookie
    await alice.click('#logout');
    await statusIncludes(alice, 'revoked · Logged out');
    // The other tab heard it (BroadcastChannel) and revoked its own token.
    await statusIncludes(secondTab, 'revoked · Logged out');
    expect(await secondTab.isVisible('#login-panel')).toBe(true);
    // Controls: the other device and bob are untouched, and still hear the chat.
    await say(bob, 'after the logout');
    await device.waitForFunction(() => document.querySelector('#messages')?.textContent?.includes('after the logout'));
    expect(await device.textContent('#status')).toContain('authenticated as Alice');
    expect(await bob.textContent('#status')).toContain('authenticated as Bob');
    expect(await aliceBrowser.cookies(`${base()}/auth/refresh`)).toEqual([]);
    expect(await load(secondTab, true)).toBe(401);
    expect(await secondTab.isVisible('#chat-panel')).toBe(false);
    await secondTab.close();
    // The login form is back, and logging in again works.
    await logIn(alice, 'alice');
  }, 60_000);

  it('Log out everywhere in one tab ends the other device too, whose refresh cookie is refused from then on; bob is untouched', async () => {
    // Control: before, the other device reloads and stays logged in.
    expect(await load(device, true)).toBe(200);
    await statusIncludes(device, 'authenticated as Alice');
    await alice.click('#logout-all');
    await statusIncludes(device, 'revoked · Logged out everywhere');
    await statusIncludes(alice, 'revoked · Logged out everywhere');
    expect(await device.isVisible('#login-panel')).toBe(true);
    expect(await device.isVisible('#chat-panel')).toBe(false);
    // Its cookie is still in that browser, but issued before: refused.
    expect((await otherBrowser.cookies(`${base()}/auth/refresh`)).map((c) => c.name)).toEqual(['sample_refresh']);
    expect(await load(device, true)).toBe(401);
    expect(await device.isVisible('#chat-panel')).toBe(false);
    // Control: bob stays, and chats.
    await say(bob, 'bob is still here');
    await bob.waitForFunction(() => document.querySelector('#messages')?.textContent?.includes('bob is still here'));
    expect(await bob.textContent('#status')).toContain('authenticated as Bob');
    await device.close();
  }, 60_000);

  it('a page whose refresh cookie the server no longer accepts (a restart with another secret) goes back to the login form', async () => {
    await stopServer();
    await startServer(randomBytes(32).toString('base64url'));
    await bob.waitForFunction(
      () => !!document.querySelector('#login-error')?.textContent?.includes('session has ended'),
      undefined,
      { timeout: 20_000 },
    );
    expect(await bob.isVisible('#login-panel')).toBe(true);
    expect(await bob.isVisible('#chat-panel')).toBe(false);
    expect(await bobBrowser.cookies(`${base()}/auth/refresh`)).toEqual([]); // the refused cookie was cleared
    // Logging in again gets tokens from the new server.
    await logIn(bob, 'bob');
  }, 60_000);
});
