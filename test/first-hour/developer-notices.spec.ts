/**
 * What a developer needs to see in the log during the first hour, logged once
 * per cause and rate-limited: timeouts, forbidden origins, and handshake
 * credentials the module ignores; and strategy errors with exposeStrategyErrors.
 */
import { WebSocketGateway } from '@nestjs/websockets';
import { Outcomes } from '../../lib/core/outcomes.js';
import { captureLogs, closeClients, connect, once, until, withApp } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

@WebSocketGateway()
class Gateway {}
const app = { providers: [Gateway] };

describe('developer notices', () => {
  afterEach(closeClients);

  it('logs one notice for many timeouts, naming the namespace and the timeout', async () => {
    const logs = captureLogs();
    try {
      await withApp({ ...tokenAuth, timeout: 150 }, app, async (t) => {
        const sockets = [connect(t.url), connect(t.url), connect(t.url)];
        await Promise.all(sockets.map((s) => once(s, 'unauthorized', 5000)));
      });
    } finally {
      logs.restore();
    }
    const notices = logs.lines.filter((l) => l.includes('did not authenticate within 150 ms'));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain('a socket on / did not authenticate');
  });

  it('names the refused Origin and the allowed list, once', async () => {
    const logs = captureLogs();
    try {
      await withApp({ ...tokenAuth, allowedOrigins: ['http://app.test'] }, app, async (t) => {
        const ok = connect(t.url, { extraHeaders: { origin: 'http://app.test' } });
        await once(ok, 'connect'); // control: the listed origin connects
        for (let i = 0; i < 2; i++) {
          const refused = connect(t.url, { extraHeaders: { origin: 'http://app.test:3000' } });
          expect((await once<any>(refused, 'connect_error')).data.code).toBe('forbidden_origin');
        }
      });
    } finally {
      logs.restore();
    }
    const notices = logs.lines.filter((l) => l.includes('forbidden_origin'));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain('Origin "http://app.test:3000", allowedOrigins ["http://app.test"]');
  });

  it('says that handshake auth is ignored while handshake is off, without quoting the credentials', async () => {
    const logs = captureLogs();
    try {
      await withApp(tokenAuth, app, async (t) => {
        const socket = connect(t.url, { auth: { token: 'alice-token' } });
        await once(socket, 'connect');
        await until(() => logs.lines.some((l) => l.includes('handshake `auth`')), 3000, 'the notice');
      });
    } finally {
      logs.restore();
    }
    const text = logs.lines.join('\n');
    expect(text).toContain('which is ignored while the handshake option is off');
    expect(text).not.toContain('alice-token');
  });

  it('rate-limits each cause to one line a minute and counts what it held back', () => {
    const warnings: string[] = [];
    const outcomes = new Outcomes([], { log() {}, warn: (m) => warnings.push(m), error() {} });
    outcomes.notice('timeout', () => 'first', 0);
    outcomes.notice('timeout', () => 'second', 30_000);
    outcomes.notice('timeout', () => 'third', 59_999);
    outcomes.notice('forbidden_origin', () => 'other cause', 1);
    outcomes.notice('timeout', () => 'fourth', 60_000);
    expect(warnings).toEqual([
      'first; this notice repeats at most once a minute',
      'other cause; this notice repeats at most once a minute',
      'fourth (2 more since the last notice); this notice repeats at most once a minute',
    ]);
  });

  it.each([
    [false, false],
    [true, true],
  ])('exposeStrategyErrors %s: the strategy error message is logged: %s', async (expose, shown) => {
    const logs = captureLogs();
    try {
      await withApp({ ...tokenAuth, exposeStrategyErrors: expose }, app, async (t) => {
        const socket = connect(t.url);
        await once(socket, 'connect');
        socket.emit('authentication', { token: 'alice-token', throw: 'plain' });
        expect((await once<any>(socket, 'unauthorized')).code).toBe('server_error'); // the client never sees it
      });
    } finally {
      logs.restore();
    }
    const text = logs.lines.join('\n');
    expect(text).toContain('strategy threw for socket');
    expect(text.includes('database exploded near alice-token')).toBe(shown);
    expect(text.includes('message withheld')).toBe(!shown);
  });
});
