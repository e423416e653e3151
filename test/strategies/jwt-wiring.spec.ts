import { Test } from '@nestjs/testing';
import { JwtModule, JwtService } from '@nestjs/jwt';
import { AuthSocketModule, type AuthContext } from '../../lib/index.js';
import { JwtSocketStrategy } from '../../lib/jwt/index.js';
import { closeClients, connect, once, withApp } from '../support/harness.js';
import { acceptedAndLive, jwtOptions, NewsGateway } from './jwt-fixtures.js';

/** What `authenticated` and its ack add for a token with `exp`: the session's end, and the ms left until it. */
const expiry = { expiresAt: expect.any(Number), expiresIn: expect.any(Number) };

const { global: _global, ...localOptions } = jwtOptions;

describe('where JwtSocketStrategy finds JwtService', () => {
  afterEach(closeClients);

  it("works with a non-global JwtModule given in forRoot's imports", async () => {
    await withApp(
      { strategy: JwtSocketStrategy, imports: [JwtModule.register(localOptions)] },
      { providers: [NewsGateway] },
      async (t) => {
        const signer = new JwtService(localOptions);
        expect((await acceptedAndLive(t.url, { token: await signer.signAsync({ sub: 'alice' }) })).ack.ok).toBe(true);
      },
    );
  });

  it('fails at start-up, naming JwtService, when JwtModule is neither global nor in imports', async () => {
    const compiling = Test.createTestingModule({
      imports: [AuthSocketModule.forRoot({ strategy: JwtSocketStrategy }), JwtModule.register(localOptions)],
    }).compile();
    await expect(compiling).rejects.toThrow(/JwtService/);
    // Control: the same app with JwtModule global compiles.
    const app = await Test.createTestingModule({
      imports: [
        AuthSocketModule.forRoot({ strategy: JwtSocketStrategy }),
        JwtModule.register({ ...localOptions, global: true }),
      ],
    }).compile();
    await app.close();
  });
});

describe('JwtSocketStrategy called directly', () => {
  // Over the wire a raw string never gets this far today: the core refuses a string that is not JSON with bad_request.
  it('takes a raw string credential as the token', async () => {
    const jwt = new JwtService(localOptions);
    const strategy = new JwtSocketStrategy(jwt);
    const context = {} as AuthContext; // the default validate() does not read it
    const token = await jwt.signAsync({ sub: 'alice' });
    await expect(strategy.authenticate(token, context)).resolves.toMatchObject({
      id: 'alice',
      public: { id: 'alice' },
    });
    await expect(strategy.authenticate(`${token}x`, context)).rejects.toMatchObject({ code: 'invalid_credentials' });
    await expect(strategy.authenticate('', context)).resolves.toBeNull();
  });
});

describe('JwtSocketStrategy with handshake: true', () => {
  afterEach(closeClients);

  it("authenticates at connect time from socket.io's auth option { token }, with no message", async () => {
    await withApp(
      { strategy: JwtSocketStrategy, handshake: true },
      { imports: [JwtModule.register(jwtOptions)], providers: [NewsGateway] },
      async (t) => {
        const token = await t.app.get(JwtService).signAsync({ sub: 'alice' });
        const c = connect(t.url, { auth: { token } });
        expect(await once(c, 'authenticated')).toEqual({
          sessionId: expect.any(String),
          user: { id: 'alice' },
          ...expiry,
        });
        const refused = connect(t.url, { auth: { token: `${token}x` } });
        expect(await once(refused, 'unauthorized')).toEqual({
          code: 'invalid_credentials',
          message: 'Invalid credentials',
        });
      },
    );
  });
});
