/**
 * A tiny typed event emitter. Emitting with no listener costs one property
 * read; listener errors are caught so they can never break a call.
 */
import type { WorkerReplacedEvent } from './models/worker-pool.js';
import type { FailureReason } from './errors.js';
import type { CanaryPromotedEvent, CanaryRollbackEvent, CanaryStepEvent } from './routing/canary.js';
import type { FlagErrorEvent } from './routing/router.js';
import type { ShadowMismatchEvent } from './routing/shadow.js';

/** Breaker states as reported by `status()` and events. */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'disabled';

/**
 * Events of an inference, by name. Later layers (routing, workers, telemetry)
 * add their own names here so listeners stay typed.
 */
export interface InferenceEvents {
  /** A fallback handler answered (or every handler failed: `fallbackName` undefined). */
  fallback: {
    readonly version: string;
    readonly reason: FailureReason;
    readonly fallbackName: string | undefined;
    readonly ruleId: string | undefined;
    readonly error: unknown;
  };
  /** The version's breaker opened. */
  'breaker-open': { readonly version: string; readonly cause: 'failures' | 'slow-calls' | 'manual' };
  /** The version's breaker lets one probe through. */
  'breaker-half-open': { readonly version: string };
  /** The version's breaker closed again. */
  'breaker-close': { readonly version: string };
  /** A canary moved to its next traffic step. */
  'canary-step': CanaryStepEvent;
  /** A canary failed its checks and was rolled back to 0 %. */
  'canary-rollback': CanaryRollbackEvent;
  /** A canary passed its last step and became the default. */
  'canary-promoted': CanaryPromotedEvent;
  /** A shadow call disagreed with the primary answer. */
  'shadow-mismatch': ShadowMismatchEvent;
  /** The feature-flag provider failed or named an unknown version; static routing answered. */
  'flag-error': FlagErrorEvent;
  /** A worker was terminated (deadline, crash) and replaced. */
  'worker-replaced': WorkerReplacedEvent & { readonly version: string };
  /** A listener threw; the error is reported here and nowhere else. */
  'listener-error': { readonly event: string; readonly error: unknown };
}

/** Unsubscribes the listener it was returned for. */
export type Unsubscribe = () => void;

/** A typed event emitter over an event map. */
export class Emitter<E extends object> {
  private readonly listeners: { [K in keyof E]?: Array<(payload: E[K]) => void> } = {};

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: (payload: E[K]) => void): Unsubscribe {
    // Copy-on-write so an emit in progress is never affected by (un)subscribing.
    this.listeners[event] = [...(this.listeners[event] ?? []), listener];
    return () => {
      const list = this.listeners[event];
      if (!list) return;
      const next = list.filter((l) => l !== listener);
      if (next.length) this.listeners[event] = next;
      else delete this.listeners[event];
    };
  }

  /** True when at least one listener is registered for `event`. */
  has<K extends keyof E>(event: K): boolean {
    return this.listeners[event] !== undefined;
  }

  /** Calls each listener; a throwing listener is reported as `listener-error`. */
  emit<K extends keyof E>(event: K, payload: E[K]): void {
    const list = this.listeners[event];
    if (list === undefined) return;
    for (const listener of list) {
      try {
        listener(payload);
      } catch (error) {
        if (event !== 'listener-error') {
          (this as unknown as Emitter<InferenceEvents>).emit('listener-error', {
            event: String(event),
            error,
          });
        }
      }
    }
  }

  /** Removes every listener. */
  clear(): void {
    for (const key of Object.keys(this.listeners)) delete (this.listeners as Record<string, unknown>)[key];
  }
}
