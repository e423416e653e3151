/**
 * `verifyOptions.maxAge` bounds a live socket as it bounds a new one: the
 * session ends at min(exp, iat + maxAge), not only when the token is checked.
 */
import { JwtModule, JwtService } from '@nestjs/jwt';
import { JwtSocketStrategy } from '../../lib/jwt/index.js';
import { authenticate, closeClients, connect, createApp, once, type TestApp } from '../support/harness.js';
import { jwtOptions, NewsGateway, refusalOf } from './jwt-fixtures.js';

describe('JwtSocketStrategy and verifyOptions.maxAge', () => {
  const apps: TestApp[] = [];
  async function app(maxAge?: string | number): Promise<TestApp> {
    const verifyOptions = { ...jwtOptions.verifyOptions, ...(maxAge === undefined ? {} : { maxAge }) };
    const t = await createApp(
      { strategy: JwtSocketStrategy, maxFailuresPerAddress: 0 },
      { imports: [JwtModule.register({ ...jwtOptions, verifyOptions })], providers: [NewsGateway] },
    );
    apps.push(t);
    return t;
  }
  afterEach(async () => {
    closeClients();
    await Promise.all(apps.splice(0).map((t) => t.close()));
  });

  it.each(['3s', 3])(
    'a socket is told expired at iat + maxAge (%p) although exp is far; without maxAge it stays (control)',
    async (maxAge) => {
      const bounded = await app(maxAge);
      const unbounded = await app();
      const iat = Math.floor(Date.now() / 1000) - 1; // iat + maxAge is 1 to 2 s ahead; exp is 5 minutes ahead
      const token = await bounded.app.get(JwtService).signAsync({ sub: 'alice', iat });
      const live = connect(bounded.url);
      const control = connect(unbounded.url);
      const ends = once(live, 'unauthorized', 6000);
      expect((await authenticate(live, { token })).ok).toBe(true);
      expect((await authenticate(control, { token })).ok).toBe(true);
      const told = await ends;
      expect(told.code).toBe('expired');
      expect(Date.now()).toBeGreaterThanOrEqual((iat + 3) * 1000 - 50);
      expect(control.connected).toBe(true);
      // The same token on a new socket is refused too: the two agree.
      expect((await refusalOf(bounded.url, { token })).ack.error.code).toBe('expired');
    },
  );
});
