/**
 * The {@link RunContext} a model sees during one attempt.
 */
import type { InferenceContext, RunContext } from '../types.js';

/**
 * The context a model sees during one attempt. The AbortController is created
 * only if the model reads `signal`, so uncancellable runners (ONNX in-process)
 * pay nothing for it.
 */
export class AttemptContext implements RunContext {
  private controller: AbortController | undefined;
  private abortReason: unknown;
  private aborted = false;
  private released = false;
  private onCallerAbort: (() => void) | undefined;
  constructor(
    readonly deadline: number,
    readonly context: InferenceContext | undefined,
    private readonly callerSignal: AbortSignal | undefined,
  ) {}

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      const caller = this.callerSignal;
      if (this.aborted) this.controller.abort(this.abortReason);
      else if (caller !== undefined && !this.released) {
        if (caller.aborted) this.controller.abort(caller.reason);
        else {
          this.onCallerAbort = () => this.controller!.abort(caller.reason);
          caller.addEventListener('abort', this.onCallerAbort, { once: true });
        }
      }
    }
    return this.controller.signal;
  }

  /**
   * Stops listening to the caller's signal once the attempt is over: a
   * long-lived signal shared by many calls would otherwise collect one
   * listener per attempt (a leak, and Node's MaxListenersExceededWarning).
   */
  release(): void {
    this.released = true;
    if (this.onCallerAbort !== undefined) {
      this.callerSignal!.removeEventListener('abort', this.onCallerAbort);
      this.onCallerAbort = undefined;
    }
  }

  abort(reason: unknown): void {
    this.aborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}
