/**
 * Many deadlines, one timer: items are put in slots of `tickMs` (a hashed
 * wheel, as Netty's HashedWheelTimer), and a single interval runs only while
 * some item is waiting. An item fires at most one tick late, never early.
 * Used where thousands of sessions each wait for something that need not be
 * exact to the millisecond (revalidation), so none of them holds a timer.
 */
export class DeadlineWheel<T> {
  private readonly slots = new Map<number, Set<T>>();
  private readonly slotOf = new Map<T, number>();
  private timer?: ReturnType<typeof setInterval>;
  /** The last slot whose items were fired. */
  private done = 0;

  constructor(
    private readonly tickMs: number,
    private readonly fire: (item: T) => void,
  ) {}

  /** (Re)schedules `item` for `at` (epoch ms). */
  schedule(item: T, at: number): void {
    this.cancel(item);
    // Started first, so `done` is current: a slot at or before it would never be visited.
    this.start();
    const slot = Math.max(Math.ceil(at / this.tickMs), this.done + 1);
    let items = this.slots.get(slot);
    if (!items) this.slots.set(slot, (items = new Set()));
    items.add(item);
    this.slotOf.set(item, slot);
  }

  cancel(item: T): void {
    const slot = this.slotOf.get(item);
    if (slot === undefined) return;
    this.slotOf.delete(item);
    const items = this.slots.get(slot)!;
    items.delete(item);
    if (!items.size) this.slots.delete(slot);
    if (!this.slotOf.size) this.stop();
  }

  /** Items waiting. For leak checks. */
  get size(): number {
    return this.slotOf.size;
  }

  /** Whether the interval runs: only while something waits. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  clear(): void {
    this.slots.clear();
    this.slotOf.clear();
    this.stop();
  }

  private start(): void {
    if (this.timer) return;
    this.done = Math.floor(Date.now() / this.tickMs);
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref?.(); // never what keeps a process alive
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = Math.floor(Date.now() / this.tickMs);
    // Slots are visited in order; a slow tick (a busy event loop) catches up on every slot it missed.
    for (let slot = this.done + 1; slot <= now; slot++) {
      this.done = slot;
      const items = this.slots.get(slot);
      if (!items) continue;
      this.slots.delete(slot);
      for (const item of items) {
        this.slotOf.delete(item);
        this.fire(item);
      }
    }
    if (!this.slotOf.size) this.stop();
  }
}
