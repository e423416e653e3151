import { type ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';
import type { Socket } from 'socket.io';
import { clientKeyOf, principalOf } from '../core/socket-auth.js';
import { errorPayload } from '../core/protocol.js';
import { catchesRefusals, refuseMessage } from '../nest/ws-refusal.js';

/**
 * `@nestjs/throttler`'s guard, made to work on gateways as it does on HTTP.
 * Its own HTTP guard reads the client from an HTTP request, tracks by
 * `req.ip` and throws an `HttpException`, which a socket.io client only ever
 * sees as "Internal server error", and leaves its ack unanswered. This one, on a
 * gateway:
 *   - tracks an authenticated socket by its principal (`principal:<id>`), so
 *     one user's budget spans every tab, device and node sharing the throttler
 *     storage; an unauthenticated socket by its address (`address:<ip>`);
 *   - refuses with `AuthSocketException` `rate_limited`, answered on the ack
 *     (unless a gateway filter catches it) like `@Authenticated()`'s refusals.
 * On HTTP it is the library's guard, unchanged: register it once as
 * `APP_GUARD` for both. Limits, `@Throttle()`, `@SkipThrottle()` and storage
 * come from `ThrottlerModule.forRoot()` as usual.
 */
@Injectable()
export class SocketThrottlerGuard extends ThrottlerGuard {
  /** On a gateway: the socket with its handshake's headers and address, and a response with nowhere to put headers. */
  protected override getRequestResponse(context: ExecutionContext): {
    req: Record<string, any>;
    res: Record<string, any>;
  } {
    if (context.getType() !== 'ws') return super.getRequestResponse(context);
    const socket = context.switchToWs().getClient<Socket>();
    // `res` has no header methods: the library skips its rate-limit headers, which a socket has nowhere to put.
    return { req: { socket, headers: socket.handshake.headers, ip: socket.handshake.address }, res: {} };
  }

  /** On a gateway: `principal:<id>` once authenticated, `address:<ip>` before. */
  protected override async getTracker(req: Record<string, any>): Promise<string> {
    const socket = req.socket as Socket | undefined;
    if (!socket || typeof (socket as Partial<Socket>).nsp !== 'object') return super.getTracker(req);
    const principal = principalOf(socket);
    // Anonymous: the address the module's own limits use (the forwarded one with trustProxy, IPv6 by subnet).
    return principal ? `principal:${principal.id}` : `address:${clientKeyOf(socket) ?? socket.handshake.address}`;
  }

  /** On a gateway: `rate_limited`, on the ack and as `AuthSocketException`. */
  protected override async throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    if (context.getType() !== 'ws') return super.throwThrottlingException(context, detail);
    const filtered = catchesRefusals([context.getHandler(), context.getClass()]);
    refuseMessage(context, errorPayload('rate_limited', 'Too many messages; slow down'), filtered);
  }
}
