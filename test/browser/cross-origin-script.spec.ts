/**
 * The JSONP hijack in real Chromium: a page on another origin of the same site
 * (another port of 127.0.0.1, as a sibling subdomain would be) loads the
 * polling URL with `<script src>`. The victim's SameSite=Lax session cookie
 * goes along, as a control script from the app proves, but the page learns no
 * sid.
 */
import { Controller, Get, Header, Req } from '@nestjs/common';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeIfChromium, launchChromium } from '../support/chromium.js';
import { cookieApp, login, type SessionRequest } from '../support/cookie-session.js';
import type { TestApp } from '../support/harness.js';

/** The control: a script from the app that says whose session cookie came with a cross-origin `<script>`. */
@Controller()
class ProbeController {
  @Get('probe.js')
  @Header('content-type', 'application/javascript')
  probe(@Req() req: SessionRequest): string {
    return `window.probe = ${JSON.stringify(req.session?.user ?? null)};`;
  }
}

describeIfChromium('a cross-origin page and the JSONP polling URL in Chromium', () => {
  let t: TestApp;
  let page: Server;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  beforeAll(async () => {
    t = await cookieApp({}, [ProbeController]);
    const app = t.url; // http://127.0.0.1:<port>
    const html = `<!doctype html><script>window.___eio = [function (d) { window.leak = d; }];</script>
<script src="${app}/probe.js"></script>
<script src="${app}/socket.io/?EIO=4&transport=polling&j=0" onload="window.loaded = 'load'" onerror="window.loaded = 'error'"></script>`;
    page = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
    await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => page?.close(resolve));
    await t?.close();
  });

  it('the script loads with the victim’s cookie, yet gets no sid', async () => {
    const cookie = (await login(t.url)).split('=');
    await browser.context.addCookies([
      { name: cookie[0], value: cookie.slice(1).join('='), domain: '127.0.0.1', path: '/', sameSite: 'Lax' },
    ]);
    const tab = await browser.context.newPage();
    await tab.goto(`http://127.0.0.1:${(page.address() as AddressInfo).port}/`);
    await tab.waitForFunction(() => (window as unknown as { loaded?: string }).loaded !== undefined);
    const seen = await tab.evaluate(() => {
      const w = window as unknown as { probe?: unknown; leak?: unknown; loaded?: string };
      return { probe: w.probe, leak: w.leak ?? null, loaded: w.loaded };
    });
    expect(seen.probe).toBe('alice'); // control: the cookie went along with a cross-origin <script>
    expect(seen).toEqual({ probe: 'alice', leak: null, loaded: 'error' });
  }, 30_000);
});
