/**
 * The wire payloads: turning whatever a client sent as `authentication` into
 * credentials the strategy may safely see, and the shapes sent back.
 */
import type { AuthErrorCode, AuthErrorPayload } from '../auth-errors.js';
import type { AuthPrincipal } from '../auth-strategy.interface.js';
import { DEFAULT_ERROR_MESSAGES } from '../auth-errors.js';

export type ParsedCredentials = { ok: true; credentials: Record<string, unknown> } | { ok: false; code: 'bad_request' };

const BAD: ParsedCredentials = { ok: false, code: 'bad_request' };
/**
 * The usual credentials, `{ token }` and the like: an object of strings,
 * numbers and booleans, copied without the JSON round trip (a copy is still
 * made: the strategy never holds the parser's object). Only when its JSON form
 * cannot exceed `maxBytes` even if every character were escaped (6 bytes); any
 * other payload takes the full path below.
 */
function flatCopy(payload: unknown, maxBytes: number): ParsedCredentials | undefined {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return undefined;
  if (Object.getPrototypeOf(payload) !== Object.prototype) return undefined; // binary, or anything not plain
  const copy: Record<string, unknown> = {};
  let bound = 2;
  for (const key of Object.keys(payload)) {
    const value = (payload as Record<string, unknown>)[key];
    const kind = typeof value;
    if (kind === 'string') bound += 6 * (value as string).length;
    else if (kind === 'number' || kind === 'boolean') bound += 24;
    else return undefined; // nested, null or anything else: the full path decides
    bound += 6 * key.length + 4;
    if (bound > maxBytes) return undefined;
    if (!UNSAFE_KEYS.has(key)) copy[key] = value;
  }
  return { ok: true, credentials: copy };
}

/** Keys that could reach a prototype if the app merges the credentials somewhere. */
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function isBinary(value: unknown): boolean {
  return (
    value instanceof ArrayBuffer || ArrayBuffer.isView(value) || (typeof Blob !== 'undefined' && value instanceof Blob)
  );
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function dropUnsafeKeys(key: string, value: unknown): unknown {
  return UNSAFE_KEYS.has(key) ? undefined : value;
}

const TOO_LARGE = Symbol('too large');

/**
 * Accepts a JSON object, or a string holding one (the Swift client sends
 * strings: socketio-auth#15). A string that is not JSON at all is a bare token
 * (`emit('authentication', jwt)`) and becomes `{ token }`. Refuses binary, other
 * shapes, and anything whose JSON form exceeds `maxBytes`. Returns a fresh copy
 * without prototype keys.
 */
export function parseCredentials(payload: unknown, maxBytes: number): ParsedCredentials {
  const flat = flatCopy(payload, maxBytes);
  if (flat) return flat;
  let json: string;
  if (typeof payload === 'string') {
    // A UTF-8 byte is at least one UTF-16 unit: refuse before parsing a string that is too long already.
    if (payload.length > maxBytes) return BAD;
    json = isJson(payload) ? payload : JSON.stringify({ token: payload });
  } else if (payload !== null && typeof payload === 'object' && !Array.isArray(payload) && !isBinary(payload)) {
    let hasBinary = false;
    // What the JSON form holds at least (keys and strings): serialising stops once that passes maxBytes, so an
    // oversized object costs work in proportion to the limit, not to its size.
    let atLeast = 0;
    try {
      json = JSON.stringify(payload, function (this: Record<string, unknown>, key, value) {
        if (isBinary(this[key])) hasBinary = true;
        atLeast += key.length + (typeof value === 'string' ? value.length : 1);
        if (atLeast > maxBytes) throw TOO_LARGE;
        return value;
      });
    } catch {
      return BAD; // too large; or nesting deep enough to overflow the stack (cycles cannot arrive over the wire)
    }
    if (hasBinary) return BAD;
  } else {
    return BAD;
  }
  // Cheap upper bound first: a UTF-8 byte is at least one UTF-16 unit.
  if (json.length > maxBytes || Buffer.byteLength(json, 'utf8') > maxBytes) return BAD;
  let credentials: unknown;
  try {
    credentials = JSON.parse(json, dropUnsafeKeys);
  } catch {
    return BAD;
  }
  if (credentials === null || typeof credentials !== 'object' || Array.isArray(credentials)) return BAD;
  return { ok: true, credentials: credentials as Record<string, unknown> };
}

/** Names socket.io reserves for itself: using one as a wire event would crash or silently never fire. */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set([
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
]);

/** Keys socket.io-client adds to the handshake `auth` for connection-state recovery: never credentials. */
const RECOVERY_KEYS = new Set(['pid', 'offset']);

/** The handshake `auth` without recovery fields, or undefined when nothing else is left. */
export function handshakeCredentials(auth: unknown): Record<string, unknown> | undefined {
  if (auth === null || typeof auth !== 'object' || Array.isArray(auth)) return undefined;
  // Asked of every socket, and usually empty in message mode (or only recovery's keys): no copy for that.
  if (Object.keys(auth).every((key) => RECOVERY_KEYS.has(key))) return undefined;
  const entries = Object.entries(auth).filter(([key]) => !RECOVERY_KEYS.has(key));
  return entries.length ? Object.fromEntries(entries) : undefined;
}

/** Splits socket.io event arguments into the payload and an optional ack. */
export function splitAck(args: unknown[]): { payload: unknown; ack?: (response: unknown) => void } {
  const last = args[args.length - 1];
  if (typeof last === 'function')
    return { payload: args.length > 1 ? args[0] : undefined, ack: last as (r: unknown) => void };
  return { payload: args[0] };
}

export function errorPayload(code: AuthErrorCode, message?: string, reauthenticate?: boolean): AuthErrorPayload {
  const payload: AuthErrorPayload = { code, message: message ?? DEFAULT_ERROR_MESSAGES[code] };
  if (reauthenticate) payload.reauthenticate = true;
  return payload;
}

/** The ack answer for a refused attempt or a refused `@Authenticated()` handler. */
export function refusal(error: AuthErrorPayload): { ok: false; error: AuthErrorPayload } {
  return { ok: false, error };
}

/** Room every authenticated socket of a principal joins, on every node. */
export function principalRoom(principalId: string): string {
  return `nestjs-socket-auth:principal:${principalId}`;
}

/** What the client and other nodes may see of a principal: its `public` view, `{ id }` by default. */
export function publicView(principal: AuthPrincipal): unknown {
  return principal.public ?? { id: principal.id };
}
