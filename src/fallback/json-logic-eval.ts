/**
 * Evaluation of the SDK's safe JsonLogic with json-logic-engine's interpreted
 * `LogicEngine` (see `json-logic.ts` for the operator table and why). This
 * module is the only one that imports json-logic-engine: the SDK loads it with
 * a dynamic `import()` (`logic-loader.ts`) as soon as rules or targeting are
 * configured, so applications without rules never download the engine.
 *
 * The engine's package entry also bundles its compiler (which builds
 * functions from strings); only the interpreter is used here, and it runs
 * under `--disallow-code-generation-from-strings` (tested).
 */
import { LogicEngine, defaultMethods } from 'json-logic-engine';
import { RulesError, formatIssues } from '../errors.js';
import {
  DEFAULT_LOGIC_LIMITS,
  describe,
  freezeJson,
  hasOwn,
  isForbiddenKey,
  resolveLimits,
  splitPath,
  truthy,
  validateLogic,
  type CompiledLogic,
  type LogicLimits,
  type LogicMeter,
} from './json-logic.js';

/** Raised internally when a bound is crossed; turned into a RulesError. */
class LimitExceeded extends Error {}

// Evaluation is synchronous, so one slot is enough to reach the current meter from operators.
let activeMeter: LogicMeter | undefined;
let activeLimits: LogicLimits = DEFAULT_LOGIC_LIMITS;

function charge(units: number): void {
  if (!activeMeter) return;
  activeMeter.remaining -= units;
  if (activeMeter.remaining < 0) {
    activeMeter.exhausted = true;
    throw new LimitExceeded(`evaluation exceeded ${activeLimits.maxSteps} steps`);
  }
}

function limits(): LogicLimits {
  return activeLimits;
}

const nodeCounts = new WeakMap<object, number>();

/** Size of a (frozen) sub-expression, used to charge iterators per element. */
function sizeOf(logic: unknown): number {
  if (typeof logic !== 'object' || logic === null) return 1;
  let n = nodeCounts.get(logic);
  if (n === undefined) {
    n = 1;
    if (Array.isArray(logic)) for (const v of logic) n += sizeOf(v);
    else for (const k of Object.keys(logic)) n += sizeOf((logic as Record<string, unknown>)[k]);
    nodeCounts.set(logic, n);
  }
  return n;
}

/** The scopes an iterator leaves behind: `../` in a path climbs one. */
type Above = readonly [data: unknown, above: Above] | readonly [];

/** Run options of a top-level evaluation, shared: the engine only reads them. */
const TOP: { above: Above } = Object.freeze({ above: Object.freeze([]) as readonly [] });

/** Reads `path` from `data` through own properties only; `notFound` when absent. */
function readPath(data: unknown, segments: readonly string[], notFound: unknown): unknown {
  let cur = data;
  for (const seg of segments) {
    if (typeof cur !== 'object' || cur === null || isForbiddenKey(seg) || !hasOwn(cur, seg)) return notFound;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur === undefined || typeof cur === 'function' ? notFound : cur;
}

function climb(path: string, data: unknown, above: Above): { path: string; data: unknown } {
  let cur = data;
  let up: Above = above;
  while (path.startsWith('../')) {
    path = path.slice(3);
    cur = up.length ? up[0] : undefined;
    up = up.length ? up[1] : [];
  }
  return { path, data: cur };
}

function varMethod(args: unknown[], data: unknown, above: Above): unknown {
  const key = args[0];
  const notFound = args[1] === undefined ? null : args[1];
  if (key === undefined || key === null || key === '') {
    return data === undefined || typeof data === 'function' ? null : data;
  }
  if (typeof key === 'number') return readPath(data, [String(key)], notFound);
  if (typeof key !== 'string') return notFound;
  const at = climb(key, data, above);
  if (at.path === '') return at.data === undefined || typeof at.data === 'function' ? notFound : at.data;
  return readPath(at.data, splitPath(at.path), notFound);
}

function isMissing(data: unknown, key: unknown): boolean {
  if (typeof key === 'number') key = String(key);
  if (typeof key !== 'string') return true;
  const v = readPath(data, splitPath(key), null);
  return v === null || v === '';
}

function missingMethod(args: unknown[], data: unknown): unknown[] {
  const keys = Array.isArray(args[0]) ? (args[0] as unknown[]) : args;
  checkArray(keys);
  const out: unknown[] = [];
  for (const k of keys) if (isMissing(data, k)) out.push(k);
  return out;
}

function missingSomeMethod(args: unknown[], data: unknown): unknown[] {
  const need = Number(args[0]);
  const keys = Array.isArray(args[1]) ? (args[1] as unknown[]) : [];
  checkArray(keys);
  const out: unknown[] = [];
  for (const k of keys) if (isMissing(data, k)) out.push(k);
  return keys.length - out.length >= need ? [] : out;
}

function checkArray(a: readonly unknown[]): void {
  const max = limits().maxArrayLength;
  if (a.length > max) throw new LimitExceeded(`array longer than ${max} items`);
  charge(a.length);
}

function checkString(s: string): string {
  const max = limits().maxStringLength;
  if (s.length > max) throw new LimitExceeded(`string longer than ${max} characters`);
  charge(s.length >> 4);
  return s;
}

function inMethod(args: unknown[]): boolean {
  const [item, container] = args;
  if (typeof container === 'string') {
    return (typeof item === 'string' || typeof item === 'number') && container.includes(String(item));
  }
  if (Array.isArray(container)) {
    charge(container.length);
    return container.includes(item);
  }
  return false;
}

function catMethod(args: unknown[]): string {
  let out = '';
  for (const a of args) {
    if (a === null || a === undefined) continue;
    if (typeof a === 'object' || typeof a === 'function' || typeof a === 'symbol') {
      throw new TypeError(`cat: cannot concatenate ${describe(a)}`);
    }
    out += String(a);
    checkString(out);
  }
  return out;
}

function toInt(v: unknown): number {
  const n = Math.trunc(Number(v));
  return Number.isFinite(n) ? n : 0;
}

function substrMethod(args: unknown[]): string {
  const source = args[0];
  if (typeof source === 'object' || typeof source === 'function' || typeof source === 'symbol') {
    throw new TypeError(`substr: expected a string, got ${describe(source)}`);
  }
  const s = String(source);
  let start = toInt(args[1]);
  if (start < 0) start = Math.max(0, s.length + start);
  const rest = s.slice(start);
  if (args[2] === undefined || args[2] === null) return checkString(rest);
  const len = toInt(args[2]);
  // Classic JsonLogic: a negative length stops that many characters before the end.
  return checkString(len < 0 ? rest.slice(0, Math.max(0, rest.length + len)) : rest.slice(0, len));
}

function mergeMethod(args: unknown[]): unknown[] {
  const out: unknown[] = [];
  const max = limits().maxArrayLength;
  for (const a of args) {
    if (Array.isArray(a)) {
      if (out.length + a.length > max) throw new LimitExceeded(`array longer than ${max} items`);
      for (const v of a) out.push(v);
    } else {
      if (out.length + 1 > max) throw new LimitExceeded(`array longer than ${max} items`);
      out.push(a);
    }
  }
  charge(out.length);
  return out;
}

type Engine = InstanceType<typeof LogicEngine>;

function selection(engine: Engine, selector: unknown, data: unknown, above: Above): readonly unknown[] {
  const sel = engine.run(selector, data, { above }) as unknown;
  if (!Array.isArray(sel)) return [];
  checkArray(sel);
  return sel;
}

function iterate(
  engine: Engine,
  args: unknown,
  data: unknown,
  above: Above,
  visit: (result: unknown, item: unknown) => boolean | void,
): void {
  if (!Array.isArray(args)) throw new TypeError('expected [array, expression]');
  const [selector, mapper] = args as unknown[];
  const items = selection(engine, selector, data, above);
  const inner: Above = [data, above];
  const cost = sizeOf(mapper);
  for (const item of items) {
    charge(cost);
    const result = engine.run(mapper, item, { above: inner }) as unknown;
    if (visit(result, item) === false) return;
  }
}

type LazyMethod = (args: unknown, data: unknown, above: Above, engine: Engine) => unknown;
type EagerMethod = (args: unknown[], data: unknown, above: Above, engine: Engine) => unknown;

const lazy = (method: LazyMethod) => ({ method, lazy: true, deterministic: false });
const eager = (method: EagerMethod, deterministic = false) => ({ method, lazy: false, deterministic });

/** Evaluates a sub-expression; literals are returned without a trip through the engine. */
function sub(engine: Engine, logic: unknown, data: unknown, above: Above): unknown {
  return typeof logic === 'object' && logic !== null ? (engine.run(logic, data, { above }) as unknown) : logic;
}

/**
 * `if` with any number of branches, without the engine's per-call copy of
 * the argument list: scorecards chain many branches and run on every fallback.
 */
function ifMethod(args: unknown, data: unknown, above: Above, engine: Engine): unknown {
  if (!Array.isArray(args)) return sub(engine, args, data, above);
  const n = args.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    if (truthy(sub(engine, args[i], data, above))) return sub(engine, args[i + 1], data, above);
  }
  return i < n ? sub(engine, args[i], data, above) : null;
}

const safeMethods: Record<string, unknown> = {
  if: lazy(ifMethod),
  '?:': lazy(ifMethod),
  var: eager((args, data, above) => varMethod(args, data, above)),
  missing: eager((args, data) => missingMethod(args, data)),
  missing_some: eager((args, data) => missingSomeMethod(args, data)),
  in: eager((args) => inMethod(args), true),
  cat: eager((args) => catMethod(args), true),
  substr: eager((args) => substrMethod(args), true),
  merge: eager((args) => mergeMethod(args), true),
  map: lazy((args, data, above, engine) => {
    const out: unknown[] = [];
    iterate(engine, args, data, above, (r) => {
      out.push(r);
    });
    return out;
  }),
  filter: lazy((args, data, above, engine) => {
    const out: unknown[] = [];
    iterate(engine, args, data, above, (r, item) => {
      if (truthy(r)) out.push(item);
    });
    return out;
  }),
  all: lazy((args, data, above, engine) => {
    let seen = false;
    let ok = true;
    iterate(engine, args, data, above, (r) => {
      seen = true;
      if (!truthy(r)) return (ok = false);
    });
    return seen && ok;
  }),
  some: lazy((args, data, above, engine) => {
    let found = false;
    iterate(engine, args, data, above, (r) => {
      if (truthy(r)) return !(found = true);
    });
    return found;
  }),
  none: lazy((args, data, above, engine) => {
    let found = false;
    iterate(engine, args, data, above, (r) => {
      if (truthy(r)) return !(found = true);
    });
    return !found;
  }),
  reduce: lazy((args, data, above, engine) => {
    if (!Array.isArray(args)) throw new TypeError('expected [array, expression, initial]');
    const [selector, mapper, initial] = args as unknown[];
    const items = selection(engine, selector, data, above);
    const inner: Above = [data, above];
    const cost = sizeOf(mapper);
    let acc = engine.run(initial, data, { above }) as unknown;
    for (const current of items) {
      charge(cost);
      acc = engine.run(mapper, { current, accumulator: acc }, { above: inner }) as unknown;
    }
    return acc;
  }),
};

// The engine's own operators kept as they are: they work on values, never on object properties.
const ENGINE_OPERATORS = [
  '==', '===', '!=', '!==', '>', '>=', '<', '<=', '!', '!!',
  'and', 'or', '??', 'max', 'min', '+', '*', '-', '/', '%', 'preserve',
] as const;

function buildMethods(): Record<string, unknown> {
  const table: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const base = defaultMethods as unknown as Record<string, unknown>;
  for (const op of ENGINE_OPERATORS) table[op] = base[op];
  for (const op of Object.keys(safeMethods)) table[op] = safeMethods[op];
  return table;
}

const METHODS = buildMethods();

function newEngine(l: LogicLimits): Engine {
  const engine = new LogicEngine(METHODS, {
    permissive: false,
    maxDepth: l.maxDepth,
    maxArrayLength: l.maxArrayLength,
    maxStringLength: l.maxStringLength,
  });
  engine.truthy = truthy;
  return engine;
}

function describeThrown(e: unknown): string {
  if (typeof e === 'number' && Number.isNaN(e)) return 'not a number (NaN)';
  if (e instanceof Error) return e.message;
  if (typeof e === 'object' && e !== null) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string') return type.charAt(0).toLowerCase() + type.slice(1);
  }
  return String(e);
}

/**
 * Validates and compiles a JsonLogic expression once; the returned function
 * evaluates it against `data` with the given (or a fresh) meter. Throws
 * {@link RulesError} listing every problem when the expression is invalid.
 */
export function compileLogic(expr: unknown, options?: { limits?: Partial<LogicLimits>; path?: readonly (string | number)[] }): CompiledLogic {
  const l = resolveLimits(options?.limits);
  const issues = validateLogic(expr, options?.path ?? [], l);
  if (issues.length) throw new RulesError(`Invalid JsonLogic: ${formatIssues(issues)}`, { issues });
  const logic = freezeJson(expr);
  if (typeof logic !== 'object' || logic === null) return () => logic;
  const engine = newEngine(l);
  const evaluate: CompiledLogic = (data, meter) => {
    const prevMeter = activeMeter;
    const prevLimits = activeLimits;
    const m = meter ?? { remaining: l.maxSteps, exhausted: false };
    activeMeter = m;
    activeLimits = l;
    try {
      return engine.run(logic, data, TOP) as unknown;
    } catch (e) {
      if (e instanceof LimitExceeded) m.exhausted = true;
      throw new RulesError(`JsonLogic evaluation failed: ${describeThrown(e)}`, { cause: e });
    } finally {
      activeMeter = prevMeter;
      activeLimits = prevLimits;
    }
  };
  // Builds the engine's closures now (at load), not on the first fallback.
  try {
    evaluate(null);
  } catch {
    // An expression may legitimately fail on empty data; only the warm-up is skipped.
  }
  return evaluate;
}

/** Validates, compiles and evaluates an expression in one call (prefer {@link compileLogic} for reuse). */
export function evaluateLogic(expr: unknown, data: unknown, limits?: Partial<LogicLimits>): unknown {
  return compileLogic(expr, { limits })(data);
}
