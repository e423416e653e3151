/**
 * The sample chat in real headless Chromium (Debian's package, driven by
 * playwright-core), against the built sample server run as `npm start` runs it,
 * with 3-second access tokens, so every page lives through many refreshes.
 * Three browsers (three profiles, three cookie jars): alice's, bob's, and
 * another device (carol's, late in the run, then alice's second device).
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

type User = 'alice' | 'bob' | 'carol';
const NAMES: Record<User, string> = { alice: 'Alice', bob: 'Bob', carol: 'Carol' };

/** Fills the login form and waits until the page is authenticated. */
async function logIn(page: Page, user: User): Promise<void> {
  await page.fill('#username', user);
  await page.fill('#password', `${user}-secret`);
  await page.click('#login');
  await statusIncludes(page, `authenticated as ${NAMES[user]}`);
}

/** A new tab in `browser` as `user`: by the browser's refresh cookie when it has one, else through the form. */
async function loggedIn(browser: BrowserContext, user: User): Promise<Page> {
  const page = await browser.newPage();
  if ((await load(page)) === 200) await statusIncludes(page, `authenticated as ${NAMES[user]}`);
  else await logIn(page, user);
  return page;
}

/** Resolves once the page lists `room` among its rooms (`in`), or no longer does. */
const roomListed = (page: Page, room: string, listed = true) =>
  page.waitForFunction(
    ([r, want]) => !!document.querySelector(`#rooms li[data-room="${r}"]`) === want,
    [room, listed] as const,
    { timeout: 10_000 },
  );

const roomsOf = (page: Page): Promise<string[]> =>
  page.$$eval('#rooms li', (items) => items.map((li) => (li as HTMLElement).dataset.room ?? ''));

/** Resolves once the page shows a message (any room) containing `text`. */
const shows = (page: Page, text: string) =>
  page.waitForFunction((t) => !!document.querySelector('#messages')?.textContent?.includes(t), text, {
    timeout: 10_000,
  });

/** Sends `text` to `room` ('' for everyone) through the send form's target. */
async function sayIn(page: Page, room: string, text: string): Promise<void> {
  await page.selectOption('#target', room);
  await say(page, text);
}

/** Resolves once the notice line `id` reads `result` and contains `text`. */
const noticed = (page: Page, id: string, result: string, text: string) =>
  page.waitForFunction(
    ([i, r, t]) => {
      const el = document.getElementById(i);
      return el?.dataset.result === r && !!el.textContent?.includes(t);
    },
    [id, result, text] as const,
    { timeout: 10_000 },
  );

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
    // Bob's own message comes back to his page through the broadcast too: wait for it there as well.
    await bob.waitForFunction(() => document.querySelector('#messages')?.textContent?.includes('hello alice'));
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

  // ── rooms, demotion, devices (issue 22) ──────────────────────────────────

  /** carol's page, in the other browser, until alice takes that browser over as her second device. */
  let carol: Page;

  it('each page joins its team rooms through the client protocol; a team message reaches its members and no one else', async () => {
    await logIn(alice, 'alice'); // her page was logged out by the restart above
    carol = await otherBrowser.newPage();
    expect(await load(carol)).toBe(401);
    await logIn(carol, 'carol');
    await Promise.all([roomListed(alice, 'team:red'), roomListed(bob, 'team:red'), roomListed(carol, 'team:blue')]);
    expect(await roomsOf(alice)).toEqual(['team:red']);
    expect(await roomsOf(bob)).toEqual(['team:red']);
    expect(await roomsOf(carol)).toEqual(['team:blue']);

    await sayIn(alice, 'team:red', 'red team only');
    await shows(bob, 'red team only');
    expect(await bob.$eval('#messages > [data-room="team:red"]', (n) => n.textContent)).toBe(
      '#team:redAlicered team only',
    );
    // Carol (blue) hears alice's next message, to everyone, and not the one to red before it.
    await sayIn(alice, '', 'everyone after red');
    await shows(carol, 'everyone after red');
    expect((await messages(carol)).join('\n')).not.toContain('red team only');
    await sayIn(carol, 'team:blue', 'blue team only');
    await shows(carol, 'blue team only');
    await sayIn(alice, '', 'everyone after blue');
    await shows(bob, 'everyone after blue');
    expect((await messages(bob)).join('\n')).not.toContain('blue team only');
    await carol.selectOption('#target', '');
  }, 60_000);

  it('a join the room policy refuses is shown as refused and lists nothing; the same form joins a room the user may be in', async () => {
    await bob.fill('#join-room', 'team:blue');
    await bob.click('#join');
    await noticed(bob, 'room-notice', 'refused', 'refused team:blue · forbidden');
    expect(await roomsOf(bob)).toEqual(['team:red']);
    // A direct-message room of two others: refused too.
    await bob.fill('#join-room', 'dm:alice:carol');
    await bob.click('#join');
    await noticed(bob, 'room-notice', 'refused', 'refused dm:alice:carol · forbidden');
    // Control: carol leaves her team room (×) and joins it again through the same form.
    await carol.click('#rooms li[data-room="team:blue"] button.leave');
    await roomListed(carol, 'team:blue', false);
    await carol.fill('#join-room', 'team:blue');
    await carol.click('#join');
    await noticed(carol, 'room-notice', 'joined', 'joined team:blue');
    expect(await roomsOf(carol)).toEqual(['team:blue']);
  }, 60_000);

  it("a direct message puts both pages in the pair's room; bob's page never shows it", async () => {
    await alice.fill('#dm-to', 'carol');
    await alice.fill('#dm-text', 'just for carol');
    await alice.click('#dm-send');
    await shows(carol, 'just for carol');
    await roomListed(carol, 'dm:alice:carol');
    await roomListed(alice, 'dm:alice:carol');
    // Carol answers in the room (her send form offers it), alice hears it.
    await sayIn(carol, 'dm:alice:carol', 'just for alice');
    await shows(alice, 'just for alice');
    await carol.selectOption('#target', '');
    await alice.selectOption('#target', '');
    await sayIn(alice, '', 'everyone after the dm');
    await shows(bob, 'everyone after the dm');
    const bobSees = (await messages(bob)).join('\n');
    expect(bobSees).not.toContain('just for carol');
    expect(bobSees).not.toContain('just for alice');
    expect(await roomsOf(bob)).toEqual(['team:red']);
  }, 60_000);

  it("an admin taking bob out of red takes his open page out of team:red at once: it shows room_left, red's messages stop; put back, his page joins again", async () => {
    await alice.waitForSelector('#admin-users li[data-user="bob"] [data-remove="red"]');
    expect(await bob.isVisible('#admin-panel')).toBe(false); // the panel is for admins
    await alice.click('#admin-users li[data-user="bob"] [data-remove="red"]');
    await noticed(bob, 'room-notice', 'left', 'left team:red · forbidden');
    await roomListed(bob, 'team:red', false);
    expect(await bob.$$eval('#target option', (os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(['']);
    await noticed(alice, 'admin-notice', 'changed', 'Bob left red · 1 live session updated');
    expect(await bob.textContent('#status')).toContain('authenticated as Bob'); // still logged in

    await sayIn(alice, 'team:red', 'red without bob');
    await shows(alice, 'red without bob'); // control: the room still works, for alice
    await sayIn(alice, '', 'everyone after the demotion');
    await shows(bob, 'everyone after the demotion');
    expect((await messages(bob)).join('\n')).not.toContain('red without bob');
    // His page does not try again by itself, and asking is refused.
    await bob.fill('#join-room', 'team:red');
    await bob.click('#join');
    await noticed(bob, 'room-notice', 'refused', 'refused team:red · forbidden');

    // Put back through the admin form: his page hears his new teams and joins team:red by itself.
    await alice.selectOption('#admin-user', 'bob');
    await alice.fill('#admin-team', 'red');
    await alice.click('#admin-add');
    await roomListed(bob, 'team:red');
    await sayIn(alice, 'team:red', 'red with bob again');
    await shows(bob, 'red with bob again');
    await alice.selectOption('#target', '');
  }, 60_000);

  it("the devices panel lists alice's browsers, marks this one, and signs the other out: that page is disconnected and its cookie refused; this one goes on", async () => {
    // The other browser becomes alice's second device.
    await carol.click('#logout');
    await statusIncludes(carol, 'revoked · Logged out');
    const second = carol;
    await logIn(second, 'alice');

    await alice.click('#devices-show');
    await alice.waitForFunction(() => document.querySelectorAll('#devices tbody tr').length === 2);
    const rows = await alice.$$eval('#devices tbody tr', (trs) =>
      trs.map((tr) => ({
        current: (tr as HTMLElement).dataset.current,
        text: tr.textContent ?? '',
        signOut: !!tr.querySelector('button.sign-out'),
      })),
    );
    expect(rows.map((r) => r.current).sort()).toEqual(['false', 'true']);
    const [mine, other] = [rows.find((r) => r.current === 'true')!, rows.find((r) => r.current === 'false')!];
    expect(mine.text).toContain('this device');
    expect(mine.signOut).toBe(false);
    expect(other.text).not.toContain('this device');
    expect(other.signOut).toBe(true);
    for (const row of rows) expect(row.text).toMatch(/Chrome \d+.*127\.0\.0\.1/);

    await alice.click('#devices tbody tr[data-current="false"] button.sign-out');
    await statusIncludes(second, 'revoked · Signed out from another device');
    expect(await second.isVisible('#login-panel')).toBe(true);
    await noticed(alice, 'devices-notice', 'ended', 'signed out 1 session');
    // The list, fetched again after the sign-out, has this device alone: the server holds no session of the other.
    await alice.waitForFunction(() => document.querySelectorAll('#devices tbody tr').length === 1);
    expect(await alice.getAttribute('#devices tbody tr', 'data-current')).toBe('true');
    // Its cookie is refused from now on: a reload shows the login form.
    expect(await load(second, true)).toBe(401);
    expect(await second.isVisible('#chat-panel')).toBe(false);

    // Controls: this device goes on (bob hears it) and reloads logged in; bob's page is untouched.
    await say(alice, 'alice still here');
    await shows(bob, 'alice still here');
    expect(await load(alice, true)).toBe(200);
    await statusIncludes(alice, 'authenticated as Alice');
    expect(await bob.textContent('#status')).toContain('authenticated as Bob');
    await second.close();
  }, 60_000);
});
