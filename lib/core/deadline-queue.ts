/**
 * Many deadlines of the same length, one timer: the authentication timeout of
 * every pending session, and the idle close of every connection. Items that
 * all wait the same time arrive in deadline order, so a queue kept in that
 * order needs one timer, for its head (the shape of Node's own timer lists,
 * without a Timeout object and a closure per connection). An item added out of
 * order (a deadline kept from earlier) is put in its place, which is rare and
 * costs a scan. Cancelling marks the entry; its slot goes when the head passes.
 *
 * The timer outlives an empty queue, unref'd, until its own time: a queue that
 * empties and refills (one strategy call at a time, connections that
 * authenticate as fast as they arrive) would otherwise make a Timeout per item,
 * which is the cost this class exists to avoid. An unref'd timer holds no
 * process open, fires at most once more and then stops; `clear()` ends it at once.
 */
export interface QueueEntry<T> {
  readonly item: T;
  readonly at: number;
  live: boolean;
}

/** A head this far in, and past half the array, compacts it: amortised O(1) per item. */
const COMPACT_AFTER = 1024;

export class DeadlineQueue<T> {
  private queue: Array<QueueEntry<T>> = [];
  private head = 0;
  private live = 0;
  private timer?: ReturnType<typeof setTimeout>;
  private timerAt = Infinity;
  /** Whether the timer holds the process open: only while something waits. */
  private refed = false;

  constructor(
    private readonly fire: (item: T) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Fires `item` at `at` (epoch ms), unless the returned entry is cancelled first. */
  add(item: T, at: number): QueueEntry<T> {
    const entry: QueueEntry<T> = { item, at, live: true };
    const q = this.queue;
    if (q.length === this.head || q[q.length - 1]!.at <= at) q.push(entry);
    else {
      let i = q.length;
      while (i > this.head && q[i - 1]!.at > at) i--;
      q.splice(i, 0, entry);
    }
    this.live++;
    if (at < this.timerAt) this.arm(at);
    else if (!this.refed) {
      this.timer!.ref();
      this.refed = true;
    }
    return entry;
  }

  cancel(entry: QueueEntry<T> | undefined): void {
    if (!entry?.live) return;
    entry.live = false;
    if (--this.live === 0) this.idle();
  }

  /** Items waiting. For leak checks. */
  get size(): number {
    return this.live;
  }

  /** Whether a timer holds the process open: only while something waits. */
  get running(): boolean {
    return this.refed;
  }

  /** Whether a timer exists at all, held or left to lapse (see the class comment). */
  get armed(): boolean {
    return this.timer !== undefined;
  }

  /** Drops every item and the timer: nothing of the queue is left. */
  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.refed = false;
    this.queue = [];
    this.head = 0;
    this.live = 0;
  }

  /** Nothing waits: drop the dead entries and let the timer lapse without holding the process. */
  private idle(): void {
    this.queue.length = 0;
    this.head = 0;
    this.timer?.unref();
    this.refed = false;
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.run(), Math.max(0, at - this.now()));
    this.refed = true;
  }

  private run(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    this.refed = false;
    if (this.live === 0) return this.clear();
    const now = this.now();
    // this.queue, not a copy: what `fire` does (add, cancel, even clear) is seen at once.
    while (this.head < this.queue.length && this.queue[this.head]!.at <= now) {
      const entry = this.queue[this.head++]!;
      if (!entry.live) continue;
      entry.live = false;
      this.live--;
      this.fire(entry.item);
    }
    if (this.live === 0) return this.clear();
    while (!this.queue[this.head]!.live) this.head++;
    if (this.head > COMPACT_AFTER && this.head > this.queue.length / 2) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    const first = this.queue[this.head]!.at;
    if (first < this.timerAt) this.arm(first);
  }
}
