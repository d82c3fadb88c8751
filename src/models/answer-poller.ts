/**
 * Polling for a worker's answer instead of sleeping until its message wakes
 * the thread.
 *
 * Waking a sleeping thread costs 10-20 µs on the machines measured: more
 * than a small model's whole batch, and paid on every run. When a run's
 * answer is due within a fraction of a millisecond, the sending thread can
 * poll for it (Node's `receiveMessageOnPort`) once the code that sent the run
 * is done, and take it the moment it arrives.
 *
 * Bounded two ways, so the event loop stays responsive:
 * - it polls only while this worker's recent round trips were shorter than
 *   `spinMs`, and never longer than `spinMs` per run: a slow run is never
 *   waited for, its answer arrives as a message;
 * - polls run as microtasks (right after the sending code), and an answer's
 *   callers often send the next run in the same microtask checkpoint; past
 *   `turnBudgetMs` within one turn of the event loop (counted for all the
 *   thread's workers together), the next poll waits for the loop's next turn
 *   (a macrotask), so timers and I/O get their turn.
 *
 * Runtime-agnostic: the poll and the schedulers are injected.
 */

/** What the poller needs from its runtime. */
export interface PollerRuntime {
  /** Takes one answer if one is waiting and delivers it (which calls {@link AnswerPoller.answered}); true if it did. */
  readonly poll: () => boolean;
  readonly now: () => number;
  /** Runs `fn` once the current code and the microtasks queued before are done. */
  readonly microtask: (fn: () => void) => void;
  /** Runs `fn` in a later turn of the event loop, after timers and I/O. */
  readonly macrotask: (fn: () => void) => void;
}

/** When polling started in the current turn of the event loop (-1: not yet); shared by the pollers that share a thread. */
export interface TurnState {
  start: number;
}

/** The turn state of this thread's pollers: every worker's polls count against the same budget. */
const threadTurn: TurnState = { start: -1 };

/** Weight of the latest round trip in the running average that decides whether to poll. */
const RTT_WEIGHT = 0.2;

/** Default of `turnBudgetMs`. */
export const TURN_BUDGET_MS = 1;

/** Decides when to poll for one worker's answers. */
export class AnswerPoller {
  /** Runs sent and not answered yet. */
  private pending = 0;
  /** When the oldest pending run was sent (or the last answer came). */
  private sentAt = 0;
  /** Running average of the round trip, ms (0: none measured yet). */
  private rtt = 0;
  private queued = false;
  private stopped = false;
  /** Polls that took an answer, polls that gave up, polls skipped because runs are slow (for tests and tuning). */
  readonly counts = { hits: 0, misses: 0, skipped: 0, deferred: 0 };

  constructor(
    private readonly spinMs: number,
    private readonly runtime: PollerRuntime,
    private readonly turnBudgetMs = TURN_BUDGET_MS,
    private readonly turn: TurnState = threadTurn,
  ) {}

  /** A run was sent to the worker. */
  sent(): void {
    const now = this.runtime.now();
    if (this.pending++ === 0) this.sentAt = now;
    if (this.spinMs <= 0 || this.queued || this.stopped) return;
    this.queued = true;
    const turn = this.turn;
    if (turn.start < 0) {
      turn.start = now;
      this.runtime.macrotask(this.nextTurn);
    }
    if (now - turn.start < this.turnBudgetMs) this.runtime.microtask(this.run);
    else {
      this.counts.deferred++;
      this.runtime.macrotask(this.run);
    }
  }

  /** An answer (result or error) arrived, by poll or by message. */
  answered(): void {
    if (this.pending === 0) return;
    this.pending--;
    const now = this.runtime.now();
    const sample = now - this.sentAt;
    this.rtt = this.rtt === 0 ? sample : this.rtt + RTT_WEIGHT * (sample - this.rtt);
    this.sentAt = now;
  }

  /** No more polling (the worker is being stopped). */
  stop(): void {
    this.stopped = true;
  }

  private readonly nextTurn = (): void => {
    this.turn.start = -1;
  };

  private readonly run = (): void => {
    this.queued = false;
    if (this.pending === 0 || this.stopped) return;
    if (!(this.rtt < this.spinMs)) {
      this.counts.skipped++;
      return;
    }
    const { poll, now } = this.runtime;
    const until = now() + this.spinMs;
    do {
      if (poll()) {
        this.counts.hits++;
        return;
      }
    } while (now() < until);
    this.counts.misses++;
  };
}
