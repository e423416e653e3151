import { covers, MemoryRevocationStore, type Revocation } from './revocation-store.js';

describe('covers', () => {
  const now = 1_000_000;
  const alice = { principalId: 'alice', tokenId: 'jti-1', issuedAt: now - 5000 };

  it('a token revocation covers exactly that token id, for any principal', () => {
    const r: Revocation = { kind: 'token', tokenId: 'jti-1', until: now + 1 };
    expect(covers(r, alice, now)).toBe(true);
    expect(covers(r, { ...alice, tokenId: 'jti-2' }, now)).toBe(false);
    expect(covers(r, { ...alice, tokenId: undefined }, now)).toBe(false);
  });

  it('an issued-before revocation covers credentials issued strictly before its cut-off', () => {
    const r: Revocation = { kind: 'issued-before', principalId: 'alice', before: now - 5000, until: now + 1 };
    expect(covers(r, { ...alice, issuedAt: now - 5001 }, now)).toBe(true);
    expect(covers(r, { ...alice, issuedAt: now - 5000 }, now)).toBe(false);
    expect(covers(r, { ...alice, principalId: 'bob', issuedAt: 0 }, now)).toBe(false);
  });

  it('a principal revocation covers whatever the principal presents', () => {
    const r: Revocation = { kind: 'principal', principalId: 'alice', until: now + 1 };
    expect(covers(r, { principalId: 'alice', issuedAt: now + 10_000 }, now)).toBe(true);
    expect(covers(r, { principalId: 'bob', issuedAt: 0 }, now)).toBe(false);
  });

  it('nothing is covered once the revocation has run out', () => {
    const r: Revocation = { kind: 'principal', principalId: 'alice', until: now };
    expect(covers(r, alice, now)).toBe(false);
  });
});

describe('MemoryRevocationStore', () => {
  let now = 1_000_000;
  const clock = (): number => now;
  let store: MemoryRevocationStore;
  beforeEach(() => {
    now = 1_000_000;
    store = new MemoryRevocationStore(10, clock);
  });
  afterEach(() => store.close());

  it('answers each kind until its end, then forgets it', async () => {
    store.add({ kind: 'token', tokenId: 't1', until: now + 100 });
    store.add({ kind: 'issued-before', principalId: 'alice', before: now, until: now + 200 });
    store.add({ kind: 'principal', principalId: 'bob', until: now + 300 });
    expect(store.isRevoked({ principalId: 'carol', tokenId: 't1', issuedAt: now })).toBe(true);
    expect(store.isRevoked({ principalId: 'alice', issuedAt: now - 1 })).toBe(true);
    expect(store.isRevoked({ principalId: 'alice', issuedAt: now + 1 })).toBe(false);
    expect(store.isRevoked({ principalId: 'bob', issuedAt: now + 1 })).toBe(true);
    expect(store.size).toBe(3);

    now += 301;
    expect(store.isRevoked({ principalId: 'bob', tokenId: 't1', issuedAt: 0 })).toBe(false);
    await new Promise((r) => setTimeout(r, 50)); // the sweep (every 10 ms here) drops what ran out
    expect(store.size).toBe(0);
    expect((store as unknown as { sweeper?: unknown }).sweeper).toBeUndefined();
  });

  it('a later issued-before cut-off covers an earlier one, and is kept as long as either needed', () => {
    store.add({ kind: 'issued-before', principalId: 'alice', before: now, until: now + 1000 });
    store.add({ kind: 'issued-before', principalId: 'alice', before: now - 500, until: now + 100 });
    expect(store.isRevoked({ principalId: 'alice', issuedAt: now - 1 })).toBe(true);
    now += 500;
    expect(store.isRevoked({ principalId: 'alice', issuedAt: now - 501 })).toBe(true);
  });

  it('ignores a revocation that has already run out', () => {
    store.add({ kind: 'token', tokenId: 't1', until: now });
    expect(store.size).toBe(0);
  });
});
