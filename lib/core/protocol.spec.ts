import { parseCredentials, splitAck } from './protocol.js';

describe('parseCredentials', () => {
  const max = 100;

  it('accepts a plain object and returns a fresh copy', () => {
    const input = { token: 'x', nested: { a: 1 } };
    const parsed = parseCredentials(input, max);
    expect(parsed).toEqual({ ok: true, credentials: input });
    expect(parsed.ok && parsed.credentials).not.toBe(input);
  });

  it('stops serialising an oversized object once it passed the limit, without reading the rest', () => {
    const big: Record<string, unknown> = {};
    for (let i = 0; i < 1000; i++) big[`k${i}`] = 'x'.repeat(50);
    let readLast = false;
    Object.defineProperty(big, 'last', { enumerable: true, get: () => ((readLast = true), 'x') });
    expect(parseCredentials(big, max)).toEqual({ ok: false, code: 'bad_request' });
    expect(readLast).toBe(false);
    // Control: within the limit, every key is read.
    const small: Record<string, unknown> = { token: 'x' };
    Object.defineProperty(small, 'last', { enumerable: true, get: () => ((readLast = true), 'x') });
    expect(parseCredentials(small, max)).toEqual({ ok: true, credentials: { token: 'x', last: 'x' } });
    expect(readLast).toBe(true);
  });

  it('accepts a string holding a JSON object', () => {
    expect(parseCredentials('{"token":"x"}', max)).toEqual({ ok: true, credentials: { token: 'x' } });
  });

  it('takes a string that is not JSON as a bare token', () => {
    expect(parseCredentials('eyJhbGciOi.x.y', max)).toEqual({ ok: true, credentials: { token: 'eyJhbGciOi.x.y' } });
    expect(parseCredentials('x'.repeat(max), max)).toEqual({ ok: false, code: 'bad_request' }); // still within the size limit
  });

  it.each([
    ['a number', 42],
    ['null', null],
    ['undefined', undefined],
    ['a boolean', true],
    ['an array', [{ token: 'x' }]],
    ['a JSON string holding an array', '[1,2]'],
    ['a JSON string holding a number', '12'],
    ['a JSON string holding null', 'null'],
    ['a Buffer', Buffer.from('{}')],
    ['an object with a Buffer inside', { token: Buffer.from('x') }],
    ['an object with an ArrayBuffer inside', { deep: { token: new ArrayBuffer(4) } }],
    ['a function', () => ({})],
  ])('refuses %s with bad_request', (_name, payload) => {
    expect(parseCredentials(payload, max)).toEqual({ ok: false, code: 'bad_request' });
  });

  it('measures the size limit in UTF-8 bytes of the JSON form', () => {
    const ascii = { t: 'a'.repeat(max - 8) }; // {"t":"…"} is 8 bytes of framing
    expect(JSON.stringify(ascii).length).toBe(max);
    expect(parseCredentials(ascii, max).ok).toBe(true);
    expect(parseCredentials({ t: 'a'.repeat(max - 7) }, max).ok).toBe(false);
    // 'é' is one UTF-16 unit but two UTF-8 bytes.
    expect(parseCredentials({ t: 'é'.repeat(50) }, max).ok).toBe(false);
    expect(parseCredentials(JSON.stringify({ t: 'é'.repeat(50) }), max).ok).toBe(false);
  });

  it('drops __proto__, constructor and prototype keys at every depth', () => {
    /** Every own key at every depth, and whether every object has the plain prototype. */
    const walk = (value: unknown, keys: string[] = []): string[] => {
      if (value === null || typeof value !== 'object') return keys;
      expect(Object.getPrototypeOf(value)).toBe(Array.isArray(value) ? Array.prototype : Object.prototype);
      for (const key of Object.getOwnPropertyNames(value)) {
        keys.push(key);
        walk((value as Record<string, unknown>)[key], keys);
      }
      return keys;
    };
    const unsafe = (keys: string[]) => keys.filter((k) => ['__proto__', 'constructor', 'prototype'].includes(k));
    const hostileJson =
      '{"__proto__":{"polluted":true},"a":{"constructor":{"prototype":{"polluted":true}},"ok":1},"list":[{"__proto__":{"polluted":true}}]}';

    for (const payload of [JSON.parse(hostileJson), hostileJson]) {
      const parsed = parseCredentials(payload, 1000);
      expect(parsed).toEqual({ ok: true, credentials: { a: { ok: 1 }, list: [{}] } });
      if (!parsed.ok) continue;
      expect(unsafe(walk(parsed.credentials))).toEqual([]);
      // What an app might do with credentials: a shallow copy sets the copy's prototype from an own "__proto__" key.
      const copy = Object.assign({}, parsed.credentials) as Record<string, unknown>;
      expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
      expect(copy.polluted).toBeUndefined();
    }
  });

  it('refuses nesting deep enough to overflow the stack instead of throwing', () => {
    let deep: any = {};
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    expect(parseCredentials(deep, 10_000_000)).toEqual({ ok: false, code: 'bad_request' });
  });
});

describe('splitAck', () => {
  it('takes a trailing function as the ack', () => {
    const ack = () => undefined;
    expect(splitAck([{ a: 1 }, ack])).toEqual({ payload: { a: 1 }, ack });
    expect(splitAck([ack])).toEqual({ payload: undefined, ack });
    expect(splitAck([{ a: 1 }])).toEqual({ payload: { a: 1 } });
    expect(splitAck([])).toEqual({ payload: undefined });
  });
});
