import { type CanActivate, type ExecutionContext, Injectable, Logger, Optional } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Socket } from 'socket.io';
import type { AuthErrorCode } from '../auth-errors.js';
import { type AuthRequirement, meets } from '../auth-requirement.js';
import { AuthSocketConfigError } from '../auth-socket-config.error.js';
import { AUTHENTICATED_METADATA } from '../auth-socket.constants.js';
import { errorPayload } from '../core/protocol.js';
import { catchesRefusals, refuseMessage } from './ws-refusal.js';
import { AuthSocketService } from './auth-socket.service.js';

type Requirement = AuthRequirement | true | undefined;

/** What the guard reads once per handler: its requirement, and whether an app filter will answer a refusal. */
interface HandlerFacts {
  requirement: Requirement;
  filtered: boolean;
}

/**
 * The guard `@Authenticated()` applies. For a pending socket it waits while
 * authentication is in flight; otherwise it throws an `AuthSocketException`,
 * which the gateway's exception filters see. When no filter of the gateway
 * catches it, the guard also answers the client's ack, so callers never hang.
 * An authenticated socket whose principal does not meet the requirement is
 * refused with `forbidden` and stays connected. Outside a gateway it refuses.
 */
@Injectable()
export class AuthenticatedGuard implements CanActivate {
  /**
   * Requirement per class, then per handler: an inherited handler is one
   * function shared by every subclass, which may be marked differently.
   */
  private readonly facts = new WeakMap<object, WeakMap<object, HandlerFacts>>();
  private readonly logger = new Logger('AuthSocket');
  private warnedOutsideGateway = false;

  constructor(
    private readonly reflector: Reflector,
    // Optional, so a gateway compiled without the module fails on use with a message that says so, not in DI.
    @Optional() private readonly auth?: AuthSocketService,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const { requirement } = this.factsOf(context);
    if (!requirement) return true;
    if (context.getType() !== 'ws') return this.refuseOutsideGateway(context);
    if (!this.auth)
      throw new AuthSocketConfigError(
        'AUTH_SOCKET_MODULE_MISSING',
        `${context.getClass().name} uses @Authenticated(), which needs AuthSocketModule: import ` +
          'AuthSocketModule.forRoot({ strategy }) in the app, or in a test the module under test ' +
          '(see "Testing your gateway" in the README)',
      );
    const client = context.getArgByIndex<Socket>(0); // the socket; avoids allocating a WsArgumentsHost per message
    // A handler's span (from the app's instrumentation) links to the socket's authentication, when both are traced.
    this.auth.linkToSession(client);
    const allowed = this.auth.whenAuthenticated(client);
    if (allowed === true) return this.authorize(requirement, client, context);
    if (allowed === false) return this.refuse(context, 'unauthenticated');
    return allowed.then((ok) =>
      ok ? this.authorize(requirement, client, context) : this.refuse(context, 'unauthenticated'),
    );
  }

  private factsOf(context: ExecutionContext): HandlerFacts {
    const type = context.getClass();
    const handler = context.getHandler();
    let byHandler = this.facts.get(type);
    if (!byHandler) this.facts.set(type, (byHandler = new WeakMap()));
    let facts = byHandler.get(handler);
    if (!facts) {
      facts = {
        requirement: this.reflector.getAllAndOverride<Requirement>(AUTHENTICATED_METADATA, [handler, type]),
        filtered: catchesRefusals([handler, type]),
      };
      byHandler.set(handler, facts);
    }
    return facts;
  }

  /**
   * HTTP and RPC handlers are refused (403 for HTTP): `@Authenticated()` knows
   * sockets only, so letting the request through would fail open. Start-up
   * already refuses it on controllers; this covers what start-up cannot see.
   */
  private refuseOutsideGateway(context: ExecutionContext): false {
    if (!this.warnedOutsideGateway) {
      this.warnedOutsideGateway = true;
      this.logger.error(
        `@Authenticated() on ${context.getClass().name}.${context.getHandler().name}() refused a ${context.getType()} ` +
          'call: it guards socket.io gateway messages only',
      );
    }
    return false;
  }

  private authorize(
    requirement: AuthRequirement | true,
    client: Socket,
    context: ExecutionContext,
  ): boolean | Promise<boolean> {
    if (requirement === true) return true;
    const principal = this.auth!.getPrincipal(client);
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
    return refuseMessage(context, errorPayload(code), this.factsOf(context).filtered);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
