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
  ])('refuses a misconfiguration at start-up: %p', (given, message) => {
    expect(() => resolveOptions(given as never)).toThrow(message);
  });

  it('accepts the largest timeouts Node can arm (control for the limits above)', () => {
    expect(resolveOptions({ timeout: 2 ** 31 - 1 - 500, strategyTimeout: 2 ** 31 - 1 })).toMatchObject({
      timeout: 2147483147,
      strategyTimeout: 2147483647,
    });
  });
});
