import { Injectable, Module } from '@nestjs/common';
import { JwtModule, JwtService } from '@nestjs/jwt';
import { ConnectedSocket, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import { AuthenticationError, Authenticated, type AuthContext } from '../../lib/index.js';
import { type JwtClaims, JwtSocketStrategy, type JwtValidateResult } from '../../lib/jwt/index.js';
import { closeClients, createApp, type TestApp } from '../support/harness.js';
import { acceptedAndLive, claimsOf, jwtOptions, NewsGateway, refusalOf } from './jwt-fixtures.js';

/** What `authenticated` and its ack add for a token with `exp`: the session's end, and the ms left until it. */
const expiry = { expiresAt: expect.any(Number), expiresIn: expect.any(Number) };

interface Account {
  id: string;
  name: string;
  disabled?: boolean;
  locked?: boolean;
}

@Injectable()
class AccountsService {
  readonly lookups: string[] = [];
  private readonly accounts: Account[] = [
    { id: 'u1', name: 'Alice' },
    { id: 'u2', name: 'Bob', disabled: true },
    { id: 'u3', name: 'Carol', locked: true },
  ];

  async find(id: string): Promise<Account | undefined> {
    this.lookups.push(id);
    return this.accounts.find((a) => a.id === id);
  }
}

@Module({ providers: [AccountsService], exports: [AccountsService] })
class AccountsModule {}

/** What an app writes: the passport-jwt habit of loading the user in validate(). */
@Injectable()
class AccountJwtStrategy extends JwtSocketStrategy {
  constructor(
    jwtService: JwtService,
    private readonly accounts: AccountsService,
  ) {
    super(jwtService);
  }

  override async validate(payload: JwtClaims, _context: AuthContext): Promise<JwtValidateResult> {
    const account = await this.accounts.find(String(payload.sub));
    if (!account || account.disabled) return null;
    if (account.locked) throw new AuthenticationError('Account locked');
    return { public: { id: account.id, name: account.name } };
  }
}

@WebSocketGateway()
class WhoAmIGateway {
  @Authenticated()
  @SubscribeMessage('whoami')
  whoami(@ConnectedSocket() client: Socket): unknown {
    const { principalId, expiresAt } = client.data.auth;
    return { principalId, expiresAt };
  }
}

describe('a JwtSocketStrategy subclass whose validate() loads the user', () => {
  let t: TestApp;
  let jwt: JwtService;

  beforeEach(async () => {
    t = await createApp(
      { strategy: AccountJwtStrategy, imports: [AccountsModule], maxFailuresPerAddress: 0 },
      { imports: [JwtModule.register(jwtOptions)], providers: [NewsGateway, WhoAmIGateway] },
    );
    jwt = t.app.get(JwtService);
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  it('accepts an enabled user with the public view validate() shaped, and keeps sub and exp as id and expiry', async () => {
    const token = await jwt.signAsync({ sub: 'u1' });
    const { socket, ack } = await acceptedAndLive(t.url, { token });
    expect(ack).toEqual({ ok: true, sessionId: expect.any(String), user: { id: 'u1', name: 'Alice' }, ...expiry });
    expect(await socket.emitWithAck('whoami')).toEqual({ principalId: 'u1', expiresAt: claimsOf(token).exp * 1000 });
  });

  it('refuses a disabled user with invalid_credentials although the token is valid', async () => {
    const refused = await refusalOf(t.url, { token: await jwt.signAsync({ sub: 'u2' }) });
    expect(refused.ack.error).toEqual({ code: 'invalid_credentials', message: 'Invalid credentials' });
    expect(refused.disconnected).toBe(true);
    expect(t.app.get(AccountsService).lookups).toEqual(['u2']);
    expect((await acceptedAndLive(t.url, { token: await jwt.signAsync({ sub: 'u1' }) })).ack.ok).toBe(true);
  });

  it('refuses an unknown user, and passes on the message of an AuthenticationError thrown by validate()', async () => {
    expect((await refusalOf(t.url, { token: await jwt.signAsync({ sub: 'u9' }) })).ack.error.code).toBe(
      'invalid_credentials',
    );
    expect((await refusalOf(t.url, { token: await jwt.signAsync({ sub: 'u3' }) })).ack.error).toEqual({
      code: 'invalid_credentials',
      message: 'Account locked',
    });
  });

  it('does not call validate() for a token that fails verification', async () => {
    const accounts = t.app.get(AccountsService);
    await refusalOf(t.url, { token: await jwt.signAsync({ sub: 'u1' }, { audience: 'billing' }) });
    expect(accounts.lookups).toEqual([]);
    // Control: the same claims with the right audience do reach validate().
    await acceptedAndLive(t.url, { token: await jwt.signAsync({ sub: 'u1' }) });
    expect(accounts.lookups).toEqual(['u1']);
  });
});
