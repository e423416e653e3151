import { JwtModule, JwtService } from '@nestjs/jwt';
import { generateKeyPairSync } from 'node:crypto';
import { JwtSocketStrategy } from '../../lib/jwt/index.js';
import {
  authenticate,
  captureLogs,
  closeClients,
  connect,
  createApp,
  once,
  record,
  sleep,
  withApp,
  type TestApp,
} from '../support/harness.js';
import {
  acceptedAndLive,
  AUDIENCE,
  claimsOf,
  ISSUER,
  jwtOptions,
  NewsGateway,
  refusalOf,
  SECRET,
  unsignedToken,
  withPayload,
} from './jwt-fixtures.js';

/** What `authenticated` and its ack add for a token with `exp`: the session's end, and the ms left until it. */
const expiry = { expiresAt: expect.any(Number), expiresIn: expect.any(Number) };

describe('JwtSocketStrategy with a global JwtModule (forRoot({ strategy: JwtSocketStrategy }))', () => {
  let t: TestApp;
  let jwt: JwtService;
  const sign = (claims: object, options: Record<string, unknown> = {}): Promise<string> =>
    jwt.signAsync(claims, options);

  beforeEach(async () => {
    // maxFailuresPerAddress 0: every refusal below comes from 127.0.0.1 and must reach the strategy.
    t = await createApp(
      { strategy: JwtSocketStrategy, maxFailuresPerAddress: 0 },
      { imports: [JwtModule.register(jwtOptions)], providers: [NewsGateway] },
    );
    jwt = t.app.get(JwtService);
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  it('a token the app signed authenticates the socket as its sub, which then receives broadcasts', async () => {
    const { ack } = await acceptedAndLive(t.url, { token: await sign({ sub: 'alice' }) });
    expect(ack).toEqual({ ok: true, sessionId: expect.any(String), user: { id: 'alice' }, ...expiry });
  });

  it('a token whose payload was altered after signing is refused as invalid_credentials', async () => {
    const genuine = await sign({ sub: 'alice' });
    const forged = withPayload(genuine, { ...claimsOf(genuine), sub: 'admin' });
    const refused = await refusalOf(t.url, { token: forged });
    expect(refused.ack).toEqual({ ok: false, error: { code: 'invalid_credentials', message: 'Invalid credentials' } });
    expect(refused.unauthorized).toEqual({ code: 'invalid_credentials', message: 'Invalid credentials' });
    expect(refused.disconnected).toBe(true);
    expect((await acceptedAndLive(t.url, { token: genuine })).ack.ok).toBe(true);
  });

  it('a token signed with another secret is refused as invalid_credentials', async () => {
    const refused = await refusalOf(t.url, {
      token: await sign({ sub: 'alice' }, { secret: 'not-the-app-secret-0123456789abcdef' }),
    });
    expect(refused.ack.error).toEqual({ code: 'invalid_credentials', message: 'Invalid credentials' });
    expect((await acceptedAndLive(t.url, { token: await sign({ sub: 'alice' }) })).ack.ok).toBe(true);
  });

  it('an expired token is refused as expired, with no library text', async () => {
    const refused = await refusalOf(t.url, { token: await sign({ sub: 'alice' }, { expiresIn: -10 }) });
    expect(refused.ack.error).toEqual({ code: 'expired', message: 'Token expired' });
    expect(refused.unauthorized.code).toBe('expired');
    expect(refused.disconnected).toBe(true);
    expect((await acceptedAndLive(t.url, { token: await sign({ sub: 'alice' }, { expiresIn: 60 }) })).ack.ok).toBe(
      true,
    );
  });

  it("a token for another audience is refused: JwtModule's verifyOptions.audience applies", async () => {
    const refused = await refusalOf(t.url, { token: await sign({ sub: 'alice' }, { audience: 'billing' }) });
    expect(refused.ack.error).toEqual({ code: 'invalid_credentials', message: 'Invalid credentials' });
    expect((await acceptedAndLive(t.url, { token: await sign({ sub: 'alice' }, { audience: AUDIENCE }) })).ack.ok).toBe(
      true,
    );
  });

  it("a token from another issuer is refused: JwtModule's verifyOptions.issuer applies", async () => {
    const refused = await refusalOf(t.url, { token: await sign({ sub: 'alice' }, { issuer: 'https://evil.test' }) });
    expect(refused.ack.error.code).toBe('invalid_credentials');
    expect((await acceptedAndLive(t.url, { token: await sign({ sub: 'alice' }, { issuer: ISSUER }) })).ack.ok).toBe(
      true,
    );
  });

  it('an unsigned alg:none token with valid claims is refused', async () => {
    const signed = await sign({ sub: 'alice' });
    const refused = await refusalOf(t.url, { token: unsignedToken(claimsOf(signed)) });
    expect(refused.ack.error.code).toBe('invalid_credentials');
    expect((await acceptedAndLive(t.url, { token: signed })).ack.ok).toBe(true);
  });

  it('a token signed with an algorithm outside verifyOptions.algorithms is refused, though the secret is right', async () => {
    const refused = await refusalOf(t.url, { token: await sign({ sub: 'alice' }, { algorithm: 'HS512' }) });
    expect(refused.ack.error.code).toBe('invalid_credentials');
    expect((await acceptedAndLive(t.url, { token: await sign({ sub: 'alice' }, { algorithm: 'HS256' }) })).ack.ok).toBe(
      true,
    );
  });

  it('a valid token without sub is refused; a numeric sub becomes a string id', async () => {
    expect((await refusalOf(t.url, { token: await sign({ name: 'nobody' }) })).ack.error.code).toBe(
      'invalid_credentials',
    );
    expect((await refusalOf(t.url, { token: await sign({ sub: '' }) })).ack.error.code).toBe('invalid_credentials');
    expect((await acceptedAndLive(t.url, { token: await sign({ sub: 42 }) })).ack).toEqual({
      ok: true,
      sessionId: expect.any(String),
      user: { id: '42' },
      ...expiry,
    });
  });

  it('credentials sent as a JSON string (as the Swift client does) reach the strategy as { token }', async () => {
    const token = await sign({ sub: 'alice' });
    expect((await acceptedAndLive(t.url, JSON.stringify({ token }))).ack.ok).toBe(true);
    expect((await refusalOf(t.url, JSON.stringify({ token: `${token}x` }))).ack.error.code).toBe('invalid_credentials');
  });

  it("the token's exp ends the socket's session on time: unauthorized {code:'expired'}, then a disconnect", async () => {
    const token = await sign({ sub: 'alice' }, { expiresIn: 2 });
    const expiresAt = claimsOf(token).exp * 1000;
    const { socket } = await acceptedAndLive(t.url, { token });
    const expired = await once(socket, 'unauthorized', 4000);
    const at = Date.now();
    expect(expired).toEqual({ code: 'expired', message: 'Session expired' });
    expect(at).toBeGreaterThanOrEqual(expiresAt - 20);
    expect(at).toBeLessThan(expiresAt + 1500);
    await once(socket, 'disconnect');
  });

  it("re-authenticating with a fresh token moves the session's end to the new token's exp", async () => {
    const short = await sign({ sub: 'alice' }, { expiresIn: 2 });
    const expiresAt = claimsOf(short).exp * 1000;
    const { socket: kept } = await acceptedAndLive(t.url, { token: short });
    const { socket: refreshed } = await acceptedAndLive(t.url, { token: short });
    expect(
      await refreshed
        .timeout(3000)
        .emitWithAck('authentication', { token: await sign({ sub: 'alice' }, { expiresIn: 60 }) }),
    ).toEqual({
      ok: true,
      sessionId: expect.any(String),
      user: { id: 'alice' },
      ...expiry,
    });
    const refreshedHeard = record(refreshed, 'unauthorized');
    // Control: the socket that kept the short token expires at its exp.
    expect((await once(kept, 'unauthorized', 4000)).code).toBe('expired');
    await sleep(Math.max(0, expiresAt + 200 - Date.now()));
    expect(refreshed.connected).toBe(true);
    expect(refreshedHeard).toEqual([]);
    const news = once(refreshed, 'news');
    refreshed.emit('shout', 'still here');
    expect(await news).toBe('still here');
  });

  it('no token, and none of the library error text, appears in any log line', async () => {
    const logs = captureLogs();
    const tokens: string[] = [];
    try {
      const good = await sign({ sub: 'alice' });
      tokens.push(good);
      await acceptedAndLive(t.url, { token: good });
      const bad = [
        withPayload(good, { ...claimsOf(good), sub: 'admin' }),
        await sign({ sub: 'alice' }, { expiresIn: -10 }),
        await sign({ sub: 'alice' }, { audience: 'billing' }),
        await sign({ sub: 'alice' }, { algorithm: 'HS512' }),
        unsignedToken(claimsOf(good)),
        'not.a.jwt',
      ];
      tokens.push(...bad);
      for (const token of bad) await refusalOf(t.url, { token });
    } finally {
      logs.restore();
    }
    const text = logs.lines.join('\n');
    // Positive control: the capture saw the refusals being logged.
    expect(text).toMatch(/invalid_credentials/);
    expect(text).toMatch(/expired/);
    for (const token of tokens)
      for (const part of token.split('.').filter((p) => p.length > 8)) expect(text).not.toContain(part);
    expect(text).not.toMatch(/jwt (expired|malformed|audience|signature)|invalid (signature|algorithm|token)/i);
  });
});

describe('JwtSocketStrategy with asymmetric keys in JwtModule', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });

  it('an RS256 token verifies with publicKey; an HS256 token keyed with the public key is refused', async () => {
    const options = { global: true, privateKey, publicKey, signOptions: { algorithm: 'RS256' as const } };
    await withApp(
      { strategy: JwtSocketStrategy },
      { imports: [JwtModule.register(options)], providers: [NewsGateway] },
      async (t) => {
        const jwt = t.app.get(JwtService);
        expect((await acceptedAndLive(t.url, { token: await jwt.signAsync({ sub: 'alice' }) })).ack.ok).toBe(true);
        const confused = await jwt.signAsync(
          { sub: 'admin' },
          { algorithm: 'HS256', privateKey: undefined, secret: publicKey },
        );
        expect((await refusalOf(t.url, { token: confused })).ack.error.code).toBe('invalid_credentials');
      },
    );
  });

  it("keys come from JwtModule's async secretOrKeyProvider when it has one", async () => {
    const keyLookups: number[] = [];
    const options = {
      global: true,
      signOptions: { algorithm: 'RS256' as const },
      secretOrKeyProvider: async (type: number) => {
        keyLookups.push(type);
        return type === 0 ? privateKey : publicKey; // JwtSecretRequestType.SIGN = 0, VERIFY = 1
      },
    };
    await withApp(
      { strategy: JwtSocketStrategy },
      { imports: [JwtModule.register(options)], providers: [NewsGateway] },
      async (t) => {
        const token = await t.app.get(JwtService).signAsync({ sub: 'alice' });
        expect((await acceptedAndLive(t.url, { token })).ack.ok).toBe(true);
        expect(keyLookups).toEqual([0, 1]);
      },
    );
  });
});

describe('JwtSocketStrategy when JwtModule has no key for verifying', () => {
  it('refuses every token and says why in one warning, without the token', async () => {
    const signer = new JwtService({ secret: SECRET });
    const tokens: string[] = [];
    const logs = captureLogs();
    try {
      await withApp(
        { strategy: JwtSocketStrategy, maxFailuresPerAddress: 0 },
        { imports: [JwtModule.register({ global: true })], providers: [NewsGateway] },
        async (t) => {
          for (let i = 0; i < 2; i++) {
            const token = await signer.signAsync({ sub: 'alice', n: i });
            tokens.push(token);
            expect((await authenticate(connect(t.url), { token })).error.code).toBe('invalid_credentials');
          }
        },
      );
    } finally {
      logs.restore();
    }
    expect(logs.lines.filter((l) => l.includes('every token is refused'))).toHaveLength(1);
    for (const token of tokens) expect(logs.lines.join('\n')).not.toContain(token.split('.')[2]);
  });
});
