/**
 * Per-address limits key on the client's IPv6 prefix (`ipv6Subnet`, default
 * /64), so one client cannot take a fresh budget from every address of its
 * subnet; IPv4-mapped addresses count as their IPv4 address.
 */
import { WebSocketGateway } from '@nestjs/websockets';
import type { AuthSocketModuleOptions } from '../../lib/index.js';
import { authenticate, closeClients, connect, createApp, type TestApp } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

@WebSocketGateway()
class Gateway {}

describe('per-address limits and IPv6', () => {
  let t: TestApp;
  async function app(options: Partial<AuthSocketModuleOptions> = {}): Promise<void> {
    t = await createApp(
      { ...tokenAuth, timeout: 5000, trustProxy: true, maxFailuresPerAddress: 2, ...options },
      {
        providers: [Gateway],
      },
    );
  }
  afterEach(async () => {
    closeClients();
    await t.close();
  });
  /** One wrong guess from `ip` (as the trusted proxy reports it); the refusal's code. */
  async function guessFrom(ip: string): Promise<string> {
    const c = connect(t.url, { extraHeaders: { 'x-forwarded-for': ip } });
    return (await authenticate(c, { token: 'wrong' })).error.code;
  }

  it('addresses of one /64 share one failure budget; another /64 has its own (control)', async () => {
    await app();
    expect(await guessFrom('2001:db8:0:1::a')).toBe('invalid_credentials');
    expect(await guessFrom('2001:db8:0:1::b')).toBe('invalid_credentials');
    expect(await guessFrom('2001:db8:0:1:ffff:1:2:3')).toBe('rate_limited'); // a third /128, the same /64
    expect(await guessFrom('2001:db8:0:2::a')).toBe('invalid_credentials'); // the next /64
  });

  it('ipv6Subnet: false counts each IPv6 address alone', async () => {
    await app({ ipv6Subnet: false });
    for (const ip of ['2001:db8:0:1::a', '2001:db8:0:1::b', '2001:db8:0:1::c'])
      expect(await guessFrom(ip)).toBe('invalid_credentials');
  });

  it('an IPv4-mapped IPv6 address shares the budget of its IPv4 address', async () => {
    await app();
    expect(await guessFrom('203.0.113.7')).toBe('invalid_credentials');
    expect(await guessFrom('::ffff:203.0.113.7')).toBe('invalid_credentials');
    expect(await guessFrom('203.0.113.7')).toBe('rate_limited');
    expect(await guessFrom('203.0.113.8')).toBe('invalid_credentials'); // control: another IPv4 address
  });

  it('a bad ipv6Subnet fails at start-up, naming the option and the value', async () => {
    await expect(app({ ipv6Subnet: 129 })).rejects.toThrow(
      'option "ipv6Subnet" must be a whole number from 1 to 128, or false (got 129, number)',
    );
    await app(); // so afterEach has an app to close
  });
});
