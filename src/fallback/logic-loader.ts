/**
 * Loads JsonLogic evaluation (`json-logic-eval.ts`, which bundles
 * json-logic-engine) on demand, once per page or process: bundlers put it in
 * its own chunk, so only applications that configure rules or targeting
 * download it. Whoever configures them starts the load at construction
 * (`rules()`, `rulesModel()`, a `routing.targeting`), never first when a model
 * fails, and their `ready()` awaits it.
 */
import { RulesError } from '../errors.js';

/** The evaluation module. */
export type LogicModule = typeof import('./json-logic-eval.js');

let loaded: LogicModule | undefined;
let loading: Promise<LogicModule> | undefined;
let importer: () => Promise<LogicModule> = () => import('./json-logic-eval.js');

/**
 * The evaluation module, loading it if needed. A failed load rejects with a
 * {@link RulesError} and is forgotten, so the next call tries again. The
 * returned promise never causes an unhandled rejection by itself.
 */
export function loadLogic(): Promise<LogicModule> {
  if (loaded) return Promise.resolve(loaded);
  if (loading) return loading;
  const p = importer().then(
    (m) => (loaded = m),
    (e: unknown) => {
      if (loading === p) loading = undefined;
      const detail = e instanceof Error ? e.message : String(e);
      throw new RulesError(`Could not load the JsonLogic engine (rules and targeting): ${detail}`, { cause: e });
    },
  );
  p.catch(() => undefined);
  loading = p;
  return p;
}

/**
 * Supplies the evaluation module up front, for runtimes where nothing is
 * downloaded (Node: `rules-loader.node.ts`): rules then answer synchronously
 * from the start and `evaluate()` needs no `ready()` first.
 */
export function provideLogic(module: LogicModule): void {
  loaded ??= module;
}

/** The evaluation module if it has arrived, else undefined. */
export function loadedLogic(): LogicModule | undefined {
  return loaded;
}

/** @internal Tests: replaces the import (e.g. with a failing one) and forgets what was loaded. */
export function setLogicImporterForTests(next: (() => Promise<LogicModule>) | undefined): void {
  importer = next ?? (() => import('./json-logic-eval.js'));
  loaded = undefined;
  loading = undefined;
}
