import { describe, expect, it } from 'vitest';
import { EventEmitter } from '../../src/shims/events.js';

describe('events shim', () => {
  it('calls listeners in order with the arguments and `this` bound to the emitter', () => {
    const e = new EventEmitter();
    const seen: unknown[] = [];
    e.on('x', function (this: unknown, a: number, b: string) {
      seen.push(['first', a, b, this === e]);
    });
    e.addListener('x', (a: number) => seen.push(['second', a]));
    expect(e.emit('x', 1, 'b')).toBe(true);
    expect(seen).toEqual([
      ['first', 1, 'b', true],
      ['second', 1],
    ]);
    expect(e.emit('nothing')).toBe(false);
  });

  it('once listeners run once and can be removed by the original function', () => {
    const e = new EventEmitter();
    let n = 0;
    const l = () => n++;
    e.once('x', l);
    e.emit('x');
    e.emit('x');
    expect(n).toBe(1);
    e.once('y', l);
    expect(e.listenerCount('y', l)).toBe(1);
    e.removeListener('y', l);
    e.emit('y');
    expect(n).toBe(1);
  });

  it('removing during emit does not skip the other listeners of that emit', () => {
    const e = new EventEmitter();
    const seen: string[] = [];
    const b = () => seen.push('b');
    e.on('x', () => {
      seen.push('a');
      e.off('x', b);
    });
    e.on('x', b);
    e.emit('x');
    e.emit('x');
    expect(seen).toEqual(['a', 'b', 'a']);
  });

  it('removeAllListeners clears one event or all, listenerCount follows', () => {
    const e = new EventEmitter();
    e.on('a', () => {});
    e.on('a', () => {});
    e.on('b', () => {});
    expect(e.listenerCount('a')).toBe(2);
    e.removeAllListeners('a');
    expect(e.listenerCount('a')).toBe(0);
    expect(e.listenerCount('b')).toBe(1);
    e.removeAllListeners();
    expect(e.listenerCount('b')).toBe(0);
    expect(e.setMaxListeners(1)).toBe(e);
  });

  it('throws an unhandled error event, as Node does', () => {
    const e = new EventEmitter();
    const boom = new Error('boom');
    expect(() => e.emit('error', boom)).toThrow(boom);
    e.on('error', () => {});
    expect(e.emit('error', boom)).toBe(true);
  });

  it('works as a base class (as opossum uses it)', () => {
    class Breaker extends EventEmitter {
      fired = 0;
      constructor() {
        super();
        this.on('fire', () => this.fired++);
      }
    }
    const b = new Breaker();
    b.emit('fire');
    expect(b.fired).toBe(1);
  });
});
