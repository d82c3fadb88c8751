import { describe, expect, it } from 'vitest';
import { AnswerPoller, type PollerRuntime, type TurnState } from '../../src/models/answer-poller.js';

/** A scripted runtime: a manual clock, microtask and macrotask queues the test drains, and a scripted poll. */
function fakeRuntime(answerAfterPolls: () => number | undefined) {
  let clock = 0;
  const micro: (() => void)[] = [];
  const macro: (() => void)[] = [];
  let pollsLeft: number | undefined;
  let poller: AnswerPoller | undefined;
  const runtime: PollerRuntime = {
    now: () => clock,
    microtask: (fn) => micro.push(fn),
    macrotask: (fn) => macro.push(fn),
    poll: () => {
      // Each poll costs 1 µs of the clock.
      clock += 0.001;
      if (pollsLeft === undefined) return false;
      if (pollsLeft-- > 0) return false;
      pollsLeft = undefined;
      poller!.answered();
      return true;
    },
  };
  return {
    runtime,
    attach: (p: AnswerPoller) => (poller = p),
    advance: (ms: number) => (clock += ms),
    /** A run is sent; its answer is due after `n` polls (undefined: it never comes while polling). */
    send: () => {
      pollsLeft = answerAfterPolls();
      poller!.sent();
    },
    micro,
    macro,
  };
}

describe('AnswerPoller', () => {
  it('polls in a microtask right after a run is sent and takes the answer as soon as it is there', () => {
    const rt = fakeRuntime(() => 5);
    const p = rt.attach(new AnswerPoller(0.1, rt.runtime, 1, { start: -1 }));
    rt.send();
    expect(rt.micro).toHaveLength(1);
    rt.micro.shift()!();
    expect(p.counts).toMatchObject({ hits: 1, misses: 0 });
  });

  it('gives up after spinMs (the answer then arrives as a message)', () => {
    const rt = fakeRuntime(() => undefined);
    const p = rt.attach(new AnswerPoller(0.1, rt.runtime, 1, { start: -1 }));
    rt.send();
    rt.micro.shift()!();
    expect(p.counts).toMatchObject({ hits: 0, misses: 1 });
  });

  it('stops polling for a worker whose recent round trips are longer than spinMs', () => {
    const rt = fakeRuntime(() => undefined);
    const p = rt.attach(new AnswerPoller(0.1, rt.runtime, 1, { start: -1 }));
    rt.send();
    rt.micro.shift()!();
    rt.advance(50);
    rt.macro.shift()!(); // the event loop turned meanwhile
    p.answered(); // a slow run: ~50 ms round trip
    rt.send();
    rt.micro.shift()!();
    expect(p.counts).toMatchObject({ misses: 1, skipped: 1 });
  });

  it('never polls with spinMs 0 or once stopped', () => {
    const rt = fakeRuntime(() => 1);
    const off = rt.attach(new AnswerPoller(0, rt.runtime, 1, { start: -1 }));
    rt.send();
    expect(rt.micro).toHaveLength(0);
    expect(rt.macro).toHaveLength(0);
    off.answered();
    const stopped = rt.attach(new AnswerPoller(0.1, rt.runtime, 1, { start: -1 }));
    stopped.stop();
    rt.send();
    expect(rt.micro).toHaveLength(0);
  });

  it('hands the event loop a turn once polling took turnBudgetMs in one turn, even if every answer comes in time', () => {
    const rt = fakeRuntime(() => 3);
    const p = rt.attach(new AnswerPoller(0.1, rt.runtime, 1, { start: -1 }));
    // Each answer's callers send the next run in the same microtask checkpoint.
    let runs = 0;
    rt.send();
    while (rt.micro.length > 0) {
      rt.micro.shift()!();
      rt.advance(0.05); // the callers' work between answer and next run
      runs++;
      rt.send();
    }
    // About 1 ms of polling and callers' work at ~0.053 ms per run, then the next poll is deferred.
    expect(runs).toBeGreaterThan(10);
    expect(runs).toBeLessThan(25);
    expect(p.counts.deferred).toBe(1);
    // The loop's next turn: the turn marker first (queued first), then the deferred poll.
    expect(rt.macro).toHaveLength(2);
    rt.macro.shift()!();
    rt.macro.shift()!();
    expect(p.counts.hits).toBe(runs + 1);
    // A new turn: the next run polls in a microtask again.
    rt.send();
    expect(rt.micro).toHaveLength(1);
  });

  it('counts the turn budget for all the workers of a thread together', () => {
    const turn: TurnState = { start: -1 };
    const a = fakeRuntime(() => 0);
    const b = fakeRuntime(() => 0);
    const pa = a.attach(new AnswerPoller(0.1, a.runtime, 1, turn));
    const pb = b.attach(new AnswerPoller(0.1, b.runtime, 1, turn));
    a.send();
    a.micro.shift()!();
    // 0.9 ms of work later, still in the same turn, the other worker's poll still fits.
    b.advance(0.9);
    a.advance(0.9);
    b.send();
    expect(b.micro).toHaveLength(1);
    b.micro.shift()!();
    // Past the shared budget: the first worker's next poll waits for the next turn.
    a.advance(0.2);
    a.send();
    expect(a.micro).toHaveLength(0);
    expect(pa.counts.deferred).toBe(1);
    expect(pb.counts.deferred).toBe(0);
  });
});
