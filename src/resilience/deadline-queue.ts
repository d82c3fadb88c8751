/**
 * One timer for many deadlines.
 *
 * Calls of one inference mostly share the same `timeoutMs`, so their deadlines
 * arrive in the order the calls started: a FIFO queue with a single timer
 * armed for its head replaces a `setTimeout` + `clearTimeout` per call (the
 * largest fixed cost of a guarded call on a fast model). A deadline earlier
 * than the queue's tail (a per-call `timeoutMs` shorter than usual) is refused
 * and the caller uses its own timer.
 *
 * The timer is re-armed only when it fires, and is unref'd while no live
 * entry is waiting, so an idle inference never keeps a process alive.
 */

/** A deadline waiting in the queue. */
export interface DeadlineEntry {
  /** Absolute deadline, `performance.now()` milliseconds. */
  readonly deadline: number;
  /** Called once if the deadline passes before `done` is set. */
  readonly onExpire: () => void;
  /** Set by the owner when the work finished in time. */
  done: boolean;
  next: DeadlineEntry | undefined;
}

type Timer = ReturnType<typeof setTimeout>;

/** A FIFO of deadlines served by one timer. */
export class DeadlineQueue {
  private head: DeadlineEntry | undefined;
  private tail: DeadlineEntry | undefined;
  private timer: Timer | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private live = 0;
  private refed = false;
  private closed = false;

  /**
   * Queues a deadline. Returns `undefined` when the deadline is earlier than
   * the last one queued (the caller then needs its own timer).
   */
  add(deadline: number, onExpire: () => void): DeadlineEntry | undefined {
    if (this.closed) return undefined;
    const tail = this.tail;
    if (tail !== undefined && deadline < tail.deadline) return undefined;
    const entry: DeadlineEntry = { deadline, onExpire, done: false, next: undefined };
    if (tail === undefined) this.head = entry;
    else tail.next = entry;
    this.tail = entry;
    if (this.live++ === 0) this.setRef(true);
    if (this.timer === undefined) this.arm(deadline);
    else if (deadline < this.timerAt) {
      // The queue was empty but the timer is still armed for an entry that
      // settled, possibly much later (a call with a long per-call timeout):
      // waiting for it would fire this deadline late.
      clearTimeout(this.timer);
      this.arm(deadline);
    }
    return entry;
  }

  /** Marks an entry as finished in time. */
  settle(entry: DeadlineEntry): void {
    if (entry.done) return;
    entry.done = true;
    if (--this.live === 0) this.setRef(false);
    // Calls mostly finish in order: drop finished entries at the head now so
    // the queue stays short without waiting for the timer.
    let head = this.head;
    while (head !== undefined && head.done) head = head.next;
    this.head = head;
    if (head === undefined) this.tail = undefined;
  }

  private setRef(on: boolean): void {
    const timer = this.timer as { ref?: () => void; unref?: () => void } | undefined;
    if (timer === undefined || this.refed === on) return;
    this.refed = on;
    if (on) timer.ref?.();
    else timer.unref?.();
  }

  private arm(deadline: number): void {
    const delay = deadline - performance.now();
    this.timerAt = deadline;
    this.timer = setTimeout(this.fire, delay > 0 ? delay : 0);
    this.refed = true;
    if (this.live === 0) this.setRef(false);
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let head = this.head;
    while (head !== undefined && (head.done || head.deadline <= now)) {
      if (!head.done) {
        head.done = true;
        this.live--;
        head.onExpire();
      }
      head = head.next;
    }
    this.head = head;
    if (head === undefined) this.tail = undefined;
    else this.arm(head.deadline);
  };

  /** Earliest deadline the timer is armed for (for tests). */
  get armedAt(): number {
    return this.timerAt;
  }

  /** Clears the timer. Entries still waiting will not expire. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.head = this.tail = undefined;
    this.live = 0;
  }
}
