import type { CanActivate, ExecutionContext, Type } from '@nestjs/common';

/**
 * True for a gateway message. A global HTTP guard (Nest 12 runs global guards
 * on gateways too) can let those through in one line, and leave them to
 * `@Authenticated()`: `if (isGatewayContext(context)) return true;`
 */
export function isGatewayContext(context: ExecutionContext): boolean {
  return context.getType() === 'ws';
}

/**
 * Wraps an HTTP guard class so that it lets gateway messages through, for
 * `@Authenticated()` to decide, and guards everything else as before. Made for
 * the global guard of Nest's authentication recipe, whose `AuthGuard('jwt')`
 * reads `request.headers.authorization` and so throws on a socket:
 *
 * ```ts
 * @Injectable()
 * export class JwtAuthGuard extends HttpOnly(AuthGuard('jwt')) {}
 * ```
 *
 * The class keeps its constructor, so a subclass that injects `Reflector` for
 * the recipe's own `@Public()` works unchanged and may call `super.canActivate()`.
 */
export function HttpOnly<T extends Type<CanActivate>>(Guard: T): T {
  // A named class, so Nest's errors and the DI graph show the app's guard, not an anonymous one.
  const Wrapped = class extends Guard {
    canActivate(context: ExecutionContext): ReturnType<CanActivate['canActivate']> {
      return isGatewayContext(context) || super.canActivate(context);
    }
  };
  Object.defineProperty(Wrapped, 'name', { value: `HttpOnly(${Guard.name})` });
  return Wrapped;
}
