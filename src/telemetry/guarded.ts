/**
 * An application's own {@link Instrumentation}, made safe for the pipeline.
 *
 * Observers must not throw (the contract of {@link CallObserver}), but one
 * written by an application might, and a throw in the middle of a call would
 * leave that call unsettled or count it twice. Telemetry must never change an
 * answer: the pipeline wraps instrumentations it did not make itself so that
 * whatever they throw is dropped. The library's own (`openTelemetry()`, the
 * no-op) are trusted and called directly, with no wrapper on the hot path.
 */
import { noopObserver, type CallObserver, type Instrumentation } from './instrumentation.js';

function quietly<A extends unknown[]>(fn: ((...args: A) => unknown) | undefined, self: unknown): (...args: A) => void {
  return (...args: A) => {
    try {
      fn?.apply(self, args);
    } catch {
      // Telemetry must never change an answer.
    }
  };
}

function guardObserver(observer: CallObserver): CallObserver {
  if (observer === noopObserver) return observer;
  const shadowStart = observer.shadowStart;
  return {
    routed: quietly(observer.routed, observer),
    attemptStart: quietly(observer.attemptStart, observer),
    attemptEnd: quietly(observer.attemptEnd, observer),
    fallbackStart: quietly(observer.fallbackStart, observer),
    end: quietly(observer.end, observer),
    fail: quietly(observer.fail, observer),
    ...(shadowStart !== undefined
      ? {
          shadowStart: (version: string) => {
            try {
              return quietly(shadowStart.call(observer, version), undefined);
            } catch {
              return () => {};
            }
          },
        }
      : {}),
  };
}

/** Wraps `inner` so that nothing it throws reaches the pipeline. */
export function guardInstrumentation(inner: Instrumentation): Instrumentation {
  return {
    startCall(name, input, context) {
      try {
        return guardObserver(inner.startCall(name, input, context));
      } catch {
        return noopObserver;
      }
    },
    breakerTransition: quietly(inner.breakerTransition, inner),
    ...(inner.shadowResult !== undefined ? { shadowResult: quietly(inner.shadowResult, inner) } : {}),
    ...(inner.record !== undefined ? { record: quietly(inner.record, inner) } : {}),
  };
}
