/**
 * The setup of Nest's authentication recipe, as most apps have it: a global
 * APP_GUARD `JwtAuthGuard extends AuthGuard('jwt')` with real passport-jwt, the
 * recipe's own `@Public()`, and gateways guarded by `@Authenticated()`. Nest 12
 * runs global guards on gateways, so the plain guard breaks every message;
 * `HttpOnly()` is the one-line change that lets both work.
 */
import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Injectable,
  SetMetadata,
  type Type,
} from '@nestjs/common';
import { APP_GUARD, Reflector } from '@nestjs/core';
import { JwtModule, JwtService } from '@nestjs/jwt';
import { AuthGuard, PassportModule, PassportStrategy } from '@nestjs/passport';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { Authenticated, AuthUser, HttpOnly, isGatewayContext } from '../../lib/index.js';
import {
  authenticate,
  captureLogs,
  closeClients,
  connect,
  connected,
  createApp,
  once,
  type TestApp,
} from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

const SECRET = 'recipe-secret';

// The recipe's own @Public(), for HTTP routes: the name our deprecated alias used to clash with.
const IS_PUBLIC_KEY = 'isPublic';
const Public = () => SetMetadata(IS_PUBLIC_KEY, true);

@Injectable()
class JwtStrategy extends PassportStrategy(Strategy) {
  constructor() {
    super({ jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(), ignoreExpiration: false, secretOrKey: SECRET });
  }
  validate(payload: { sub: string }): { userId: string } {
    return { userId: payload.sub };
  }
}

/** The recipe's guard, over whichever base class the test gives it. */
function recipeGuard(Base: Type<CanActivate>): Type<CanActivate> {
  @Injectable()
  class JwtAuthGuard extends Base {
    constructor(private readonly reflector: Reflector) {
      super();
    }
    canActivate(context: ExecutionContext) {
      const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, [
        context.getHandler(),
        context.getClass(),
      ]);
      return isPublic || super.canActivate(context);
    }
  }
  return JwtAuthGuard;
}

@Controller()
class ProfileController {
  @Get('profile')
  profile(): string {
    return 'profile body';
  }

  @Public()
  @Get('health')
  health(): string {
    return 'ok';
  }
}

@WebSocketGateway()
class ChatGateway {
  @Authenticated()
  @SubscribeMessage('whoami')
  whoami(@AuthUser('id') id: string): string {
    return id;
  }
}

async function appWith(guard: Type<CanActivate>): Promise<TestApp> {
  return createApp(tokenAuth, {
    imports: [PassportModule, JwtModule.register({ secret: SECRET })],
    controllers: [ProfileController],
    providers: [JwtStrategy, ChatGateway, { provide: APP_GUARD, useClass: guard }],
  });
}

describe("coexisting with the app's global Passport guard", () => {
  afterEach(closeClients);

  describe('with HttpOnly(AuthGuard("jwt"))', () => {
    let t: TestApp;
    beforeAll(async () => (t = await appWith(recipeGuard(HttpOnly(AuthGuard('jwt'))))));
    afterAll(() => t.close());

    it('still guards HTTP: no token 401, a valid bearer token 200, the recipe’s @Public() route 200', async () => {
      const token = await t.app.get(JwtService).signAsync({ sub: 'alice' });
      expect((await fetch(`${t.url}/profile`)).status).toBe(401);
      const ok = await fetch(`${t.url}/profile`, { headers: { authorization: `Bearer ${token}` } });
      expect([ok.status, await ok.text()]).toEqual([200, 'profile body']);
      expect((await fetch(`${t.url}/health`)).status).toBe(200);
    });

    it('lets gateway messages reach @Authenticated(): refused before authentication, answered after', async () => {
      const socket = connect(t.url);
      await connected(socket);
      expect(await socket.timeout(3000).emitWithAck('whoami')).toMatchObject({
        ok: false,
        error: { code: 'unauthenticated' },
      });
      await authenticate(socket, { token: 'alice-token' });
      expect(await socket.timeout(3000).emitWithAck('whoami')).toBe('alice');
    });
  });

  it('also works with isGatewayContext() in a guard written by hand', async () => {
    @Injectable()
    class HandGuard extends AuthGuard('jwt') {
      canActivate(context: ExecutionContext) {
        if (isGatewayContext(context)) return true;
        return super.canActivate(context);
      }
    }
    const t = await appWith(HandGuard);
    try {
      const socket = connect(t.url);
      await connected(socket);
      await authenticate(socket, { token: 'alice-token' });
      expect(await socket.timeout(3000).emitWithAck('whoami')).toBe('alice');
      expect((await fetch(`${t.url}/profile`)).status).toBe(401);
    } finally {
      closeClients();
      await t.close();
    }
  });

  it('without it (control): the plain recipe guard throws on every gateway message and the ack is never answered', async () => {
    const t = await appWith(recipeGuard(AuthGuard('jwt')));
    const logs = captureLogs();
    try {
      const socket = connect(t.url);
      await connected(socket);
      await authenticate(socket, { token: 'alice-token' });
      const exception = once<{ message: string }>(socket, 'exception');
      await expect(socket.timeout(500).emitWithAck('whoami')).rejects.toThrow();
      expect((await exception).message).toBe('Internal server error');
      expect(logs.lines.join('\n')).toMatch(/reading 'authorization'/);
    } finally {
      logs.restore();
      closeClients();
      await t.close();
    }
  });
});
