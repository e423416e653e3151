/**
 * Cookie-session hijacking through engine.io, written as the attacking page
 * sends it: a `<script src>` to the JSONP polling URL (the victim's cookie, no
 * Origin), a form POST from another site onto the sid, script GETs to read the
 * frames, and an upgrade from another origin. With `allowedOrigins` set, each
 * is refused, while the app's own page (and non-browser clients of a message
 * strategy) still get through.
 */
import { WebSocketGateway } from '@nestjs/websockets';
import { authenticate, closeClients, connect, createApp, type TestApp } from '../support/harness.js';
import { cookieApp, login, ORIGIN } from '../support/cookie-session.js';
import { http, openPolling, openWebSocket, type PollingSession, SEP } from '../support/raw.js';
import { tokenAuth } from '../support/strategies.js';

const EVIL = 'http://evil.example';
const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin' };

describe('cookie sessions and cross-origin requests onto engine.io', () => {
  let t: TestApp;
  let cookie: string;
  beforeEach(async () => {
    t = await cookieApp();
    cookie = await login(t.url);
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  /** The app's own page: a handshake and CONNECT from the allowed origin. */
  async function ownPage(): Promise<PollingSession> {
    const poll = await openPolling(t.url, { cookie, headers: { origin: ORIGIN } });
    return poll;
  }

  it('a JSONP handshake with the victim’s cookie and no Origin gets no sid; the page’s own XHR handshake does (control)', async () => {
    const jsonp = await http('GET', `${t.url}/socket.io/?EIO=4&transport=polling&j=0`, undefined, { cookie });
    expect(jsonp.status).toBe(400);
    expect(jsonp.body).not.toContain('sid');
    const xhr = await http('GET', `${t.url}/socket.io/?EIO=4&transport=polling`, undefined, {
      cookie,
      headers: SAME_ORIGIN,
    });
    expect(xhr.status).toBe(200);
    expect(xhr.body).toContain('"sid"');
  });

  it('a handshake without Origin or Sec-Fetch-Site: same-origin is refused forbidden_origin at CONNECT; with it, it authenticates (control)', async () => {
    const blind = await openPolling(t.url, { cookie }); // what a no-cors subresource request sends
    await blind.post('40', { headers: { origin: ORIGIN } });
    expect((await blind.get({ headers: { origin: ORIGIN } })).body).toMatch(/^44\{.*"code":"forbidden_origin"/);
    const own = await openPolling(t.url, { cookie, headers: SAME_ORIGIN });
    await own.post('40', { headers: SAME_ORIGIN });
    let frames = '';
    while (!frames.includes('authenticated')) frames += (await own.get({ headers: SAME_ORIGIN })).body + SEP;
    expect(frames).toMatch(/^40\{"sid"/);
    expect(frames).toMatch(/42\["authenticated",\{"user":\{"id":"alice"\},"sessionId":"[^"]+"\}\]/);
  });

  it('requests on an admitted sid are refused from another origin, or without Origin; from the allowed origin they work (control)', async () => {
    const poll = await ownPage();
    // The attacker's form POST (another Origin) would send the CONNECT that authenticates the victim's cookie.
    expect((await poll.post('40', { headers: { origin: EVIL } })).status).toBe(400);
    // The attacker's <script src> read: the victim's cookie, no Origin.
    expect((await poll.get({ headers: {} })).status).toBe(400);
    expect((await poll.post('40', { headers: { origin: ORIGIN } })).status).toBe(200);
    const answer = await poll.get({ headers: { origin: ORIGIN } });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatch(/^40\{"sid"/);
  });

  it('an upgrade of an admitted sid from another origin is refused; from the allowed origin it opens (control)', async () => {
    const poll = await ownPage();
    await expect(openWebSocket(t.url, poll.sid, { cookie, headers: { origin: EVIL } })).rejects.toMatchObject({
      status: 400,
    });
    const ws = await openWebSocket(t.url, poll.sid, { cookie, headers: { origin: ORIGIN } });
    ws.close();
  });
});

@WebSocketGateway()
class Gateway {}

describe('a message strategy with allowedOrigins', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createApp({ ...tokenAuth, timeout: 2000, allowedOrigins: [ORIGIN] }, { providers: [Gateway] });
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  it('refuses JSONP too, and still serves a non-browser client that sends no Origin (control)', async () => {
    const jsonp = await http('GET', `${t.url}/socket.io/?EIO=4&transport=polling&j=0`);
    expect(jsonp.status).toBe(400);
    const node = connect(t.url, { transports: ['polling', 'websocket'] });
    expect((await authenticate(node, { token: 'alice-token' })).ok).toBe(true);
  });

  it('a request on a sid from another origin is refused, though a missing Origin is allowed', async () => {
    const poll = await openPolling(t.url, { headers: { origin: ORIGIN } });
    expect((await poll.post('40', { headers: { origin: EVIL } })).status).toBe(400);
    expect((await poll.post('40', { headers: {} })).status).toBe(200);
  });
});
