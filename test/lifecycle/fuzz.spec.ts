/**
 * Property-based fuzzing of the `authentication` payload over real sockets:
 * every generated payload is answered with success or a coded refusal, only
 * payloads carrying a valid token succeed (as their own user), and the server
 * keeps serving an honest client afterwards.
 */
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import fc from 'fast-check';
import { AUTH_ERROR_CODES, Authenticated } from '../../lib/index.js';
import { authenticate, closeClients, connect, connected, createApp, type TestApp } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

@WebSocketGateway()
class Gateway {
  @Authenticated()
  @SubscribeMessage('guarded')
  guarded(): string {
    return 'ran';
  }
}

/** Deeply nested credentials; named for fast-check's report, which would overflow printing them. */
function nest(depth: number): unknown {
  let value: unknown = { token: 'alice-token' };
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { d: value };
  return Object.assign(value as object, { [fc.toStringMethod]: () => `nest(${depth})` });
}

const binary = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
const payloads = fc.oneof(
  fc.jsonValue(),
  fc.json(),
  fc.string(),
  fc.constantFrom('alice-token', 'bob-token'),
  fc.string({ unit: 'binary' }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.record({ token: fc.constantFrom('alice-token', 'bob-token', 'nope', '') }, { requiredKeys: [] }),
  fc.record({ token: fc.constantFrom('alice-token', 'bob-token') }).map((o) => JSON.stringify(o)),
  fc.dictionary(fc.string(), fc.jsonValue()),
  fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'prototype', 'token'), fc.jsonValue()),
  binary,
  // socket.io's parser itself closes connections carrying more than 10 attachments, before any handler runs.
  fc.dictionary(fc.string({ maxLength: 5 }), binary, { minKeys: 1, maxKeys: 10 }),
  fc.integer({ min: 16_000, max: 200_000 }).map((n) => ({ token: 'x'.repeat(n) })),
  fc.integer({ min: 16_000, max: 200_000 }).map((n) => 'é'.repeat(n)),
  fc.integer({ min: 50, max: 3000 }).map(nest),
);

const USERS: Record<string, string> = { 'alice-token': 'alice', 'bob-token': 'bob' };
/** Own keys only: 'valueOf' is no user. */
const userOf = (token: string): string | undefined => (Object.hasOwn(USERS, token) ? USERS[token] : undefined);

/**
 * Whom a payload should authenticate as, judged without the module's parser: a
 * JSON object, or a string holding one, whose own `token` is a known token; or
 * a string that is not JSON at all, which is a bare token.
 */
function expectedUser(payload: unknown): string | undefined {
  let value = payload;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return userOf(value as string);
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value))
    return undefined;
  const token: unknown = Object.getOwnPropertyDescriptor(value, 'token')?.value;
  return typeof token === 'string' ? userOf(token) : undefined;
}

/** `{ token }` and nothing else, with a known token: it must be accepted. */
function plainValidToken(payload: unknown): boolean {
  const value =
    typeof payload === 'string'
      ? (() => {
          try {
            return JSON.parse(payload);
          } catch {
            return { token: payload };
          }
        })()
      : payload;
  return expectedUser(payload) !== undefined && Object.keys(value as object).join() === 'token';
}

type Answer = { ok: true; user: unknown } | { ok: false; error: { code: string; message: string } };

describe('fuzzing the authentication payload', () => {
  let t: TestApp;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    t = await createApp(
      { ...tokenAuth, timeout: 20_000, maxFailuresPerAddress: 0, maxPendingPerAddress: 0, maxPending: 0 },
      { providers: [Gateway] },
    );
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    closeClients();
    await t.close();
  });

  it('answers 5,000 generated payloads with success only for a valid token, a coded refusal otherwise, and keeps serving', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    const generated = fc.sample(payloads, { numRuns: 5000, seed });
    const problems: string[] = [];
    let successes = 0;
    const describe = (p: unknown): string => {
      const text =
        typeof p === 'string'
          ? JSON.stringify(p)
          : (() => {
              try {
                return JSON.stringify(p) ?? String(p);
              } catch {
                return String(p);
              }
            })();
      return (text ?? String(p)).slice(0, 120);
    };
    for (let i = 0; i < generated.length; i += 250) {
      const batch = generated.slice(i, i + 250);
      await Promise.all(
        batch.map(async (payload) => {
          const c = connect(t.url);
          try {
            await connected(c, 10_000);
            // The answer is the `authenticated` or `unauthorized` event, whichever comes.
            const answer = new Promise<Answer>((resolve, reject) => {
              c.once('authenticated', ({ user }) => resolve({ ok: true, user }));
              c.once('unauthorized', (error) => resolve({ ok: false, error }));
              c.once('disconnect', (reason) =>
                setTimeout(() => reject(new Error(`disconnected (${reason}) without an answer`)), 50),
              );
              setTimeout(() => reject(new Error('no answer within 15 s')), 15_000).unref();
            });
            c.emit('authentication', payload);
            const got = await answer;
            const expected = expectedUser(payload);
            if (got.ok) {
              successes++;
              // Only a valid token succeeds, and as its own user.
              if ((got.user as { id?: unknown })?.id !== expected)
                problems.push(`${describe(payload)} → succeeded as ${describe(got.user)}`);
            } else if (!(AUTH_ERROR_CODES as readonly string[]).includes(got.error?.code)) {
              problems.push(`${describe(payload)} → ${describe(got)}`);
            } else if (plainValidToken(payload)) {
              problems.push(`${describe(payload)} → refused a valid token: ${describe(got)}`);
            }
          } catch (err) {
            problems.push(`${describe(payload)} → ${(err as Error).message}`);
          } finally {
            c.disconnect();
          }
        }),
      );
      closeClients();
    }
    // Reproduce a failure with FUZZ_SEED=<seed>.
    expect({ seed, problems: problems.slice(0, 5), count: problems.length }).toEqual({ seed, problems: [], count: 0 });
    expect(generated.length).toBeGreaterThanOrEqual(5000);
    // The run did exercise success: about two generators in seventeen carry a valid token.
    expect(successes).toBeGreaterThanOrEqual(generated.filter(plainValidToken).length);
    expect(successes).toBeGreaterThan(100);
    expect(unhandled).toEqual([]);

    const honest = connect(t.url);
    expect((await authenticate(honest, { token: 'bob-token' })).ok).toBe(true);
    expect(await honest.timeout(3000).emitWithAck('guarded')).toBe('ran');
  }, 180_000);
});
