/**
 * The `routing` option of `createInference`: how each call picks a model
 * version (split, targeting, feature flag, canary), and shadow traffic.
 * Validated at construction by `routing-schema.ts`.
 */
import type { InferenceContext } from '../types.js';

/**
 * Integer weights by version, e.g. `{ v1: 90, v2: 10 }`. The order of the
 * entries is the order of flagd's variants, so it must match the flag's when
 * agreement with flagd matters; pass `[['v1', 90], ['v2', 10]]` if version
 * names look like integers (JavaScript lists such object keys first, in
 * ascending order, whatever the order they were written in).
 */
export type SplitOption = Readonly<Record<string, number>> | readonly (readonly [string, number])[];

/** Returns the bucketing key of a call; `undefined` or `''` means "no key" (random pick). */
export type BucketingKey<I> = (input: I, context: InferenceContext | undefined) => string | undefined;

/** A targeting rule: when the JsonLogic condition over `{ input, context }` is truthy, use `version`. */
export interface TargetingRule {
  /** JsonLogic condition evaluated over `{ input, context }`. */
  readonly when: unknown;
  /** Version to use when the condition holds. */
  readonly version: string;
}

/** Details of a string flag evaluation, as the OpenFeature SDKs return them. */
export interface FlagDetailsLike {
  readonly value: string;
  readonly variant?: string;
  readonly reason?: string;
  readonly errorCode?: string;
  readonly errorMessage?: string;
}

/**
 * Any OpenFeature client, accepted structurally so neither SDK is a hard
 * dependency: `@openfeature/server-sdk` clients answer with promises and take
 * the evaluation context per call; `@openfeature/web-sdk` clients answer
 * synchronously from the context set with `OpenFeature.setContext`.
 */
export interface OpenFeatureClientLike {
  getStringDetails?(flagKey: string, defaultValue: string, ...rest: never[]): FlagDetailsLike | Promise<FlagDetailsLike>;
  getStringValue?(flagKey: string, defaultValue: string, ...rest: never[]): string | Promise<string>;
  readonly metadata?: { readonly paradigm?: string; readonly sdk?: string; readonly providerMetadata?: { readonly name?: string } };
}

/** The version comes from a feature flag whose string value names a version. */
export interface FlagRouting {
  /** An OpenFeature client (server or web SDK). */
  readonly client: OpenFeatureClientLike;
  /** The flag key. */
  readonly key: string;
}

/**
 * Compares a shadow answer with the primary one; `true` means they agree.
 * Default: {@link defaultCompare} with a tolerance of 1e-6.
 */
export type CompareFunction<I, O> = (primary: O, shadow: O, input: I) => boolean;

/** Shadow traffic: run a challenger on the same input, off the caller's path, and count agreement. */
export interface ShadowOptions<I, O> {
  /** The challenger version. */
  readonly version: string;
  /** Share of calls mirrored, in `[0, 1]`. Default 1. */
  readonly sampleRate?: number;
  /** Agreement test. Default: numbers within 1e-6 (relative or absolute), arrays of numbers by argmax, objects field by field. */
  readonly compare?: CompareFunction<I, O>;
  /** Most shadow calls in flight; more are dropped and counted. Default 4. */
  readonly maxConcurrent?: number;
}

/** Limits a canary step must pass, in the spirit of Argo Rollouts analysis. Rates are fractions in `[0, 1]`. */
export interface CanaryChecks {
  /** Highest share of canary calls where the model failed (any reason but `rejected-output`, or no answer at all). */
  readonly maxErrorRate?: number;
  /** Highest share of canary calls answered by a fallback handler. */
  readonly maxFallbackRate?: number;
  /** Highest p99 latency of the canary's calls, in milliseconds. */
  readonly maxLatencyP99Ms?: number;
  /** Highest ratio of the canary's p99 latency to the baseline's over the same window. */
  readonly maxLatencyRatio?: number;
}

/** A canary: traffic to `version` moves step by step while its figures pass the checks. */
export interface CanaryOptions {
  /** The new version. */
  readonly version: string;
  /** The version it is compared with. Default: the inference's default version. */
  readonly baseline?: string;
  /** Traffic percentages, increasing, each in `(0, 100]`. Default `[5, 25, 50, 100]`. */
  readonly steps?: readonly number[];
  /** Canary calls needed before a step is judged. Default 100. */
  readonly minRequestsPerStep?: number;
  /** Least time spent at a step before it is judged, in milliseconds. Default 60 000. */
  readonly intervalMs?: number;
  /** The checks. Default: none (every step passes once measured). */
  readonly checks?: CanaryChecks;
  /** Failed analyses (over the whole canary) that roll it back. Default 1. */
  readonly failureLimit?: number;
}

/** The `routing` option of `createInference` (and of `setRouting`). */
export interface RoutingOptions<I = unknown, O = unknown> {
  /**
   * Version used when nothing else chooses one. Default: the inference's
   * `defaultVersion`. Lets `setRouting` move everyone to a new version
   * (`setRouting({ defaultVersion: 'v2' })`) so the old one can be retired.
   */
  readonly defaultVersion?: string;
  /** Sticky weighted split between versions, bucketed like flagd's `fractional`. */
  readonly split?: SplitOption;
  /** Bucketing key of a call. Default: `context.targetingKey` when it is a string. */
  readonly key?: BucketingKey<I>;
  /** Flag key hashed with the bucketing key. Default: the inference's `name`. */
  readonly flagKey?: string;
  /** Rules tried in order before everything but an override. */
  readonly targeting?: readonly TargetingRule[];
  /** The version comes from an OpenFeature flag. */
  readonly flag?: FlagRouting;
  /** Shadow traffic to a challenger. */
  readonly shadow?: ShadowOptions<I, O>;
  /** Progressive delivery of a new version with automatic analysis. */
  readonly canary?: CanaryOptions;
}

/** Options of `deploy`. */
export interface DeployOptions<I> {
  /**
   * Inputs run once through the new model (under the inference's timeout and
   * output schema) before it takes traffic; a failure fails the deploy.
   */
  readonly warmup?: readonly I[];
  /** Aborts loading and warming. */
  readonly signal?: AbortSignal;
}
