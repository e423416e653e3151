/**
 * Checks of what the app passed to forRoot()/forRootAsync(), each failing
 * with an AuthSocketConfigError that names the option and shows the value:
 * unknown names (with the closest known one), config strings, types, ranges.
 */
import { AuthSocketConfigError } from './auth-socket-config.error.js';
import {
  type AuthSocketDefaults,
  type AuthSocketOptions,
  type ResolvedAuthSocketOptions,
} from './auth-socket.options.js';
import { IDLE_SLACK_MS } from './core/connection-guard.js';
import { MAX_TIMEOUT_MS } from './core/long-timer.js';
import { RESERVED_EVENTS } from './core/protocol.js';
import { validateRoomPolicies } from './core/room-policies.js';

/** Names `forRoot()` and a `forRootAsync()` factory may carry besides the options: module wiring, read elsewhere. */
const WIRING_KEYS = ['strategy', 'imports', 'extraProviders'];

/** Every option is a field of the defaults (the optional ones too: with ES2022 class fields they exist as undefined). */
export function refuseUnknownNames(given: object, defaults: AuthSocketDefaults): void {
  refuseUnknown(Object.keys(given), [...Object.keys(defaults), ...WIRING_KEYS], '');
  const events = (given as AuthSocketOptions).events;
  if (events && typeof events === 'object') refuseUnknown(Object.keys(events), Object.keys(defaults.events), 'events.');
}

function refuseUnknown(names: string[], known: string[], prefix: string): void {
  const unknown = names.find((name) => !known.includes(name));
  if (unknown === undefined) return;
  const hint = closest(unknown, known);
  throw new AuthSocketConfigError(
    'AUTH_SOCKET_UNKNOWN_OPTION',
    `unknown option "${prefix}${unknown}"${hint ? `; did you mean "${prefix}${hint}"?` : ''}`,
  );
}

/** Options that count something: a whole-number string (what `ConfigService.get()` returns from .env) is taken as its number. */
const PLAIN_COUNTS = [
  'maxCredentialsBytes',
  'maxPendingPerAddress',
  'maxPublicPerAddress',
  'maxPending',
  'maxFailuresPerAddress',
  'failureWindowMs',
  'strategyTimeout',
  'maxNamespacesPerConnection',
  'revocationTtl',
  'maxSessionsPerPrincipal',
  'maxClientRooms',
] as const;
const COUNTS = [...PLAIN_COUNTS, 'timeout', 'ipv6Subnet', 'trustProxy', 'refreshAhead', 'revalidateInterval'] as const;

export function fromConfigStrings(o: ResolvedAuthSocketOptions): void {
  const writable = o as unknown as Record<string, unknown>;
  for (const name of COUNTS) {
    const value = writable[name];
    if (typeof value === 'string' && /^\s*\d+\s*$/.test(value)) writable[name] = Number(value);
  }
}

/** A misconfiguration fails at start-up with the option's name and what it got, not at the first connection. */
export function validate(o: ResolvedAuthSocketOptions): void {
  const fail = (name: string, expected: string): never => {
    throw new AuthSocketConfigError('AUTH_SOCKET_INVALID_OPTION', `option "${name}" must be ${expected}`);
  };
  const count = (name: keyof ResolvedAuthSocketOptions): void => {
    const value = o[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      fail(name, `a number ≥ 0 (got ${shown(value)})`);
  };
  // Node fires a timer of more than 2^31 − 1 ms at once: such a timeout would close every connection immediately.
  const timer = (name: 'timeout' | 'strategyTimeout' | 'revalidateInterval' | 'refreshAhead', max: number): void => {
    if ((o[name] as number) > max) fail(name, `at most ${max} ms, Node's timer limit (got ${shown(o[name])})`);
  };
  const oneOf = (name: keyof ResolvedAuthSocketOptions, allowed: unknown[], expected: string): void => {
    if (!allowed.includes(o[name])) fail(name, `${expected} (got ${shown(o[name])})`);
  };
  if (o.timeout !== false) count('timeout');
  if (o.timeout !== false) timer('timeout', MAX_TIMEOUT_MS - IDLE_SLACK_MS);
  PLAIN_COUNTS.forEach(count);
  if (o.strategyTimeout === 0) fail('strategyTimeout', 'greater than 0');
  timer('strategyTimeout', MAX_TIMEOUT_MS);
  if (o.refreshAhead !== false && o.refreshAhead !== 'auto') {
    count('refreshAhead');
    timer('refreshAhead', MAX_TIMEOUT_MS);
  }
  if (o.revalidateInterval !== false) {
    count('revalidateInterval');
    if ((o.revalidateInterval as number) < 100)
      fail('revalidateInterval', `at least 100 ms, or false (got ${shown(o.revalidateInterval)})`);
    timer('revalidateInterval', MAX_TIMEOUT_MS);
  }
  if (o.revocationTtl < 1000) fail('revocationTtl', `at least 1000 ms (got ${shown(o.revocationTtl)})`);
  if (
    o.revocationStore !== undefined &&
    (typeof o.revocationStore?.add !== 'function' || typeof o.revocationStore?.isRevoked !== 'function')
  )
    fail('revocationStore', 'a RevocationStore (an object with add() and isRevoked())');
  validateRoomPolicies(o.rooms);
  oneOf('clientRooms', [true, false], 'true or false');
  if (o.clientRooms && !o.rooms.length)
    fail('clientRooms', 'used with at least one `rooms` policy: clients may only join policed rooms');
  if (!Number.isInteger(o.maxSessionsPerPrincipal))
    fail('maxSessionsPerPrincipal', `a whole number (got ${shown(o.maxSessionsPerPrincipal)})`);
  oneOf('onSessionLimit', ['reject', 'evict-oldest'], "'reject' or 'evict-oldest'");
  oneOf('scope', ['connection', 'namespace'], "'connection' or 'namespace'");
  oneOf('onExpiry', ['disconnect', 'reauthenticate'], "'disconnect' or 'reauthenticate'");
  oneOf('handshake', [true, false], 'true or false');
  oneOf('exposeStrategyErrors', [true, false], 'true or false');
  if (typeof o.trustProxy !== 'boolean' && !(Number.isInteger(o.trustProxy) && o.trustProxy >= 0))
    fail('trustProxy', `a boolean or a whole number of hops (got ${shown(o.trustProxy)})`);
  if (
    !Array.isArray(o.publicNamespaces) ||
    o.publicNamespaces.some((x) => typeof x !== 'string' && !(x instanceof RegExp))
  )
    fail('publicNamespaces', 'an array of namespace names or RegExps');
  if (!Array.isArray(o.allowedOrigins) || o.allowedOrigins.some((x) => typeof x !== 'string'))
    fail('allowedOrigins', `an array of strings (got ${shown(o.allowedOrigins)})`);
  for (const entry of o.allowedOrigins) {
    const origin = originOf(entry);
    // Browsers send `Origin: scheme://host[:port]`, never a path or a trailing slash: any other entry matches nobody.
    if (origin !== entry)
      fail(
        'allowedOrigins',
        `a list of origins (scheme://host[:port]); "${entry}" is not one` +
          (origin ? `, did you mean "${origin}"?` : ''),
      );
  }
  for (const [name, value] of Object.entries(o.events)) {
    if (typeof value !== 'string' || !value) fail(`events.${name}`, `a non-empty string (got ${shown(value)})`);
    if (RESERVED_EVENTS.has(value)) fail(`events.${name}`, `a name socket.io does not reserve (not "${value}")`);
  }
  if (new Set(Object.values(o.events)).size !== Object.keys(o.events).length) fail('events', 'distinct names');
  oneOf('bindConnection', ['address', 'cookie', false], "'address', 'cookie' or false");
  if (o.ipv6Subnet !== false && !(Number.isInteger(o.ipv6Subnet) && o.ipv6Subnet >= 1 && o.ipv6Subnet <= 128))
    fail('ipv6Subnet', `a whole number from 1 to 128, or false (got ${shown(o.ipv6Subnet)})`);
  if (o.limitStore !== undefined && typeof o.limitStore?.add !== 'function')
    fail('limitStore', 'a LimitStore (an object with add())');
  if (
    typeof o.telemetry !== 'boolean' &&
    !(
      o.telemetry &&
      typeof o.telemetry === 'object' &&
      Object.keys(o.telemetry).every((k) => k === 'addresses') &&
      [undefined, true, false].includes(o.telemetry.addresses)
    )
  )
    fail('telemetry', `true, false or { addresses?: boolean } (got ${shown(o.telemetry)})`);
  if (o.onOutcome !== undefined && typeof o.onOutcome !== 'function')
    fail('onOutcome', `a function (got ${shown(o.onOutcome)})`);
}

function originOf(entry: string): string | undefined {
  try {
    const { origin } = new URL(entry);
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/** The known name nearest to a typo, when it is near enough to be what was meant. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of known) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length]!;
}

/** A received value as the error shows it: its JSON form and type, so a string from config is told from a number. */
function shown(value: unknown): string {
  const json = typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value));
  return `${json.length > 60 ? `${json.slice(0, 60)}…` : json}, ${typeof value}`;
}
