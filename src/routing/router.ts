/**
 * The router: decides `{ version, route }` for each call.
 *
 * Precedence, first match wins:
 * 1. `override`: the call's `version` option;
 * 2. `targeting`: the first rule whose JsonLogic condition over
 *    `{ input, context }` is truthy;
 * 3. `canary`: the canary's current share of traffic (sticky by the
 *    bucketing key, with its own hash salt so canary membership does not
 *    follow the split's buckets, and growing the share keeps earlier users in);
 * 4. `flag`: an OpenFeature flag naming the version; a flag error or an
 *    unknown version falls back to 5-6 and is reported as `flag-error`;
 * 5. `split`: flagd-compatible fractional bucketing (random without a key);
 * 6. `default`: the default version.
 *
 * Without a flag the decision is synchronous and, with a string key or none,
 * allocates nothing: decisions are interned per version and route.
 */
import { GracefulInferenceError } from '../errors.js';
import { isTruthy } from '../fallback/json-logic.js';
import { loadLogic, loadedLogic, type LogicModule } from '../fallback/logic-loader.js';
import type { InferenceContext, Route } from '../types.js';
import { Canary, type CanaryListener, type CanaryObservation, type CanaryStatus } from './canary.js';
import type { FailureReason } from '../errors.js';
import { bucketValue, fractionalSplit, hashKey, type FractionalSplit } from './fractional.js';
import type { BucketingKey, FlagDetailsLike, FlagRouting, OpenFeatureClientLike, RoutingOptions, SplitOption } from './routing-options.js';
import { ShadowRunner, type PrimaryAnswer, type ShadowCounts, type ShadowMismatchEvent, type ShadowResult, type ShadowTracer } from './shadow.js';

/** The version of a call and how it was chosen. */
export interface RouteDecision {
  readonly version: string;
  readonly route: Route;
  /** For route `flag`: the evaluation, as OpenTelemetry's `feature_flag.*` attributes need it. */
  readonly flag?: FlagEvaluation;
}

/** A flag evaluation that chose the version. */
export interface FlagEvaluation {
  readonly key: string;
  readonly variant: string | undefined;
  readonly reason: string;
  readonly provider?: string;
}

/** Payload of `flag-error`. */
export interface FlagErrorEvent {
  readonly flagKey: string;
  /** `error`: the provider failed or answered with an error code; `unknown-version`: the value names no version. */
  readonly cause: 'error' | 'unknown-version';
  /** The OpenFeature error code, when the provider gave one. */
  readonly errorCode?: string;
  /** The thrown error or the provider's error message. */
  readonly error?: unknown;
  /** The flag's value, for `unknown-version`. */
  readonly value?: string;
  /** The version the static routing chose instead. */
  readonly version: string;
  readonly route: Route;
}

/** What the router needs from its inference. */
export interface RouterHost<I = unknown, O = unknown> {
  /** The inference's name: the default flag key. */
  readonly name: string;
  /** `true` when `version` can serve calls now. */
  hasVersion(version: string): boolean;
  /** The version names, for error messages. */
  versionNames(): readonly string[];
  /** Receives `flag-error`. */
  onFlagError?(event: FlagErrorEvent): void;
  /** Receives the canary's events (after the router has acted on them). */
  onCanaryEvent?: CanaryListener;
  /** Runs a shadow call of `version` (under the deadline, without fallbacks). Without it, shadowing is off. */
  runShadow?(version: string, input: I, context: InferenceContext | undefined): Promise<O>;
  /** Receives `shadow-mismatch`. */
  onShadowMismatch?(event: ShadowMismatchEvent<I, O>): void;
  /** Hears how each sampled shadow call ended (metrics). */
  onShadowResult?(version: string, result: ShadowResult): void;
  /** A canary starts (to report its initial weight). */
  onCanaryStart?(canary: Canary): void;
  /** Random source for picks without a key and for sampling. Default `Math.random`. */
  random?(): number;
  /** Clock for the canary. Default `performance.now`. */
  now?(): number;
}

/** Calls routed by each route since creation. */
export type RouteCounts = Record<Route, number>;

/** Routing state, as reported by `status()`. */
export interface RoutingStatus {
  /** The default version (the canary's version once it is promoted). */
  readonly defaultVersion: string;
  /** The flag key hashed with the bucketing keys. */
  readonly flagKey: string;
  /** The split in force, by version (empty without a split). */
  readonly split: Readonly<Record<string, number>>;
  /** Calls per route since creation. */
  readonly routes: Readonly<RouteCounts>;
  /** The canary, when one was configured. */
  readonly canary?: CanaryStatus;
  /** The shadow challenger now (undefined when off). */
  readonly shadowVersion?: string;
  /** Shadow counters by challenger version. */
  readonly shadow: Readonly<Record<string, ShadowCounts>>;
}

interface CompiledRule {
  readonly test: (data: unknown) => unknown;
  readonly version: string;
}

/**
 * The targeting rules of a plan. Compiled once the JsonLogic engine is in;
 * its load starts when the routing is set. A call routed before it arrived
 * waits for it; if it cannot be loaded, no targeting rule matches (as for a
 * rule whose evaluation fails) and `ready()` reports the error.
 */
class Targeting {
  compiled: readonly CompiledRule[] | undefined;
  /** Settles (never rejects) when the first load is over, whatever its outcome. */
  settled: Promise<void> | undefined;
  /** Set when a load failed: calls then route as if no targeting rule matched. */
  failed = false;
  private loading: Promise<void> | undefined;

  constructor(readonly rules: readonly { readonly when: unknown; readonly version: string }[]) {
    const m = rules.length === 0 ? undefined : loadedLogic();
    if (rules.length === 0) this.compiled = [];
    else if (m) this.compile(m);
    else this.start();
  }

  private compile(m: LogicModule): void {
    this.compiled ??= this.rules.map((rule) => ({ test: m.compileLogic(rule.when), version: rule.version }));
  }

  private start(): Promise<void> {
    const loading = loadLogic().then((m) => this.compile(m));
    this.loading = loading;
    const settled = loading.catch(() => {
      this.failed = true;
    });
    this.settled ??= settled;
    return loading;
  }

  /** Resolves once compiled; retries a failed load. */
  ready(): Promise<void> {
    if (this.compiled) return Promise.resolve();
    const m = loadedLogic();
    if (m) {
      this.compile(m);
      return Promise.resolve();
    }
    return this.loading !== undefined && !this.failed ? this.loading : this.start();
  }
}

/** A compiled routing: replaced as a whole by `setRouting`, so a swap is atomic. */
interface Plan {
  readonly routing: RoutingOptions<unknown, unknown> | undefined;
  readonly flagKey: string;
  readonly key: BucketingKey<unknown>;
  readonly split: FractionalSplit | undefined;
  readonly targeting: Targeting;
  readonly flag: FlagRouting | undefined;
  readonly canary: Canary | undefined;
  readonly canaryPrefix: string;
}

const defaultKey: BucketingKey<unknown> = (_input, context) => {
  const k = context?.targetingKey;
  return typeof k === 'string' ? k : typeof k === 'number' ? String(k) : undefined;
};

function splitEntries(split: SplitOption): [string, number][] {
  return Array.isArray(split) ? split.map(([v, w]) => [v, w]) : Object.entries(split as Record<string, number>);
}

function isThenable<T>(v: unknown): v is PromiseLike<T> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** Clients of the web SDK evaluate against a global context and take no context argument. */
function isWebClient(client: OpenFeatureClientLike): boolean {
  const m = client.metadata;
  return m?.paradigm === 'client' || m?.sdk === 'js-web';
}

/**
 * Decides the version of each call from a `routing` option. Owns the canary
 * state (so a promotion changes the default) and swaps routings atomically.
 */
export class Router<I = unknown, O = unknown> {
  private plan!: Plan;
  private default_: string;
  private readonly shadow: ShadowRunner<I, O>;
  private readonly decisions = new Map<string, Partial<Record<Route, RouteDecision>>>();
  private readonly routes: RouteCounts = { default: 0, split: 0, targeting: 0, override: 0, flag: 0, canary: 0 };
  private readonly random: () => number;

  /**
   * @param baseDefault - the inference's own default version, used when the routing sets none
   */
  constructor(
    private readonly host: RouterHost<I, O>,
    private readonly baseDefault: string,
    routing?: RoutingOptions<I, O>,
  ) {
    this.default_ = baseDefault;
    this.random = host.random ?? Math.random;
    const runShadow = host.runShadow;
    this.shadow = new ShadowRunner<I, O>({
      run: runShadow ? (v, input, context) => runShadow(v, input, context) : () => Promise.reject(new Error('shadowing is not available')),
      ...(host.onShadowMismatch ? { onMismatch: (e: ShadowMismatchEvent<I, O>) => host.onShadowMismatch!(e) } : {}),
      ...(host.onShadowResult ? { onResult: (v: string, r: ShadowResult) => host.onShadowResult!(v, r) } : {}),
      random: () => this.random(),
    });
    this.setRouting(routing);
  }

  /** The default version: the routing's `defaultVersion`, else the inference's (the canary's once promoted). */
  get defaultVersion(): string {
    return this.default_;
  }

  /** The routing in force, as given (`undefined` when there is none). */
  get routing(): RoutingOptions<I, O> | undefined {
    return this.plan.routing as RoutingOptions<I, O> | undefined;
  }

  /** The canary, when the routing has one. */
  get canary(): Canary | undefined {
    return this.plan.canary;
  }

  /**
   * Replaces the routing at once: calls routed from now on use the new one.
   * Validate it first (`validateRouting`). A canary keeps its state when the
   * new routing carries the very same `canary` object; otherwise it starts over.
   */
  setRouting(routing: RoutingOptions<I, O> | undefined): void {
    const previous = this.plan as Plan | undefined;
    const r = routing as RoutingOptions<unknown, unknown> | undefined;
    const flagKey = r?.flagKey ?? this.host.name;
    const defaultVersion = r?.defaultVersion ?? this.baseDefault;
    // Everything that can throw comes first, so a failed swap changes nothing.
    const split = r?.split === undefined ? undefined : fractionalSplit(splitEntries(r.split));
    const targeting = new Targeting(r?.targeting ?? []);
    let canary: Canary | undefined;
    if (r?.canary !== undefined) {
      canary =
        previous?.canary !== undefined && previous.routing?.canary === r.canary
          ? previous.canary
          : this.createCanary(r.canary, defaultVersion);
    }
    this.default_ = defaultVersion;
    this.plan = {
      routing: r,
      flagKey,
      key: r?.key ?? defaultKey,
      split,
      targeting,
      flag: r?.flag,
      canary,
      canaryPrefix: canary === undefined ? '' : `${flagKey}/canary/${canary.version}`,
    };
    this.shadow.configure(this.host.runShadow ? (routing?.shadow ?? undefined) : undefined);
    if (canary !== undefined && canary !== previous?.canary) this.host.onCanaryStart?.(canary);
  }

  private createCanary(options: NonNullable<RoutingOptions['canary']>, defaultBaseline: string): Canary {
    const now = this.host.now;
    const canary: Canary = new Canary(options, {
      defaultBaseline,
      ...(now ? { now: () => now() } : {}),
      onEvent: (event, payload) => {
        // A canary replaced by setRouting may still finish its last window; only the current one acts.
        if (event === 'canary-promoted' && this.plan.canary === canary) this.promoted(canary);
        this.host.onCanaryEvent?.(event, payload);
      },
    });
    return canary;
  }

  /**
   * The canary becomes the default; the split (which would keep sending
   * traffic elsewhere) is dropped. The routing in force says so, so reading
   * `routing` and passing it to `setRouting` later keeps the promotion.
   */
  private promoted(canary: Canary): void {
    this.default_ = canary.version;
    const routing: Record<string, unknown> = { ...this.plan.routing, defaultVersion: canary.version };
    delete routing.split;
    this.plan = { ...this.plan, routing: routing as RoutingOptions<unknown, unknown>, split: undefined };
  }

  /**
   * Stops routing to `version`: removes it from the split, the targeting
   * rules and the shadow, and aborts a canary that involves it. The default
   * version cannot be retired (change it first).
   */
  withoutVersion(version: string): RoutingOptions<I, O> | undefined {
    const r = this.plan.routing;
    if (r === undefined) return undefined;
    const next: Record<string, unknown> = { ...r };
    if (r.split !== undefined) {
      const entries = splitEntries(r.split).filter(([v]) => v !== version);
      if (entries.length === 0 || entries.every(([, w]) => w === 0)) delete next.split;
      else next.split = entries;
    }
    if (r.targeting !== undefined) next.targeting = r.targeting.filter((t) => t.version !== version);
    if (r.shadow?.version === version) delete next.shadow;
    if (r.canary !== undefined && (this.plan.canary?.version === version || this.plan.canary?.baseline === version)) {
      this.plan.canary?.abort();
      delete next.canary;
    }
    return next as RoutingOptions<I, O>;
  }

  /** `true` when finished calls must be reported (`settled` / `failed`): a canary in progress or shadowing on. */
  get watching(): boolean {
    const c = this.plan.canary;
    return (c !== undefined && c.active) || this.shadow.version !== undefined;
  }

  /** Records a finished call for the canary analysis. */
  observe(o: CanaryObservation): void {
    this.plan.canary?.observe(o);
  }

  /**
   * After a call answered: feeds the canary and offers the answer to the
   * shadow runner. Costs two field reads when neither is configured.
   */
  settled(
    input: I,
    context: InferenceContext | undefined,
    outcome: PrimaryAnswer<O> & { readonly reason?: FailureReason; readonly latencyMs: number },
    tracer?: ShadowTracer,
  ): void {
    const canary = this.plan.canary;
    if (canary !== undefined && canary.active) {
      canary.observe({ version: outcome.version, source: outcome.source, reason: outcome.reason, latencyMs: outcome.latencyMs });
    }
    if (this.shadow.version !== undefined) this.shadow.offer(input, context, outcome, tracer);
  }

  /** After a call failed with no answer: feeds the canary. */
  failed(version: string, reason: FailureReason, latencyMs: number): void {
    const canary = this.plan.canary;
    if (canary !== undefined && canary.active) canary.observe({ version, source: 'failed', reason, latencyMs });
  }

  /**
   * Resolves once the routing can decide without waiting (the JsonLogic
   * engine of its targeting loaded); rejects with a RulesError when the
   * engine cannot be loaded (a later call tries again).
   */
  ready(): Promise<void> {
    return this.plan.targeting.ready();
  }

  /** Resolves when no shadow call is in flight. */
  drainShadow(): Promise<void> {
    return this.shadow.drain();
  }

  /** Stops shadowing and waits for shadow calls in flight. */
  close(): Promise<void> {
    return this.shadow.close();
  }

  /** The decision for `version` by `route` (interned). */
  decide(version: string, route: Route): RouteDecision {
    return this.decision(version, route);
  }

  /** Versions the routing can send calls to now (besides overrides and the flag). */
  versionsInUse(): Set<string> {
    const p = this.plan;
    const used = new Set<string>([this.default_]);
    if (p.split) p.split.variants.forEach((v, i) => p.split!.weights[i]! > 0 && used.add(v));
    for (const t of p.targeting.rules) used.add(t.version);
    if (p.canary?.active) used.add(p.canary.version).add(p.canary.baseline);
    if (p.routing?.shadow) used.add(p.routing.shadow.version);
    return used;
  }

  private decision(version: string, route: Route): RouteDecision {
    let byRoute = this.decisions.get(version);
    if (byRoute === undefined) {
      byRoute = {};
      this.decisions.set(version, byRoute);
    }
    let d = byRoute[route];
    if (d === undefined) {
      d = Object.freeze({ version, route });
      byRoute[route] = d;
    }
    this.routes[route]++;
    return d;
  }

  private unknownVersion(version: string): GracefulInferenceError {
    return new GracefulInferenceError(
      'ERR_UNKNOWN_VERSION',
      `Unknown version "${version}" for inference "${this.host.name}" (versions: ${this.host.versionNames().join(', ')})`,
    );
  }

  /**
   * The version of one call. Synchronous unless a flag is configured (and
   * its client is asynchronous).
   *
   * @throws GracefulInferenceError `ERR_UNKNOWN_VERSION` for an unknown override
   */
  route(input: I, context: InferenceContext | undefined, override?: string): RouteDecision | Promise<RouteDecision> {
    if (override !== undefined) {
      if (!this.host.hasVersion(override)) throw this.unknownVersion(override);
      return this.decision(override, 'override');
    }
    const p = this.plan;
    const targeting = p.targeting.compiled;
    if (targeting === undefined && !p.targeting.failed) {
      // The engine is still loading: wait for it (or its failure), then route with the plan in force then.
      return p.targeting.settled!.then(() => this.route(input, context, override));
    }
    if (targeting !== undefined && targeting.length > 0) {
      const data = { input, context };
      for (const rule of targeting) {
        if (this.matches(rule, data) && this.host.hasVersion(rule.version)) return this.decision(rule.version, 'targeting');
      }
    }
    const needsKey = p.split !== undefined || p.canary !== undefined || p.flag !== undefined;
    const key = needsKey ? p.key(input, context) : undefined;
    const canary = p.canary;
    if (canary !== undefined && canary.active && canary.weight > 0 && this.inCanary(p, canary, key)) {
      return this.decision(canary.version, 'canary');
    }
    if (p.flag !== undefined) return this.fromFlag(p, p.flag, key, context);
    return this.staticRoute(p, key);
  }

  /** A rule whose evaluation fails (e.g. a comparison with a non-numeric string) does not match. */
  private matches(rule: CompiledRule, data: unknown): boolean {
    try {
      return isTruthy(rule.test(data));
    } catch {
      return false;
    }
  }

  private inCanary(p: Plan, canary: Canary, key: string | undefined): boolean {
    const weight = canary.weight;
    if (weight >= 100) return true;
    // Basis points, so fractional percentages work and a user in at 5 % stays in at 25 %.
    if (key === undefined || key === '') return this.random() * 100 < weight;
    return bucketValue(hashKey(p.canaryPrefix, key), 10_000) < weight * 100;
  }

  private staticRoute(p: Plan, key: string | undefined): RouteDecision {
    const split = p.split;
    if (split !== undefined) {
      const v = key === undefined || key === '' ? split.pickRandom(this.random) : split.pick(p.flagKey, key);
      if (v !== undefined && this.host.hasVersion(v)) return this.decision(v, 'split');
    }
    return this.decision(this.default_, 'default');
  }

  private fromFlag(p: Plan, flag: FlagRouting, key: string | undefined, context: InferenceContext | undefined): RouteDecision | Promise<RouteDecision> {
    const onError = (event: Omit<FlagErrorEvent, 'version' | 'route' | 'flagKey'>): RouteDecision => {
      const d = this.staticRoute(p, key);
      this.host.onFlagError?.({ flagKey: flag.key, ...event, version: d.version, route: d.route });
      return d;
    };
    const onDetails = (details: FlagDetailsLike): RouteDecision => {
      if (details.errorCode !== undefined || details.reason === 'ERROR') {
        return onError({
          cause: 'error',
          ...(details.errorCode !== undefined ? { errorCode: details.errorCode } : {}),
          ...(details.errorMessage !== undefined ? { error: details.errorMessage } : {}),
        });
      }
      const v = details.value;
      if (typeof v !== 'string' || !this.host.hasVersion(v)) return onError({ cause: 'unknown-version', value: String(v) });
      this.routes.flag++;
      const provider = flag.client.metadata?.providerMetadata?.name;
      // Not interned: the evaluation travels with the decision to telemetry (the flag path is not the hot path).
      return {
        version: v,
        route: 'flag',
        flag: { key: flag.key, variant: details.variant, reason: details.reason ?? 'UNKNOWN', ...(provider !== undefined ? { provider } : {}) },
      };
    };
    let answer: FlagDetailsLike | PromiseLike<FlagDetailsLike>;
    try {
      answer = this.evaluate(flag, key, context);
    } catch (error) {
      return onError({ cause: 'error', error });
    }
    if (isThenable<FlagDetailsLike>(answer)) {
      return Promise.resolve(answer).then(onDetails, (error: unknown) => onError({ cause: 'error', error }));
    }
    return onDetails(answer);
  }

  private evaluate(flag: FlagRouting, key: string | undefined, context: InferenceContext | undefined): FlagDetailsLike | PromiseLike<FlagDetailsLike> {
    const client = flag.client;
    // '' is never a version name, so a provider answering the default is seen as "no version".
    type Call = (k: string, d: string, c?: unknown) => unknown;
    const web = isWebClient(client);
    let evalContext: Record<string, unknown> | undefined;
    if (!web) {
      evalContext = { ...context };
      if (key !== undefined && key !== '') evalContext.targetingKey = key;
    }
    if (typeof client.getStringDetails === 'function') {
      const call = client.getStringDetails.bind(client) as Call;
      return (web ? call(flag.key, '') : call(flag.key, '', evalContext)) as FlagDetailsLike | PromiseLike<FlagDetailsLike>;
    }
    const call = client.getStringValue!.bind(client) as Call;
    const value = web ? call(flag.key, '') : call(flag.key, '', evalContext);
    return isThenable<string>(value) ? Promise.resolve(value).then((v) => ({ value: v })) : { value: value as string };
  }

  /** Routing figures and the canary's state. */
  status(): RoutingStatus {
    const p = this.plan;
    const split: Record<string, number> = {};
    if (p.split) p.split.variants.forEach((v, i) => (split[v] = p.split!.weights[i]!));
    return {
      defaultVersion: this.default_,
      flagKey: p.flagKey,
      split,
      routes: { ...this.routes },
      ...(p.canary ? { canary: p.canary.status() } : {}),
      ...(this.shadow.version !== undefined ? { shadowVersion: this.shadow.version } : {}),
      shadow: this.shadow.stats(),
    };
  }
}
