import 'reflect-metadata';
import { Inject, Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AUTH_SOCKET_OPTIONS, AUTH_STRATEGY } from './auth-socket.constants.js';
import { AuthSocketModule } from './auth-socket.module.js';
import type { ResolvedAuthSocketOptions } from './auth-socket.options.js';
import type { AuthStrategy } from './auth-strategy.interface.js';
import { AuthSocketService } from './nest/auth-socket.service.js';

const instance: AuthStrategy = { authenticate: async () => ({ id: 'x' }) };

/** A real Nest container with the module; nothing listens, so no sockets are needed. */
async function compile(auth: ReturnType<typeof AuthSocketModule.forRoot>, providers: any[] = [], imports: any[] = []) {
  const moduleRef = await Test.createTestingModule({ imports: [auth, ...imports], providers }).compile();
  await moduleRef.init();
  return moduleRef;
}

describe('AuthSocketModule configuration', () => {
  it('forRoot without a strategy fails where it is called', () => {
    expect(() => AuthSocketModule.forRoot({} as never)).toThrow('`strategy` is required');
  });

  it('forRoot with an invalid option fails where it is called, naming the option', () => {
    expect(() => AuthSocketModule.forRoot({ strategy: instance, timeout: -1 })).toThrow('option "timeout"');
  });

  it('forRootAsync without useFactory, useClass or useExisting fails where it is called', () => {
    expect(() => AuthSocketModule.forRootAsync({ strategy: instance })).toThrow(
      'give useFactory, useClass or useExisting',
    );
  });

  it('forRootAsync whose factory returns no strategy, with none beside it, fails at start-up', async () => {
    await expect(compile(AuthSocketModule.forRootAsync({ useFactory: () => ({ timeout: 500 }) }))).rejects.toThrow(
      'return a strategy instance from the factory',
    );
  });

  it('an invalid option returned by the async factory fails at start-up, naming the option', async () => {
    const auth = AuthSocketModule.forRootAsync({
      strategy: instance,
      useFactory: () => ({ scope: 'everywhere' as never }),
    });
    await expect(compile(auth)).rejects.toThrow('option "scope"');
  });

  it('forRootAsync resolves useExisting by token, from extraProviders, and leaves the defaults for the rest', async () => {
    const OPTIONS_SOURCE = 'OPTIONS_SOURCE';
    const auth = AuthSocketModule.forRootAsync({
      strategy: instance,
      extraProviders: [{ provide: OPTIONS_SOURCE, useValue: { createAuthSocketOptions: () => ({ timeout: 1234 }) } }],
      useExisting: OPTIONS_SOURCE,
    });
    const moduleRef = await compile(auth);
    const options = moduleRef.get<ResolvedAuthSocketOptions>(AUTH_SOCKET_OPTIONS);
    expect(options.timeout).toBe(1234);
    expect(options.scope).toBe('connection');
    expect(moduleRef.get(AUTH_STRATEGY)).toBe(instance);
    await moduleRef.close();
  });

  it('forRoot instantiates a strategy class whose dependency comes only from extraProviders', async () => {
    @Injectable()
    class Secret {
      value = 's3';
    }
    @Injectable()
    class NeedsSecret implements AuthStrategy {
      constructor(readonly secret: Secret) {}
      async authenticate() {
        return { id: this.secret.value };
      }
    }
    const moduleRef = await compile(AuthSocketModule.forRoot({ strategy: NeedsSecret, extraProviders: [Secret] }));
    expect(moduleRef.get<NeedsSecret>(AUTH_STRATEGY).secret.value).toBe('s3');
    await moduleRef.close();
  });

  it('is global: a provider in an unrelated module injects AuthSocketService without importing anything', async () => {
    @Injectable()
    class Consumer {
      constructor(@Inject(AuthSocketService) readonly auth: AuthSocketService) {}
    }
    @Module({ providers: [Consumer], exports: [Consumer] })
    class FeatureModule {}
    const moduleRef = await compile(AuthSocketModule.forRoot({ strategy: instance }), [], [FeatureModule]);
    expect(moduleRef.get(Consumer).auth).toBeInstanceOf(AuthSocketService);
    await moduleRef.close();
  });
});
