import { AuthSocketDefaults, resolveOptions } from './auth-socket.options.js';

describe('resolveOptions', () => {
  it('fills every default and keeps what the app gives', () => {
    const options = resolveOptions({ timeout: 5000, events: { authentication: 'login' } });
    expect(options).toEqual({
      ...new AuthSocketDefaults(),
      timeout: 5000,
      events: { ...new AuthSocketDefaults().events, authentication: 'login' },
    });
  });

  it('treats undefined as "use the default" and false as "timeout disabled"', () => {
    expect(resolveOptions({ timeout: undefined }).timeout).toBe(1000);
    expect(resolveOptions({ timeout: false }).timeout).toBe(false);
  });

  it.each([
    [{ timeout: -1 }, /"timeout" must be a number ≥ 0/],
    [{ maxPending: Number.NaN }, /"maxPending"/],
    [{ strategyTimeout: 0 }, /"strategyTimeout" must be greater than 0/],
    [{ scope: 'everything' }, /"scope"/],
    [{ onExpiry: 'ignore' }, /"onExpiry"/],
    [{ trustProxy: 1.5 }, /"trustProxy"/],
    [{ allowedOrigins: 'https://a.example' }, /"allowedOrigins"/],
    [{ events: { authenticated: '' } }, /"events.authenticated"/],
    [{ timeout: 'soon' }, /"timeout" must be a number ≥ 0 \(got "soon", string\)/],
    [{ timeout: 2 ** 31 }, /"timeout" must be at most 2147483147 ms, Node's timer limit \(got 2147483648, number\)/],
    [{ timeout: 2 ** 31 - 1 }, /"timeout" must be at most 2147483147 ms/],
    [{ strategyTimeout: 2 ** 31 }, /"strategyTimeout" must be at most 2147483647 ms/],
    [{ refreshAhead: 'early' }, /"refreshAhead" must be a number ≥ 0 \(got "early", string\)/],
    [{ refreshAhead: -5 }, /"refreshAhead" must be a number ≥ 0/],
    [{ revalidateInterval: 50 }, /"revalidateInterval" must be at least 100 ms, or false/],
    [{ revalidateInterval: true }, /"revalidateInterval" must be a number ≥ 0/],
    [{ revocationTtl: 10 }, /"revocationTtl" must be at least 1000 ms/],
    [{ revocationStore: { add() {} } }, /"revocationStore" must be a RevocationStore/],
    [
      { events: { refreshRequired: 'disconnect' } },
      /"events.refreshRequired" must be a name socket.io does not reserve/,
    ],
  ])('refuses a misconfiguration at start-up: %p', (given, message) => {
    expect(() => resolveOptions(given as never)).toThrow(message);
  });

  it("accepts the lifecycle options' valid forms, config strings included (control for the refusals above)", () => {
    expect(resolveOptions({ refreshAhead: 'auto' }).refreshAhead).toBe('auto');
    expect(resolveOptions({ refreshAhead: false }).refreshAhead).toBe(false);
    expect(resolveOptions({ refreshAhead: '30000' as never, revalidateInterval: '60000' as never })).toMatchObject({
      refreshAhead: 30000,
      revalidateInterval: 60000,
    });
    expect(resolveOptions({ revocationStore: { add() {}, isRevoked: () => false } }).revocationStore).toBeDefined();
  });

  it('accepts the largest timeouts Node can arm (control for the limits above)', () => {
    expect(resolveOptions({ timeout: 2 ** 31 - 1 - 500, strategyTimeout: 2 ** 31 - 1 })).toMatchObject({
      timeout: 2147483147,
      strategyTimeout: 2147483647,
    });
  });
});
