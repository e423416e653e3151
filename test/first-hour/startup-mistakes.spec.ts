/**
 * The first-hour mistakes a real app makes, each refused at start-up (or at
 * forRoot) with a coded AuthSocketConfigError that names the thing, with a
 * control beside each showing the same app starts once the mistake is gone.
 */
import { Controller, Get, Injectable, Module } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Test } from '@nestjs/testing';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { ExtractJwt, Strategy } from 'passport-jwt';
import {
  AUTH_SOCKET_OPTIONS,
  Authenticated,
  AuthSocketConfigError,
  AuthSocketModule,
  type AuthSocketModuleOptions,
} from '../../lib/index.js';
import type { ResolvedAuthSocketOptions } from '../../lib/auth-socket.options.js';
import { TokenStrategy, tokenAuth, UsersModule } from '../support/strategies.js';

/** Compiles and inits an app importing `imports`, then closes it; resolves when it started. */
async function start(imports: unknown[], extra: { controllers?: any[]; providers?: any[] } = {}): Promise<void> {
  const moduleRef = await Test.createTestingModule({ imports: imports as never[], ...extra }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  try {
    await app.init();
  } finally {
    await app.close();
  }
}

async function refusal(run: () => unknown): Promise<AuthSocketConfigError> {
  try {
    await run();
  } catch (err) {
    expect(err).toBeInstanceOf(AuthSocketConfigError);
    return err as AuthSocketConfigError;
  }
  throw new Error('expected a start-up refusal, and the app started');
}

@Injectable()
class NoAuthenticate {
  verify(): boolean {
    return true;
  }
}

@Injectable()
class JwtPassportStrategy extends PassportStrategy(Strategy) {
  constructor() {
    super({ jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(), secretOrKey: 'test-secret' });
  }
  validate(payload: { sub: string }): { id: string } {
    return { id: payload.sub };
  }
}

describe('start-up mistakes', () => {
  it('starts with a correct configuration (control for every refusal below)', async () => {
    await expect(start([AuthSocketModule.forRoot(tokenAuth)])).resolves.toBeUndefined();
  });

  it('refuses a misspelt option in forRoot, suggesting the option meant', async () => {
    const err = await refusal(() =>
      AuthSocketModule.forRoot({ ...tokenAuth, strategyTimout: 100 } as unknown as AuthSocketModuleOptions),
    );
    expect(err.code).toBe('AUTH_SOCKET_UNKNOWN_OPTION');
    expect(err.message).toBe('AuthSocketModule: unknown option "strategyTimout"; did you mean "strategyTimeout"?');
  });

  it('refuses a misspelt option returned by a forRootAsync factory, at start-up', async () => {
    const err = await refusal(() =>
      start([
        AuthSocketModule.forRootAsync({
          ...tokenAuth,
          useFactory: () => ({ strategyTimout: 100 }) as never,
        }),
      ]),
    );
    expect(err.code).toBe('AUTH_SOCKET_UNKNOWN_OPTION');
    expect(err.message).toContain('did you mean "strategyTimeout"?');
  });

  it('refuses an unknown event name', async () => {
    const err = await refusal(() =>
      AuthSocketModule.forRoot({ ...tokenAuth, events: { authentcation: 'login' } as never }),
    );
    expect(err.message).toContain('unknown option "events.authentcation"; did you mean "events.authentication"?');
  });

  it('takes a whole-number string from config as its number, and shows any other string it refuses', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [AuthSocketModule.forRootAsync({ ...tokenAuth, useFactory: () => ({ timeout: '2500' as never }) })],
    }).compile();
    expect(moduleRef.get<ResolvedAuthSocketOptions>(AUTH_SOCKET_OPTIONS).timeout).toBe(2500);
    await moduleRef.close();
    const err = await refusal(() =>
      start([AuthSocketModule.forRootAsync({ ...tokenAuth, useFactory: () => ({ timeout: '2.5s' as never }) })]),
    );
    expect(err.code).toBe('AUTH_SOCKET_INVALID_OPTION');
    expect(err.message).toBe('AuthSocketModule: option "timeout" must be a number ≥ 0 (got "2.5s", string)');
  });

  it('refuses an allowedOrigins entry that is not an origin, with the origin meant', async () => {
    const err = await refusal(() => AuthSocketModule.forRoot({ ...tokenAuth, allowedOrigins: ['http://host/'] }));
    expect(err.message).toContain('"http://host/" is not one, did you mean "http://host"?');
    expect(() => AuthSocketModule.forRoot({ ...tokenAuth, allowedOrigins: ['http://host:8080'] })).not.toThrow();
    expect(
      (await refusal(() => AuthSocketModule.forRoot({ ...tokenAuth, allowedOrigins: ['host'] }))).message,
    ).toContain('"host" is not one');
  });

  it('refuses a strategy class without authenticate(), naming it', async () => {
    const err = await refusal(() => AuthSocketModule.forRoot({ strategy: NoAuthenticate as never }));
    expect(err.code).toBe('AUTH_SOCKET_INVALID_STRATEGY');
    expect(err.message).toBe(
      'AuthSocketModule: NoAuthenticate is not an AuthStrategy: it has no authenticate(credentials, context) method',
    );
  });

  it('refuses a Passport strategy, saying what to use instead', async () => {
    const err = await refusal(() => AuthSocketModule.forRoot({ strategy: JwtPassportStrategy as never }));
    expect(err.code).toBe('AUTH_SOCKET_INVALID_STRATEGY');
    expect(err.message).toContain('JwtPassportStrategy is a Passport strategy, not an AuthStrategy');
    expect(err.message).toContain('strategy: fromPassport(JwtPassportStrategy) from nestjs-socket-auth/passport');
  });

  it('refuses a token whose provider is not an AuthStrategy, when DI resolves it', async () => {
    const TOKEN = 'NOT_A_STRATEGY';
    @Module({ providers: [{ provide: TOKEN, useValue: { verify: () => true } }], exports: [TOKEN] })
    class Holder {}
    const err = await refusal(() => start([AuthSocketModule.forRoot({ strategy: TOKEN, imports: [Holder] })]));
    expect(err.message).toContain('NOT_A_STRATEGY is not an AuthStrategy');
  });

  it('refuses a second forRoot in one app', async () => {
    @Module({ imports: [AuthSocketModule.forRoot({ ...tokenAuth, timeout: 3000 })] })
    class FeatureModule {}
    const err = await refusal(() => start([AuthSocketModule.forRoot(tokenAuth), FeatureModule]));
    expect(err.code).toBe('AUTH_SOCKET_DUPLICATE_MODULE');
    expect(err.message).toContain('imported 2 times');
  });

  it('refuses a gateway handler on an event the module answers itself, naming it; renamed, the app starts', async () => {
    @WebSocketGateway()
    class RoomsGateway {
      @SubscribeMessage('join')
      join(): string {
        return 'mine';
      }
    }
    const rooms = { ...tokenAuth, rooms: [{ room: 'lobby', require: true as const }], clientRooms: true };
    const err = await refusal(() => start([AuthSocketModule.forRoot(rooms)], { providers: [RoomsGateway] }));
    expect(err.code).toBe('AUTH_SOCKET_INVALID_GATEWAY');
    expect(err.message).toContain('RoomsGateway.join() subscribes to "join"');
    expect(err.message).toContain('events.join');
    // Controls: the module's event renamed, or the client protocol off, and the same gateway starts.
    await start([AuthSocketModule.forRoot({ ...rooms, events: { join: 'room:join' } })], { providers: [RoomsGateway] });
    await start([AuthSocketModule.forRoot(tokenAuth)], { providers: [RoomsGateway] });
  });

  it('refuses @Authenticated() on an HTTP controller method, naming it', async () => {
    @Controller('me')
    class MeController {
      @Get()
      @Authenticated()
      me(): string {
        return 'secret';
      }
    }
    const err = await refusal(() => start([AuthSocketModule.forRoot(tokenAuth)], { controllers: [MeController] }));
    expect(err.code).toBe('AUTH_SOCKET_NOT_A_GATEWAY');
    expect(err.message).toContain('HTTP controller MeController.me()');
  });

  it('refuses @Authenticated() on an HTTP controller class', async () => {
    @Authenticated()
    @Controller('admin')
    class AdminController {
      @Get()
      list(): string[] {
        return [];
      }
    }
    const err = await refusal(() => start([AuthSocketModule.forRoot(tokenAuth)], { controllers: [AdminController] }));
    expect(err.message).toContain('HTTP controller AdminController,');
  });

  it('compiles a gateway tested without the module, and names the missing module when a guarded message comes', async () => {
    @WebSocketGateway()
    class LonelyGateway {
      @Authenticated()
      @SubscribeMessage('whoami')
      whoami(): string {
        return 'nobody';
      }
    }
    // Before, this failed in DI with "Nest can't resolve dependencies of the AuthenticatedGuard".
    const moduleRef = await Test.createTestingModule({ providers: [LonelyGateway] }).compile();
    const { AuthenticatedGuard } = await import('../../lib/index.js');
    const guard = await moduleRef.resolve(AuthenticatedGuard);
    const { ExecutionContextHost } = await import('@nestjs/core/helpers/execution-context-host.js');
    const context = new ExecutionContextHost([{}, undefined, undefined], LonelyGateway, LonelyGateway.prototype.whoami);
    context.setType('ws');
    expect(() => guard.canActivate(context)).toThrow(
      expect.objectContaining({
        code: 'AUTH_SOCKET_MODULE_MISSING',
        message: expect.stringContaining('LonelyGateway uses @Authenticated()'),
      }),
    );
    await moduleRef.close();
  });

  it('still accepts the strategy as a class, an instance and a token (the supported shapes)', async () => {
    await expect(
      start([AuthSocketModule.forRoot({ strategy: TokenStrategy, imports: [UsersModule] })]),
    ).resolves.toBeUndefined();
    await expect(
      start([AuthSocketModule.forRoot({ strategy: { authenticate: () => ({ id: 'x' }) } })]),
    ).resolves.toBeUndefined();
  });
});
