/**
 * A minimal stand-in for Node's `events` module, used only by the browser
 * build: opossum does `require('events')` and extends `EventEmitter`, which
 * no browser has. The build aliases `events` to this file (see
 * `tsup.config.ts`), so opossum can be bundled without a 10 KB polyfill.
 *
 * It implements exactly what opossum calls: `on`/`addListener`, `once`,
 * `off`/`removeListener`, `emit`, `removeAllListeners`, `listenerCount`,
 * `setMaxListeners`. As in Node, an `error` event with no listener throws.
 * @packageDocumentation
 */

type Listener = (...args: any[]) => void;

/** The subset of Node's `EventEmitter` that opossum uses. */
export class EventEmitter {
  private _events: Map<string | symbol, Listener[]> = new Map();

  /** Adds a listener. */
  on(event: string | symbol, listener: Listener): this {
    const list = this._events.get(event);
    // Copy-on-write: a listener added or removed during emit does not affect that emit (as in Node).
    this._events.set(event, list ? [...list, listener] : [listener]);
    return this;
  }

  /** Alias of {@link EventEmitter.on}. */
  addListener(event: string | symbol, listener: Listener): this {
    return this.on(event, listener);
  }

  /** Adds a listener that is removed after its first call. */
  once(event: string | symbol, listener: Listener): this {
    const wrapper: Listener & { listener?: Listener } = (...args) => {
      this.removeListener(event, wrapper);
      listener.apply(this, args);
    };
    wrapper.listener = listener;
    return this.on(event, wrapper);
  }

  /** Removes the most recently added instance of `listener`. */
  removeListener(event: string | symbol, listener: Listener): this {
    const list = this._events.get(event);
    if (!list) return this;
    for (let i = list.length - 1; i >= 0; i--) {
      const l = list[i] as Listener & { listener?: Listener };
      if (l === listener || l.listener === listener) {
        const next = [...list.slice(0, i), ...list.slice(i + 1)];
        if (next.length) this._events.set(event, next);
        else this._events.delete(event);
        break;
      }
    }
    return this;
  }

  /** Alias of {@link EventEmitter.removeListener}. */
  off(event: string | symbol, listener: Listener): this {
    return this.removeListener(event, listener);
  }

  /** Removes every listener of `event`, or of every event. */
  removeAllListeners(event?: string | symbol): this {
    if (event === undefined) this._events.clear();
    else this._events.delete(event);
    return this;
  }

  /** Calls each listener of `event` synchronously; returns whether there were any. */
  emit(event: string | symbol, ...args: unknown[]): boolean {
    const list = this._events.get(event);
    if (!list) {
      if (event === 'error') throw args[0] instanceof Error ? args[0] : new Error(`Unhandled error event: ${String(args[0])}`);
      return false;
    }
    for (const listener of list) listener.apply(this, args);
    return true;
  }

  /** Number of listeners of `event` (or of `event` that are `listener`). */
  listenerCount(event: string | symbol, listener?: Listener): number {
    const list = this._events.get(event);
    if (!list) return 0;
    if (listener === undefined) return list.length;
    return list.filter((l) => l === listener || (l as { listener?: Listener }).listener === listener).length;
  }

  /** Accepted for compatibility; this emitter has no listener limit. */
  setMaxListeners(_n: number): this {
    return this;
  }
}

export default EventEmitter;
