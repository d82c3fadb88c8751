import { describe, expect, it } from 'vitest';
import { SlidingWindow } from '../../src/resilience/sliding-window.js';

describe('SlidingWindow', () => {
  it('counts calls and hits within the window', () => {
    const w = new SlidingWindow(100, 10, 0);
    w.record(true, 0);
    w.record(false, 5);
    w.record(true, 55);
    expect(w.counts(60)).toEqual({ total: 3, hits: 2 });
  });

  it('forgets buckets as they leave the window', () => {
    const w = new SlidingWindow(100, 10, 0);
    w.record(true, 0);
    w.record(true, 50);
    expect(w.counts(99)).toEqual({ total: 2, hits: 2 });
    // The first bucket [0, 10) has left the window at 100.
    expect(w.counts(105)).toEqual({ total: 1, hits: 1 });
    expect(w.counts(155)).toEqual({ total: 0, hits: 0 });
  });

  it('survives long idle gaps (more than one whole window)', () => {
    const w = new SlidingWindow(100, 10, 0);
    for (let t = 0; t < 100; t += 10) w.record(true, t);
    expect(w.counts(99).total).toBe(10);
    expect(w.counts(10_000)).toEqual({ total: 0, hits: 0 });
    w.record(false, 10_001);
    expect(w.counts(10_002)).toEqual({ total: 1, hits: 0 });
  });

  it('reset starts a new window', () => {
    const w = new SlidingWindow(100, 10, 0);
    w.record(true, 1);
    w.reset(2);
    expect(w.counts(3)).toEqual({ total: 0, hits: 0 });
    w.record(true, 4);
    expect(w.counts(5)).toEqual({ total: 1, hits: 1 });
  });
});
