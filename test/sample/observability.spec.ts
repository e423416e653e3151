/**
 * The sample's observability, against the real sample app over loopback:
 *   - `GET /metrics` after a scripted run (logins, a refused token, a refresh,
 *     a timeout, an expiry, a logout, a refused room, a refused and an idle
 *     connection): every instrument, with its labels, in the names the OTel
 *     Prometheus exporter gives them, and nothing that names a user or holds
 *     a token; who may read it;
 *   - the Grafana dashboard's queries, each against what /metrics exposes;
 *   - `GET /health`;
 *   - the Admin UI: its files behind the admin login, its `/admin` namespace
 *     behind its basic credentials, and what it is sent about a chat socket.
 */
import { JwtService } from '@nestjs/jwt';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Socket as ClientSocket } from 'socket.io-client';
import { ADMIN_UI_COOKIE } from '../../sample/admin-ui.js';
import { ChatGateway } from '../../sample/chat.gateway.js';
import { isLoopback } from '../../sample/metrics.controller.js';
import { DURATION_BUCKETS, startMetrics, stopMetrics } from '../../sample/telemetry.js';
import { closeClients, connect, once, sleep } from '../support/harness.js';
import { openPolling, SEP } from '../support/raw.js';
import { attempt, loginFull, logout, refresh, startSample, type Login, type Sample } from './sample-app.js';

const ADMIN_UI = { username: 'ops', password: `admin-ui-${randomUUID()}` };
const env = { ...process.env };
Object.assign(process.env, {
  AUTH_TIMEOUT_MS: '400',
  PRESENCE_DELAY_MS: '50',
  STATUS_INTERVAL_MS: '60000',
  ADMIN_UI_USERNAME: ADMIN_UI.username,
  ADMIN_UI_PASSWORD: ADMIN_UI.password,
});
delete process.env.METRICS_TOKEN;

/** One sample line of the Prometheus text format. */
interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Series[] {
  const series: Series[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const found = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/);
    if (!found) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (found[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[key] = value;
    series.push({ name: found[1], labels, value: Number(found[3]) });
  }
  return series;
}

/** The sum of the series named `name` whose labels include `labels`. */
function total(series: Series[], name: string, labels: Record<string, string> = {}): number {
  return series
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Resolves once `check()` resolves truthy (polled); rejects after `ms`. */
async function eventually<T>(check: () => Promise<T | undefined | false>, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const result = await check();
    if (result) return result;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(25);
  }
}

/**
 * What is wrong with a dashboard's panels against what /metrics exposes: a
 * target without a module metric, a metric /metrics does not expose, a label
 * grouped or matched on that none of the metric's series carries.
 */
function dashboardProblems(panels: any[], exposed: Series[]): string[] {
  const problems: string[] = [];
  const names = new Set(exposed.map((s) => s.name));
  const labelsOf = (name: string) =>
    new Set(exposed.filter((s) => s.name === name).flatMap((s) => Object.keys(s.labels)));
  for (const panel of panels) {
    if (!panel.targets?.length) problems.push(`${panel.title}: no query`);
    for (const { expr } of panel.targets ?? []) {
      // Metric names: what is left once label lists (`by (…)`) and matchers (`{…}`) are taken out.
      const bare = expr.replace(/\bby \([^)]*\)/g, '').replace(/\{[^}]*\}/g, '');
      const metrics = [...new Set<string>(bare.match(/\bsocket_auth_[a-z_]+\b/g) ?? [])];
      if (!metrics.length) problems.push(`${panel.title}: ${expr} queries no module metric`);
      for (const metric of metrics) if (!names.has(metric)) problems.push(`${panel.title}: ${metric} is not exposed`);
      const grouped = [...expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m: RegExpMatchArray) =>
        m[1].split(',').map((l) => l.trim()),
      );
      const matched = [...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m: RegExpMatchArray) =>
        [...m[1].matchAll(/([a-zA-Z_]+)\s*=~?/g)].map((l) => l[1]),
      );
      for (const label of [...grouped, ...matched]) {
        if (!metrics.some((metric) => labelsOf(metric).has(label)))
          problems.push(`${panel.title}: no series of ${metrics.join(', ')} has the label ${label}`);
      }
    }
  }
  return problems;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('the sample observability', () => {
  let sample: Sample;
  let url: string;
  /** After the scripted run. */
  let metricsText: string;
  let series: Series[];
  let aliceLogin: Login;
  let alice: ClientSocket;
  let aliceSessions: string[];
  /** Every credential and identifier the run handed out: none may be in /metrics. */
  const secrets: string[] = [];

  const metrics = async () => (await fetch(`${url}/metrics`)).text();

  beforeAll(async () => {
    // As main.ts does: the provider before the app, so the module's meter is a real one.
    startMetrics();
    sample = await startSample();
    url = sample.url;

    // Accepted: alice, first authentication.
    aliceLogin = await loginFull(url, 'alice');
    const first = await attempt(url, aliceLogin.token);
    expect(first.reply.ok).toBe(true);
    alice = first.socket;
    // Refused: a token that is no token.
    expect((await attempt(url, 'forged')).reply).toMatchObject({ ok: false, error: { code: 'invalid_credentials' } });
    // A refresh in place, with the token the refresh cookie trades for.
    const next = (await (await refresh(url, aliceLogin.cookie)).json()).token as string;
    expect(await alice.timeout(3000).emitWithAck('authentication', { token: next })).toMatchObject({ ok: true });
    // A room refused: bob is not in team blue.
    const bobLogin = await loginFull(url, 'bob');
    const bob = (await attempt(url, bobLogin.token)).socket;
    expect(await bob.timeout(3000).emitWithAck('join', { room: 'team:blue' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    // A revocation: bob logs out, his socket is signed out.
    const signedOut = once(bob, 'unauthorized');
    expect((await logout(url, bobLogin.token, bobLogin.cookie)).status).toBe(200);
    expect((await signedOut).code).toBe('revoked');
    // A timeout: a socket that never authenticates.
    expect((await once(connect(url), 'unauthorized')).code).toBe('timeout');
    // An expiry: carol's token lives 2 s (minted with the app's own signing options), and nobody refreshes it.
    const short = await sample.app.get(JwtService).signAsync({ sub: 'carol' }, { jwtid: randomUUID(), expiresIn: 2 });
    const carol = await attempt(url, short);
    expect(carol.reply.ok).toBe(true);
    expect((await once(carol.socket, 'unauthorized', 5000)).code).toBe('expired');
    // An admission refusal: a second CONNECT to `/` on one connection.
    const raw = await openPolling(url);
    expect((await raw.post(`40${SEP}40`)).status).toBe(200);
    let answers = '';
    // Long-polling: one GET may bring the first CONNECT's answer only.
    for (let i = 0; i < 3 && !answers.includes('duplicate_namespace'); i++) answers += (await raw.get()).body;
    expect(answers).toContain('duplicate_namespace');
    // An idle close: a connection that never opens a namespace.
    await openPolling(url);
    await eventually(async () => (await metrics()).includes('socket_auth_idle_closes_total'), 'an idle close');

    secrets.push(aliceLogin.token, next, aliceLogin.cookie.split('=')[1], bobLogin.token, short);
    for (const token of [aliceLogin.token, next, bobLogin.token, short]) {
      const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
      secrets.push(claims.jti, ...(claims.sid ? [claims.sid] : []));
    }
    const devices = await (await fetch(`${url}/auth/sessions`, { headers: bearer(next) })).json();
    aliceSessions = devices.sessions.map((s: { id: string }) => s.id);
    expect(aliceSessions.length).toBe(1);
    secrets.push(...aliceSessions);
    metricsText = await metrics();
    series = parse(metricsText);
  }, 30_000);

  afterAll(async () => {
    closeClients();
    await sample?.close();
    await stopMetrics();
    process.env = env;
  });

  it('counts attempts by result, wire code and refresh, on their namespace', () => {
    const attempts = 'socket_auth_attempts_total';
    const chat = { socket_io_namespace: '/', otel_scope_name: 'nestjs-socket-auth' };
    // alice, bob, carol: first authentications accepted; alice's refresh; the forged token.
    expect(total(series, attempts, { ...chat, socket_auth_result: 'accepted', socket_auth_refresh: 'false' })).toBe(3);
    expect(total(series, attempts, { ...chat, socket_auth_result: 'accepted', socket_auth_refresh: 'true' })).toBe(1);
    expect(total(series, attempts, { ...chat, socket_auth_result: 'refused', error_type: 'invalid_credentials' })).toBe(
      1,
    );
    // No error_type on an accepted attempt; the timeout is no attempt.
    expect(series.filter((s) => s.name === attempts && s.labels.socket_auth_result === 'accepted')).not.toEqual([]);
    for (const s of series.filter((s) => s.name === attempts && s.labels.socket_auth_result === 'accepted'))
      expect(s.labels.error_type).toBeUndefined();
    expect(series.filter((s) => s.name === attempts && s.labels.error_type === 'timeout')).toEqual([]);
  });

  it('times the strategy and the hooks in seconds, in the sample buckets, and gauges the sockets now', async () => {
    const buckets = series.filter((s) => s.name === 'socket_auth_strategy_duration_bucket');
    const bounds = [...new Set(buckets.map((s) => s.labels.le))];
    expect(bounds).toEqual([...DURATION_BUCKETS.map(String), '+Inf']);
    // Every attempt that reached the strategy: 4 accepted and the forged one.
    expect(total(series, 'socket_auth_strategy_duration_count')).toBe(5);
    expect(total(series, 'socket_auth_strategy_duration_count', { socket_auth_result: 'ok' })).toBe(4);
    // Seconds, not milliseconds: a local HMAC check is far below a second.
    expect(total(series, 'socket_auth_strategy_duration_sum')).toBeLessThan(1);
    expect(total(series, 'socket_auth_strategy_duration_sum')).toBeGreaterThan(0);
    // The chat gateway's handleAuthenticated, once per first authentication.
    expect(total(series, 'socket_auth_hooks_duration_count')).toBe(3);

    const now = parse(await metrics());
    const authenticated = (await sample.app.get(ChatGateway).server.of('/').fetchSockets()).length;
    expect(authenticated).toBeGreaterThanOrEqual(1); // alice
    expect(total(now, 'socket_auth_sockets_authenticated')).toBe(authenticated);
    expect(now.some((s) => s.name === 'socket_auth_sockets_pending')).toBe(true);
  });

  it('counts refreshes, expiries, timeouts, revocations, admission refusals, idle closes and room refusals', () => {
    const chat = { socket_io_namespace: '/' };
    expect(total(series, 'socket_auth_refreshes_total', chat)).toBe(1);
    expect(total(series, 'socket_auth_expiries_total', chat)).toBe(1);
    expect(total(series, 'socket_auth_timeouts_total', chat)).toBeGreaterThanOrEqual(1);
    // bob's logout revoked his access token and his refresh cookie: one revoke() each.
    expect(total(series, 'socket_auth_revocations_total', { socket_auth_revocation_target: 'token' })).toBe(2);
    expect(total(series, 'socket_auth_admission_refusals_total', { ...chat, error_type: 'duplicate_namespace' })).toBe(
      1,
    );
    expect(total(series, 'socket_auth_idle_closes_total')).toBeGreaterThanOrEqual(1);
    expect(total(series, 'socket_auth_rooms_refusals_total', { ...chat, socket_auth_via: 'client' })).toBe(1);
  });

  it('holds no user id, name, token, token id, session id or address', async () => {
    const leaked = (text: string) =>
      [...secrets, 'alice', 'Alice', 'bob', 'carol', '127.0.0.1'].filter((s) => text.includes(s));
    expect(secrets.length).toBeGreaterThanOrEqual(12);
    // Control: the same check finds them where they are, in alice's devices list and a token's own claims.
    const devices = await (await fetch(`${url}/auth/sessions`, { headers: bearer(aliceLogin.token) })).text();
    expect(leaked(devices)).toEqual(expect.arrayContaining([...aliceSessions, '127.0.0.1']));
    expect(leaked(`${aliceLogin.token} ${secrets.join(' ')}`).length).toBeGreaterThanOrEqual(secrets.length);
    expect(leaked(metricsText)).toEqual([]);
  });

  it('every panel of the Grafana dashboard queries metrics /metrics exposes, by labels their series carry', () => {
    const dashboard = JSON.parse(
      readFileSync(new URL('../../sample/grafana/nestjs-socket-auth.json', import.meta.url), 'utf8'),
    );
    const panels = dashboard.panels.flatMap((p: any) => (p.type === 'row' ? (p.panels ?? []) : [p]));
    expect(panels.length).toBeGreaterThanOrEqual(8);
    expect(dashboardProblems(panels, series)).toEqual([]);
    // The template variable too.
    const variables = dashboard.templating.list.map((v: any) => ({ title: v.name, targets: [{ expr: v.definition }] }));
    expect(dashboardProblems(variables, series)).toEqual([]);
    // Control: the same check catches a wrong name, a missing label and a query on no module metric.
    expect(
      dashboardProblems(
        [
          { title: 'ms', targets: [{ expr: 'rate(socket_auth_strategy_duration_seconds_bucket[5m])' }] },
          { title: 'label', targets: [{ expr: 'sum by (user) (rate(socket_auth_attempts_total[5m]))' }] },
          { title: 'none', targets: [{ expr: 'up' }] },
        ],
        series,
      ),
    ).toEqual([
      'ms: socket_auth_strategy_duration_seconds_bucket is not exposed',
      'label: no series of socket_auth_attempts_total has the label user',
      'none: up queries no module metric',
    ]);
  });

  it('serves /metrics to this machine only, or with METRICS_TOKEN to its bearer from anywhere', async () => {
    for (const address of ['127.0.0.1', '127.3.2.1', '::1', '::ffff:127.0.0.1']) expect(isLoopback(address)).toBe(true);
    for (const address of ['10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', 'fe80::1', '128.0.0.1', '', undefined])
      expect(isLoopback(address)).toBe(false);

    // The app's own Express on every interface, reached through a non-loopback address of this machine.
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    const everywhere = createServer(sample.app.getHttpAdapter().getInstance());
    await new Promise<void>((resolve) => everywhere.listen(0, '0.0.0.0', resolve));
    const port = (everywhere.address() as AddressInfo).port;
    try {
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200); // control: loopback
      if (external) expect((await fetch(`http://${external}:${port}/metrics`)).status).toBe(403);
      else
        console.warn('no non-loopback IPv4 interface: the refusal from another address is checked by isLoopback only');

      process.env.METRICS_TOKEN = `metrics-${randomUUID()}`;
      const none = await fetch(`${url}/metrics`);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await fetch(`${url}/metrics`, { headers: bearer('wrong') })).status).toBe(401);
      const right = await fetch(`${url}/metrics`, { headers: bearer(process.env.METRICS_TOKEN) });
      expect(right.status).toBe(200);
      expect(await right.text()).toContain('socket_auth_attempts_total');
      if (external) {
        const far = await fetch(`http://${external}:${port}/metrics`, { headers: bearer(process.env.METRICS_TOKEN) });
        expect(far.status).toBe(200);
      }
    } finally {
      delete process.env.METRICS_TOKEN;
      await new Promise((resolve) => everywhere.close(resolve));
    }
  });

  it('GET /health is up, with both stores and the pending count', async () => {
    const res = await fetch(`${url}/health`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.status).toBe('ok');
    expect(body.info.socket_auth).toEqual({
      status: 'up',
      limitStore: 'up',
      revocationStore: 'up',
      pending: expect.any(Number),
      maxPending: 10000,
    });
  });

  describe('the Admin UI files', () => {
    /** The UI cookie from POST /admin/ui-session, or the response when there is none. */
    async function uiSession(token: string | undefined, headers: Record<string, string> = {}) {
      const res = await fetch(`${url}/admin/ui-session`, {
        method: 'POST',
        headers: { ...(token ? bearer(token) : {}), ...headers },
      });
      const setCookie = res.headers.getSetCookie().find((c) => c.startsWith(`${ADMIN_UI_COOKIE}=`));
      return { status: res.status, setCookie, cookie: setCookie?.split(';')[0] };
    }
    const page = (cookie?: string, path = '/admin-ui/') =>
      fetch(`${url}${path}`, { headers: cookie ? { cookie } : {}, redirect: 'manual' });

    it('are served to an admin browser cookie only: not to bob, nor without it, nor from another origin', async () => {
      const bob = await loginFull(url, 'bob');
      expect((await uiSession(undefined)).status).toBe(401);
      expect(await uiSession(bob.token)).toMatchObject({ status: 403, setCookie: undefined });
      const login = await loginFull(url, 'alice');
      expect(await uiSession(login.token, { 'sec-fetch-site': 'same-site' })).toMatchObject({ status: 403 });
      const ui = await uiSession(login.token);
      expect(ui.status).toBe(204);
      expect(ui.setCookie).toMatch(/; Max-Age=1800; Path=\/admin-ui; HttpOnly; SameSite=Strict$/);

      expect((await page()).status).toBe(401);
      // Another token of the same app in the cookie (another audience) is refused: only the UI cookie opens it.
      expect((await page(`${ADMIN_UI_COOKIE}=${login.token}`)).status).toBe(401);
      expect((await page(`${ADMIN_UI_COOKIE}=${login.cookie.split('=')[1]}`)).status).toBe(401);
      const index = await page(ui.cookie);
      expect(index.status).toBe(200);
      expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");
      const html = await index.text();
      expect(html).toContain('Socket.IO Admin UI');
      expect(html).not.toContain('https://'); // no CDN stylesheet
      const assets = [...html.matchAll(/(?:href|src)="([^"]+)"/g)].map((m) => m[1]);
      expect(assets.length).toBeGreaterThanOrEqual(4);
      for (const asset of new Set(assets)) {
        const res = await page(ui.cookie, `/admin-ui/${asset}`);
        expect([asset, res.status]).toEqual([asset, 200]);
        await res.arrayBuffer();
        expect((await page(undefined, `/admin-ui/${asset}`)).status).toBe(401);
      }
      expect((await page(ui.cookie, '/admin-ui')).headers.get('location')).toBe('/admin-ui/');
      for (const path of [
        '/admin-ui/package.json',
        '/admin-ui/..%2F..%2Fpackage.json',
        `/admin-ui/${assets.find((a) => a.endsWith('.js'))}.map`,
      ])
        expect([path, (await page(ui.cookie, path)).status]).toEqual([path, 404]);
    });

    it('close with the browser that opened them: logging it out refuses its UI cookie', async () => {
      const login = await loginFull(url, 'alice');
      const ui = await uiSession(login.token);
      expect((await page(ui.cookie)).status).toBe(200); // control
      expect((await logout(url, login.token, login.cookie)).status).toBe(200);
      expect((await page(ui.cookie)).status).toBe(401);
      // Another browser of alice's keeps its own.
      const other = await uiSession(aliceLogin.token);
      expect((await page(other.cookie)).status).toBe(200);
    });
  });

  describe('the /admin namespace', () => {
    const admin = (auth: object = ADMIN_UI, localAddress?: string) =>
      connect(`${url}/admin`, { auth, ...(localAddress ? { localAddress } : {}) } as object);
    const refusal = async (socket: ClientSocket) => (await once<Error>(socket, 'connect_error', 10_000)).message;

    it('takes the basic credentials, and is never gated by the module', async () => {
      expect(await refusal(admin({}))).toBe('invalid credentials');
      expect(await refusal(admin({ ...ADMIN_UI, password: 'wrong' }))).toBe('invalid credentials');
      const ui = admin();
      const config = await once(ui, 'config', 10_000);
      expect(config.supportedFeatures).toEqual(expect.arrayContaining(['EMIT', 'JOIN', 'ALL_EVENTS']));
      let dropped = false;
      ui.on('disconnect', () => (dropped = true));
      // Controls, opened after the UI's: a socket on `/` that never authenticates, and a connection with no socket.
      const chat = connect(url);
      const idleCloses = async () => total(parse(await metrics()), 'socket_auth_idle_closes_total');
      const before = await idleCloses();
      await openPolling(url);
      expect((await once(chat, 'unauthorized')).code).toBe('timeout');
      await eventually(async () => (await idleCloses()) > before, 'the idle connection closed');
      // Past both: the UI's connection is neither timed out nor closed as idle (a public namespace the module knows).
      expect(dropped).toBe(false);
      expect(ui.connected).toBe(true);
    });

    it('is sent the public view in socket.data.auth, no server-side credentials, and no token of any event', async () => {
      const ui = admin();
      const seen: unknown[] = [];
      ui.onAny((...args) => seen.push(args));
      const sockets = await once<any[]>(ui, 'all_sockets', 10_000);
      const shown = sockets.find((s) => s.nsp === '/' && s.data?.auth?.principalId === 'alice');
      expect(shown.data).toEqual({
        auth: {
          state: 'authenticated',
          sessionId: expect.any(String),
          principalId: 'alice',
          user: { id: 'alice', name: 'Alice', roles: ['admin'], teams: ['red'] },
          authenticatedAt: expect.any(Number),
          expiresAt: expect.any(Number),
        },
      });
      // Control: the server does hold alice's credentials in socket.data (what signing a device out revokes).
      const held = await sample.app.get(ChatGateway).credentialsOf('alice');
      expect(held.some((c) => typeof c.login === 'string' && typeof c.tokenId === 'string')).toBe(true);

      // A new socket while the UI watches: its `authentication` is shown without the token, its chat message as is.
      const carol = await loginFull(url, 'carol');
      const socket = connect(url);
      const received = (event: string) =>
        new Promise<unknown[]>((resolve) =>
          ui.on('event_received', (nsp: string, id: string, args: unknown[]) => {
            if (nsp === '/' && id === socket.id && args[0] === event) resolve(args);
          }),
        );
      const authentication = received('authentication');
      await once(socket, 'connect');
      expect(await socket.timeout(3000).emitWithAck('authentication', { token: carol.token })).toMatchObject({
        ok: true,
      });
      expect(await authentication).toEqual(['authentication', '[credentials redacted by the sample]']);
      const message = received('chat:send');
      await socket.timeout(3000).emitWithAck('chat:send', { text: 'seen by the admin ui' });
      expect(await message).toEqual(['chat:send', { text: 'seen by the admin ui' }]);
      const everything = JSON.stringify(seen);
      expect(everything).toContain('seen by the admin ui'); // control: the UI's feed is what `seen` holds
      expect(everything).toContain('"principalId":"carol"');
      expect(everything).not.toContain(carol.token);
      expect(everything).not.toContain('"credentials"');
      expect(everything).not.toContain(JSON.parse(Buffer.from(carol.token.split('.')[1], 'base64url').toString()).sid);
    });

    it('limits password checks per address to 10 a minute', async () => {
      const wrong = { ...ADMIN_UI, password: 'wrong' };
      for (let i = 0; i < 10; i++) expect(await refusal(admin(wrong, '127.0.0.5'))).toBe('invalid credentials');
      expect(await refusal(admin(wrong, '127.0.0.5'))).toBe('too many attempts: try again in a minute');
      expect(await refusal(admin(ADMIN_UI, '127.0.0.5'))).toBe('too many attempts: try again in a minute');
      // Control: another address is checked as before, and gets in.
      const ui = admin(ADMIN_UI, '127.0.0.6');
      await once(ui, 'config', 10_000);
      expect(ui.connected).toBe(true);
    }, 60_000);
  });
});
