import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { WsException } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import type { AuthErrorCode } from '../auth-errors.js';
import { type AuthRequirement, meets } from '../auth-requirement.js';
import { AUTHENTICATED_METADATA } from '../auth-socket.constants.js';
import { errorPayload, refusal } from '../core/protocol.js';
import { AuthSocketService } from './auth-socket.service.js';

type Requirement = AuthRequirement | true | undefined;

/**
 * The guard `@Authenticated()` applies. For a pending socket it waits while
 * authentication is in flight; otherwise it refuses through Nest's `exception`
 * event and, when the client passed one, the ack, so callers never hang. An
 * authenticated socket whose principal does not meet the requirement is
 * refused with `forbidden` and stays connected.
 */
@Injectable()
export class AuthenticatedGuard implements CanActivate {
  /**
   * Requirement per class, then per handler: an inherited handler is one
   * function shared by every subclass, which may be marked differently.
   */
  private readonly requirements = new WeakMap<object, WeakMap<object, Requirement>>();

  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthSocketService,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'ws') return true;
    const requirement = this.requirementOf(context);
    if (!requirement) return true;
    const client = context.getArgByIndex<Socket>(0); // the socket; avoids allocating a WsArgumentsHost per message
    const allowed = this.auth.whenAuthenticated(client);
    if (allowed === true) return this.authorize(requirement, client, context);
    if (allowed === false) return this.refuse(context, 'unauthenticated');
    return allowed.then((ok) =>
      ok ? this.authorize(requirement, client, context) : this.refuse(context, 'unauthenticated'),
    );
  }

  private requirementOf(context: ExecutionContext): Requirement {
    const type = context.getClass();
    const handler = context.getHandler();
    let byHandler = this.requirements.get(type);
    if (!byHandler) this.requirements.set(type, (byHandler = new WeakMap()));
    if (!byHandler.has(handler))
      byHandler.set(handler, this.reflector.getAllAndOverride<Requirement>(AUTHENTICATED_METADATA, [handler, type]));
    return byHandler.get(handler);
  }

  private authorize(
    requirement: AuthRequirement | true,
    client: Socket,
    context: ExecutionContext,
  ): boolean | Promise<boolean> {
    if (requirement === true) return true;
    const principal = this.auth.getPrincipal(client);
    if (!principal) return this.refuse(context, 'unauthenticated');
    // Only `true` allows. Anything else a predicate returns (false, undefined, null, a non-boolean), or throws,
    // synchronously or not, is `forbidden`, answered through the ack: never "Internal server error" and a hung ack.
    let verdict: unknown;
    try {
      verdict = meets(requirement, principal, context);
    } catch {
      return this.refuse(context, 'forbidden');
    }
    if (verdict === true) return true;
    if (!isThenable(verdict)) return this.refuse(context, 'forbidden');
    return Promise.resolve(verdict).then(
      (ok) => ok === true || this.refuse(context, 'forbidden'),
      () => this.refuse(context, 'forbidden'),
    );
  }

  private refuse(context: ExecutionContext, code: AuthErrorCode): never {
    const error = errorPayload(code);
    // Nest passes handler arguments as [client, data, ack, pattern].
    const ack = context.getArgByIndex(2);
    if (typeof ack === 'function') ack(refusal(error));
    throw new WsException({ status: 'error', ...error });
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
