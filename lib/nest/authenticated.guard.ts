import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { WsException } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import { AUTHENTICATED_METADATA } from '../auth-socket.constants.js';
import { errorPayload, refusal } from '../core/protocol.js';
import { AuthSocketService } from './auth-socket.service.js';

/**
 * Registered globally by the module. Lets HTTP and unmarked handlers through
 * untouched; for `@Authenticated()` handlers it waits while authentication is
 * in flight, and otherwise refuses through Nest's `exception` event and, when
 * the client passed one, the ack, so callers never hang.
 */
@Injectable()
export class AuthenticatedGuard implements CanActivate {
  /** Metadata per handler, read once: this guard runs on every message of every gateway. */
  private readonly required = new WeakMap<object, boolean>();

  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthSocketService,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'ws') return true;
    const handler = context.getHandler();
    let required = this.required.get(handler);
    if (required === undefined) {
      required = !!this.reflector.getAllAndOverride<boolean>(AUTHENTICATED_METADATA, [handler, context.getClass()]);
      this.required.set(handler, required);
    }
    if (!required) return true;
    const client = context.getArgByIndex<Socket>(0); // the socket; avoids allocating a WsArgumentsHost per message
    const allowed = this.auth.whenAuthenticated(client);
    if (allowed === true) return true;
    if (allowed === false) return this.refuse(context);
    return allowed.then((ok) => ok || this.refuse(context));
  }

  private refuse(context: ExecutionContext): never {
    const error = errorPayload('unauthenticated');
    // Nest passes handler arguments as [client, data, ack, pattern].
    const ack = context.getArgByIndex(2);
    if (typeof ack === 'function') ack(refusal(error));
    throw new WsException({ status: 'error', ...error });
  }
}
