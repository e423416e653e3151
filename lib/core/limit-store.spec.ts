import { MemoryLimitStore } from './limit-store.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('MemoryLimitStore', () => {
  let store: MemoryLimitStore;
  beforeEach(() => (store = new MemoryLimitStore(20)));
  afterEach(() => store.close());

  it('adds deltas per key and answers synchronously', () => {
    expect(store.add('a', 1, 1000)).toBe(1);
    expect(store.add('a', 2, 1000)).toBe(3);
    expect(store.add('b', 1, 1000)).toBe(1);
    expect(store.add('a', -1, 1000)).toBe(2);
  });

  it('starts an expired key again from zero', async () => {
    store.add('a', 5, 40);
    await sleep(60);
    expect(store.add('a', 1, 40)).toBe(1);
  });

  it("keeps an existing key's expiry unless refresh is asked for", async () => {
    store.add('fixed', 1, 100);
    store.add('refreshed', 1, 100);
    await sleep(60);
    store.add('fixed', 1, 100);
    store.add('refreshed', 1, 100, true);
    await sleep(60); // 120 ms after creation, 60 ms after the refresh
    expect(store.add('fixed', 0, 100)).toBe(0);
    expect(store.add('refreshed', 0, 100)).toBe(2);
  });

  it('removes a key whose total falls to zero or below, answering 0', () => {
    store.add('a', 1, 1000);
    expect(store.add('a', -3, 1000)).toBe(0);
    expect(store.size()).toBe(0);
    expect(store.add('a', 1, 1000)).toBe(1);
  });

  it('runs its sweep timer only while keys exist, and the sweep drops expired keys', async () => {
    expect(store.sweeping).toBe(false);
    store.add('a', 1, 30);
    store.add('b', 1, 30);
    expect(store.sweeping).toBe(true);
    expect(store.size()).toBe(2);
    await sleep(100);
    expect(store.size()).toBe(0);
    expect(store.sweeping).toBe(false);
  });

  it('stops the timer when the last key is removed by a decrement, and on close()', () => {
    store.add('a', 1, 1000);
    store.add('a', -1, 1000);
    expect(store.sweeping).toBe(false);
    store.add('b', 1, 1000);
    store.close();
    expect(store.sweeping).toBe(false);
    expect(store.size()).toBe(0);
  });
});
