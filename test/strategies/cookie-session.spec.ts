/**
 * Authentication from the handshake request, for cookie sessions: the same
 * express-session instance on Nest's HTTP routes and on socket.io's engine
 * (socket.io's documented `io.engine.use(sessionMiddleware)` pattern).
 */
import { closeClients, connect, once, record, sleep, type TestApp } from '../support/harness.js';
import { cookieApp, Gateway, login, ORIGIN } from '../support/cookie-session.js';

describe('cookie sessions: a strategy with source "request"', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await cookieApp();
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  it('a logged-in session cookie authenticates at connect, with no message, and the socket gets broadcasts', async () => {
    const cookie = await login(t.url);
    const c = connect(t.url, { extraHeaders: { cookie, origin: ORIGIN } });
    const sent = record(c, 'authentication');
    expect(await once(c, 'authenticated')).toEqual({ sessionId: expect.any(String), user: { id: 'alice' } });
    expect(sent).toEqual([]);
    t.app.get(Gateway).server.emit('news', 'hello');
    expect(await once(c, 'news')).toBe('hello');
  });

  it('no cookie: refused invalid_credentials and disconnected', async () => {
    const c = connect(t.url, { extraHeaders: { origin: ORIGIN } });
    const gone = once(c, 'disconnect');
    expect(await once(c, 'unauthorized')).toMatchObject({ code: 'invalid_credentials' });
    await gone;
  });

  it('a foreign cookie (not signed by this app) is refused; the real one next to it works', async () => {
    const forged = connect(t.url, { extraHeaders: { cookie: 'connect.sid=s%3Aforged.c2lnbmF0dXJl', origin: ORIGIN } });
    expect(await once(forged, 'unauthorized')).toMatchObject({ code: 'invalid_credentials' });
    const real = connect(t.url, { extraHeaders: { cookie: await login(t.url), origin: ORIGIN } });
    expect(await once(real, 'authenticated')).toEqual({ sessionId: expect.any(String), user: { id: 'alice' } });
  });

  it('a cross-origin handshake with a valid cookie is refused before anything runs (no hijacking)', async () => {
    const cookie = await login(t.url);
    const c = connect(t.url, { extraHeaders: { cookie, origin: 'http://evil.example' } });
    const error = await once<{ data: { code: string } }>(c, 'connect_error');
    expect(error.data.code).toBe('forbidden_origin');
    await sleep(50);
    expect(t.auth.stats().authenticated).toBe(0);
  });
});
