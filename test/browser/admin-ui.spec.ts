/**
 * The Socket.IO Admin UI of the sample in real headless Chromium, against the
 * built sample server run as `npm start` runs it: alice (an admin) opens it
 * from the chat page, connects with its basic credentials, and finds her own
 * chat socket with her public user in `socket.data.auth`; bob's socket shows
 * up live as he logs in. Bob's browser is refused the UI's files.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { describeIfChromium, launchChromium } from '../support/chromium.js';
import { freePort, until } from '../support/harness.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const ADMIN_UI = { username: 'ops', password: randomBytes(12).toString('base64url') };

let port: number;
let server: ChildProcess | undefined;
const base = (): string => `http://127.0.0.1:${port}`;

async function startServer(): Promise<void> {
  server = spawn(process.execPath, ['dist/sample/main.js'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      AUTH_SECRET: randomBytes(32).toString('base64url'),
      ADMIN_UI_USERNAME: ADMIN_UI.username,
      ADMIN_UI_PASSWORD: ADMIN_UI.password,
      NODE_ENV: 'development',
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

type User = 'alice' | 'bob';
const NAMES: Record<User, string> = { alice: 'Alice', bob: 'Bob' };

/** The chat page, logged in: by the browser's refresh cookie when it has one, else through the form. */
async function chatAs(browser: BrowserContext, user: User): Promise<Page> {
  const page = await browser.newPage();
  const refreshed = page.waitForResponse((r) => new URL(r.url()).pathname === '/auth/refresh');
  await page.goto(`${base()}/`);
  if ((await refreshed).status() !== 200) {
    await page.fill('#username', user);
    await page.fill('#password', `${user}-secret`);
    await page.click('#login');
  }
  await page.waitForFunction(
    (name) => !!document.querySelector('#status')?.textContent?.includes(`authenticated as ${name}`),
    NAMES[user],
    { timeout: 15_000 },
  );
  return page;
}

/** The socket ids the UI's Sockets table lists now (namespace `/`, the default). */
const listedSockets = (ui: Page): Promise<string[]> =>
  ui.$$eval('main tbody tr td:first-child', (cells) => cells.map((c) => c.textContent?.trim() ?? ''));

/** Resolves once the Sockets table lists `count` sockets. */
const listsSockets = (ui: Page, count: number) =>
  ui.waitForFunction((n) => document.querySelectorAll('main tbody tr td:first-child').length === n, count, {
    timeout: 15_000,
  });

/** Opens a listed socket's details and resolves with what its Data field shows, parsed. */
async function socketData(ui: Page, id: string): Promise<any> {
  await ui.click(`main tbody tr:has(td:first-child:text-is("${id}"))`);
  const field = ui.locator('tr:has(> td:text-is("Data")) pre');
  await field.waitFor({ timeout: 15_000 });
  const data = JSON.parse(await field.innerText());
  await ui.goBack();
  return data;
}

describeIfChromium('the sample Admin UI in Chromium', () => {
  const browsers: Array<Awaited<ReturnType<typeof launchChromium>>> = [];
  let aliceBrowser: BrowserContext;
  let bobBrowser: BrowserContext;

  beforeAll(async () => {
    // The chat page loads the compiled client helper: build exactly as `npm start` does.
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
    port = await freePort();
    await startServer();
    for (let i = 0; i < 2; i++) browsers.push(await launchChromium());
    [aliceBrowser, bobBrowser] = browsers.map((b) => b.context);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(browsers.map((b) => b.close()));
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGKILL');
      await exited;
    }
  });

  let ui: Page;

  it("bob's browser is refused the UI's files; alice opens the UI from the chat page, and it loads nothing from elsewhere", async () => {
    const bob = await chatAs(bobBrowser, 'bob');
    expect(await bob.isVisible('#admin-ui-open')).toBe(false);
    const refused = await bob.goto(`${base()}/admin-ui/`);
    expect(refused?.status()).toBe(401);
    await bob.close();

    const alice = await chatAs(aliceBrowser, 'alice');
    const requests: string[] = [];
    const violations: string[] = [];
    aliceBrowser.on('request', (r) => requests.push(r.url()));
    const opened = aliceBrowser.waitForEvent('page', { timeout: 15_000 });
    await alice.click('#admin-ui-open');
    ui = await opened;
    ui.on('console', (m) => {
      if (m.type() === 'error' && m.text().includes('Content Security Policy')) violations.push(m.text());
    });
    await ui.getByLabel('Server URL').waitFor({ timeout: 15_000 });
    expect(new URL(ui.url()).pathname).toBe('/admin-ui/');
    const ours = requests.filter((u) => u.startsWith(`${base()}/admin-ui/`));
    expect(ours.length).toBeGreaterThanOrEqual(3); // control: the page, its script and its style were requested
    expect(requests.filter((u) => !u.startsWith(base()))).toEqual([]);
    // Control for the CSP check below: an inline script is refused, and says so on the console.
    await ui.addScriptTag({ content: 'window.inlineRan = true' }).catch(() => undefined);
    await until(() => violations.length >= 1, 5000, 'a CSP violation on the console');
    expect(await ui.evaluate(() => (window as { inlineRan?: boolean }).inlineRan ?? false)).toBe(false);
    violations.length = 0;
    await ui.reload();
    await ui.getByLabel('Server URL').waitFor({ timeout: 15_000 });
    expect(violations).toEqual([]);
  }, 90_000);

  it('refuses a wrong password, connects with the right one, and lists alice with her public user only', async () => {
    const connectWith = async (password: string) => {
      await ui.getByLabel('Server URL').fill(base());
      await ui.getByLabel('Username').fill(ADMIN_UI.username);
      await ui.getByLabel('Password').fill(password);
      await ui.getByRole('button', { name: 'Connect' }).click();
    };
    const status = () => ui.locator('header').innerText();
    await connectWith('wrong');
    await ui.getByText('Invalid credentials').waitFor({ timeout: 15_000 });
    expect(await status()).toMatch(/Status:\s*disconnected/i);
    // The UI's websockets from now on: closes, and the server's stats, which the admin namespace sends every 2 s.
    let stats = 0;
    let closes = 0;
    ui.on('websocket', (ws) => {
      ws.on('framereceived', (frame) => void (String(frame.payload).includes('"server_stats"') && stats++));
      ws.on('close', () => closes++);
    });
    await connectWith(ADMIN_UI.password);
    await ui.waitForFunction(
      () => /Status:\s*connected/i.test((document.querySelector('header') as HTMLElement | null)?.innerText ?? ''),
      null,
      {
        timeout: 15_000,
      },
    );

    await ui.click('a[href="#/sockets"]');
    await listsSockets(ui, 1); // alice's chat page
    const [aliceSocket] = await listedSockets(ui);
    const data = await socketData(ui, aliceSocket);
    expect(data).toEqual({
      auth: {
        state: 'authenticated',
        sessionId: expect.any(String),
        principalId: 'alice',
        user: { id: 'alice', name: 'Alice', roles: ['admin'], teams: ['red'] },
        authenticatedAt: expect.any(Number),
        expiresAt: expect.any(Number),
      },
    });
    // A third stats message comes 4 s after connecting, well past AUTH_TIMEOUT_MS (1 s) and the idle close that
    // would follow it for a connection the module finds useless: the UI's is still the one it opened.
    await until(() => stats >= 3, 15_000, 'three server_stats');
    expect(closes).toBe(0);
    expect(await status()).toMatch(/Status:\s*connected/i);
  }, 60_000);

  it("lists bob's socket live as he logs in, with his public user", async () => {
    await listsSockets(ui, 1);
    const before = await listedSockets(ui);
    const bob = await chatAs(bobBrowser, 'bob');
    await listsSockets(ui, 2);
    const added = (await listedSockets(ui)).filter((id) => !before.includes(id));
    expect(added).toHaveLength(1);
    const data = await socketData(ui, added[0]);
    expect(data.auth).toMatchObject({ state: 'authenticated', principalId: 'bob', user: { id: 'bob', name: 'Bob' } });
    expect(Object.keys(data)).toEqual(['auth']);
    await bob.close();
    await listsSockets(ui, 1);
    expect(await listedSockets(ui)).toEqual(before);
  }, 60_000);
});
