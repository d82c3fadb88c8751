/**
 * Safe JsonLogic for rule sets and routing targeting.
 *
 * Evaluation uses json-logic-engine's interpreted `LogicEngine` (closures
 * built once per expression, never `eval` or `new Function`, so it runs under
 * a strict Content-Security-Policy) with a curated operator table:
 * - data access (`var`, `missing`, `missing_some`) and the operators that
 *   walk or build data (`in`, `cat`, `substr`, `merge`, `map`, `filter`,
 *   `reduce`, `all`, `some`, `none`) are reimplemented here so that objects
 *   are read through own-property checks, `__proto__` / `constructor` /
 *   `prototype` are never followed, and produced strings and arrays are
 *   bounded; `if` is reimplemented too, because the engine copies its
 *   argument list on every call and scorecards chain many branches;
 * - the remaining operators (comparisons, arithmetic, `and`, `or`, `!`...)
 *   are the engine's own, which never touch object properties.
 *
 * Expressions are validated before they are compiled (unknown operators,
 * arity, JSON-compatibility, depth and node-count limits), and every
 * evaluation has a step budget, so a hostile expression cannot hang or crash
 * the host.
 */
import { LogicEngine, defaultMethods, splitPathMemoized } from 'json-logic-engine';
import { RulesError, formatIssues, type Issue } from '../errors.js';

/**
 * A JSON value, as rule sets and JsonLogic expressions are written. Object
 * fields may be typed `undefined` so that TypeScript's types of imported
 * `.json` files fit (absent fields, never present at run time).
 */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue | undefined };

/** Bounds checked at load (depth, nodes, literal sizes) and at run time (steps, produced sizes). */
export interface LogicLimits {
  /** Deepest nesting of arrays and objects in one expression. */
  readonly maxDepth: number;
  /** Most values (operators, arguments, literals) in one expression. */
  readonly maxNodes: number;
  /** Longest string, literal or produced by `cat` / `substr`. */
  readonly maxStringLength: number;
  /** Longest array, literal, produced by `merge`, or iterated by `map` and friends. */
  readonly maxArrayLength: number;
  /** Work units one evaluation may spend in iterators, `cat` and `merge` before it is stopped. */
  readonly maxSteps: number;
}

/** Default {@link LogicLimits}: generous for hand-written rules, small enough to stay in the millisecond range. */
export const DEFAULT_LOGIC_LIMITS: Readonly<LogicLimits> = Object.freeze({
  maxDepth: 32,
  maxNodes: 5_000,
  maxStringLength: 10_000,
  maxArrayLength: 10_000,
  maxSteps: 200_000,
});

/** Keys never followed or accepted, wherever they appear. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** True for the keys that could reach an object's prototype. */
export function isForbiddenKey(key: string): boolean {
  return FORBIDDEN_KEYS.has(key);
}

interface Arity {
  readonly min: number;
  readonly max: number;
}

/** Every operator accepted, with the argument counts checked at load. */
const ARITY: Readonly<Record<string, Arity>> = Object.freeze({
  var: { min: 0, max: 2 },
  missing: { min: 0, max: Infinity },
  missing_some: { min: 2, max: 2 },
  if: { min: 1, max: Infinity },
  '?:': { min: 3, max: 3 },
  '==': { min: 2, max: 2 },
  '===': { min: 2, max: 2 },
  '!=': { min: 2, max: 2 },
  '!==': { min: 2, max: 2 },
  '>': { min: 2, max: 2 },
  '>=': { min: 2, max: 2 },
  '<': { min: 2, max: 3 },
  '<=': { min: 2, max: 3 },
  '!': { min: 1, max: 1 },
  '!!': { min: 1, max: 1 },
  and: { min: 1, max: Infinity },
  or: { min: 1, max: Infinity },
  '??': { min: 1, max: Infinity },
  max: { min: 1, max: Infinity },
  min: { min: 1, max: Infinity },
  '+': { min: 0, max: Infinity },
  '*': { min: 1, max: Infinity },
  '-': { min: 1, max: 2 },
  '/': { min: 2, max: 2 },
  '%': { min: 2, max: 2 },
  in: { min: 2, max: 2 },
  cat: { min: 0, max: Infinity },
  substr: { min: 2, max: 3 },
  merge: { min: 0, max: Infinity },
  map: { min: 2, max: 2 },
  filter: { min: 2, max: 2 },
  reduce: { min: 2, max: 3 },
  all: { min: 2, max: 2 },
  some: { min: 2, max: 2 },
  none: { min: 2, max: 2 },
  preserve: { min: 1, max: 1 },
});

/** Names of the supported JsonLogic operators. */
export const LOGIC_OPERATORS: readonly string[] = Object.freeze(Object.keys(ARITY));

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

function isOperator(key: string): boolean {
  return hasOwn(ARITY, key);
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') {
    const ctor = (Object.getPrototypeOf(v) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    return typeof ctor === 'string' && ctor ? ctor : 'object';
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return typeof v;
}

/** What {@link analyzeLogic} found out about an expression. */
export interface LogicAnalysis {
  /** Every problem, with its path. Empty when the expression is valid. */
  readonly issues: Issue[];
  /** Values counted (operators, arguments, literals). */
  readonly nodes: number;
  /** True when the expression uses no operator other than `preserve`, so its value is known at load. */
  readonly constant: boolean;
}

interface WalkState {
  readonly limits: LogicLimits;
  readonly issues: Issue[];
  nodes: number;
  constant: boolean;
  depthReported: boolean;
  nodesReported: boolean;
}

type Path = (string | number)[];

/** Checks that a value is JSON-compatible data (used for literals and `preserve`d values). */
function walkData(value: unknown, path: Path, depth: number, s: WalkState): void {
  if (!countNode(path, depth, s)) return;
  switch (typeof value) {
    case 'string':
      if (value.length > s.limits.maxStringLength) {
        s.issues.push({ path, message: `string longer than ${s.limits.maxStringLength} characters` });
      }
      return;
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) s.issues.push({ path, message: `expected a JSON value, got ${String(value)}` });
      return;
    case 'object':
      if (value === null) return;
      if (Array.isArray(value)) {
        if (value.length > s.limits.maxArrayLength) {
          s.issues.push({ path, message: `array longer than ${s.limits.maxArrayLength} items` });
          return;
        }
        for (let i = 0; i < value.length; i++) walkData(value[i], [...path, i], depth + 1, s);
        return;
      }
      if (!isPlainObject(value)) {
        s.issues.push({ path, message: `expected a JSON value, got ${describe(value)}` });
        return;
      }
      for (const key of Object.keys(value)) {
        if (isForbiddenKey(key)) {
          s.issues.push({ path: [...path, key], message: `key "${key}" is not allowed` });
          continue;
        }
        walkData((value as Record<string, unknown>)[key], [...path, key], depth + 1, s);
        if (s.nodesReported || s.depthReported) return;
      }
      return;
    default:
      s.issues.push({ path, message: `expected a JSON value, got ${describe(value)}` });
  }
}

function countNode(path: Path, depth: number, s: WalkState): boolean {
  if (s.depthReported || s.nodesReported) return false;
  if (depth > s.limits.maxDepth) {
    s.depthReported = true;
    s.issues.push({ path, message: `nested deeper than ${s.limits.maxDepth} levels` });
    return false;
  }
  if (++s.nodes > s.limits.maxNodes) {
    s.nodesReported = true;
    s.issues.push({ path, message: `more than ${s.limits.maxNodes} values in one expression` });
    return false;
  }
  return true;
}

/** Checks a literal `var` / `missing` path for forbidden segments. */
function checkPathLiteral(p: unknown, path: Path, s: WalkState): void {
  if (typeof p !== 'string') return;
  for (const seg of splitPath(p)) {
    if (isForbiddenKey(seg)) {
      s.issues.push({ path, message: `path segment "${seg}" is not allowed` });
      return;
    }
  }
}

function walkLogic(value: unknown, path: Path, depth: number, s: WalkState): void {
  if (typeof value !== 'object' || value === null) {
    walkData(value, path, depth, s);
    return;
  }
  if (Array.isArray(value)) {
    if (!countNode(path, depth, s)) return;
    if (value.length > s.limits.maxArrayLength) {
      s.issues.push({ path, message: `array longer than ${s.limits.maxArrayLength} items` });
      return;
    }
    for (let i = 0; i < value.length; i++) walkLogic(value[i], [...path, i], depth + 1, s);
    return;
  }
  if (!isPlainObject(value)) {
    walkData(value, path, depth, s);
    return;
  }
  if (!countNode(path, depth, s)) return;
  const keys = Object.keys(value);
  if (keys.length !== 1) {
    s.issues.push({
      path,
      message:
        keys.length === 0
          ? 'empty object is not an operation (wrap literal objects in {"preserve": ...})'
          : `an operation has exactly one key, the operator; got ${keys.length} keys (${keys
              .slice(0, 5)
              .map((k) => JSON.stringify(k))
              .join(', ')}${keys.length > 5 ? ', ...' : ''})`,
    });
    return;
  }
  const op = keys[0] as string;
  if (!isOperator(op)) {
    s.issues.push({ path, message: `unknown operator ${JSON.stringify(op)}` });
    return;
  }
  const args = (value as Record<string, unknown>)[op];
  const argPath = [...path, op];
  if (op === 'preserve') {
    walkData(args, argPath, depth + 1, s);
    return;
  }
  s.constant = false;
  // A non-array argument is the unary form: `{"var": "a"}` is `{"var": ["a"]}`.
  const count = Array.isArray(args) ? args.length : 1;
  const arity = ARITY[op] as Arity;
  if (count < arity.min || count > arity.max) {
    s.issues.push({ path: argPath, message: `"${op}" expects ${arityText(arity)}, got ${count}` });
  }
  if (op === 'var') {
    const p = Array.isArray(args) ? (args[0] as unknown) : args;
    checkPathLiteral(p, Array.isArray(args) ? [...argPath, 0] : argPath, s);
  } else if (op === 'missing' && Array.isArray(args)) {
    args.forEach((a, i) => checkPathLiteral(a, [...argPath, i], s));
  } else if (op === 'missing_some' && Array.isArray(args) && Array.isArray(args[1])) {
    (args[1] as unknown[]).forEach((a, i) => checkPathLiteral(a, [...argPath, 1, i], s));
  }
  if (Array.isArray(args)) {
    if (!countNode(argPath, depth + 1, s)) return;
    for (let i = 0; i < args.length; i++) walkLogic(args[i], [...argPath, i], depth + 2, s);
  } else {
    walkLogic(args, argPath, depth + 1, s);
  }
}

function arityText(a: Arity): string {
  const n = (k: number): string => `${k} argument${k === 1 ? '' : 's'}`;
  if (a.min === a.max) return n(a.min);
  if (a.max === Infinity) return `at least ${n(a.min)}`;
  return `${a.min} to ${n(a.max)}`;
}

function resolveLimits(limits: Partial<LogicLimits> | undefined): LogicLimits {
  return limits ? { ...DEFAULT_LOGIC_LIMITS, ...limits } : DEFAULT_LOGIC_LIMITS;
}

/**
 * Validates a JsonLogic expression and reports its size and whether its value
 * is known at load. Never throws.
 */
export function analyzeLogic(expr: unknown, path: readonly (string | number)[] = [], limits?: Partial<LogicLimits>): LogicAnalysis {
  const s: WalkState = {
    limits: resolveLimits(limits),
    issues: [],
    nodes: 0,
    constant: true,
    depthReported: false,
    nodesReported: false,
  };
  walkLogic(expr, [...path], 0, s);
  return { issues: s.issues, nodes: s.nodes, constant: s.constant };
}

/**
 * Validates a JsonLogic expression: unknown operators, argument counts,
 * JSON-compatibility, forbidden keys and path segments, depth and size
 * limits. Returns every problem with its path (prefixed by `path`); an empty
 * array means the expression is valid.
 */
export function validateLogic(expr: unknown, path: readonly (string | number)[] = [], limits?: Partial<LogicLimits>): Issue[] {
  return analyzeLogic(expr, path, limits).issues;
}

/**
 * Validates that a value is JSON-compatible data within the limits, without
 * forbidden keys. Returns every problem with its path.
 */
export function validateJsonValue(value: unknown, path: readonly (string | number)[] = [], limits?: Partial<LogicLimits>): Issue[] {
  const s: WalkState = {
    limits: resolveLimits(limits),
    issues: [],
    nodes: 0,
    constant: true,
    depthReported: false,
    nodesReported: false,
  };
  walkData(value, [...path], 0, s);
  return s.issues;
}

/**
 * Copies a validated JSON value into fresh, deeply frozen objects, so later
 * edits of the caller's object cannot change a compiled expression and
 * evaluation can never write into it.
 */
export function freezeJson<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return Object.freeze(value.map((v: unknown) => freezeJson(v))) as T;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    if (isForbiddenKey(key)) continue;
    out[key] = freezeJson((value as Record<string, unknown>)[key]);
  }
  return Object.freeze(out) as T;
}

/* ------------------------------------------------------------------ */
/* Evaluation                                                           */
/* ------------------------------------------------------------------ */

/**
 * Work budget of one evaluation. Share one meter across several compiled
 * expressions to bound them together (a rule set shares one per call).
 */
export interface LogicMeter {
  /** Work units left. */
  remaining: number;
  /** Set when an evaluation was stopped by a limit. */
  exhausted: boolean;
}

/** Creates a fresh {@link LogicMeter}. */
export function createMeter(limits?: Partial<LogicLimits>): LogicMeter {
  return { remaining: resolveLimits(limits).maxSteps, exhausted: false };
}

/**
 * A compiled expression. Throws only {@link RulesError} (for example when a
 * comparison meets a non-numeric string, or a limit is hit: then
 * `meter.exhausted` is set).
 */
export type CompiledLogic = (data: unknown, meter?: LogicMeter) => unknown;

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

/** json-logic-engine's path syntax (`a.b`, `a\.b` for a literal dot). */
function splitPath(p: string): readonly string[] {
  return splitPathMemoized(p) as string[];
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

/**
 * Truthiness of JsonLogic: empty arrays and empty plain objects are false,
 * everything else as in JavaScript. Unlike the engine's default it never
 * reads `constructor`, so null-prototype objects and hostile inputs are safe.
 */
function truthy(value: unknown): boolean {
  if (!value) return false;
  if (typeof value === 'object') {
    if (Array.isArray(value)) return value.length > 0;
    if (isPlainObject(value)) return Object.keys(value).length > 0;
  }
  return true;
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

/** JsonLogic truthiness, as used by `if`, `and`, `or`, `!` and rule conditions. */
export function isTruthy(value: unknown): boolean {
  return truthy(value);
}
