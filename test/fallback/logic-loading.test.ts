/**
 * JsonLogic evaluation (json-logic-engine) is loaded on demand: started when
 * rules or targeting are configured, awaited by ready(), awaited by a call
 * that needs it before it arrived; a failed load is a typed error, never a
 * hang or an unhandled rejection.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isRulesError } from '../../src/errors.js';
import { createInference } from '../../src/inference.js';
import { functionModel } from '../../src/models/function-model.js';
import { setLogicImporterForTests, type LogicModule } from '../../src/fallback/logic-loader.js';
import { rules, rulesModel } from '../../src/fallback/rules.js';
import { Router } from '../../src/routing/router.js';

const realImport = (): Promise<LogicModule> => import('../../src/fallback/json-logic-eval.js');

/** An importer the test releases by hand, counting its calls. */
function gatedImporter(fail = false) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const importer = vi.fn(async () => {
    await gate;
    if (fail) throw new TypeError('Failed to fetch dynamically imported module: /assets/json-logic-eval-x.js');
    return realImport();
  });
  setLogicImporterForTests(importer);
  return { importer, release };
}

const ruleSet = {
  name: 'policy',
  rules: [{ id: 'big', when: { '>': [{ var: 'input' }, 10] }, then: { v: { '*': [{ var: 'input' }, 2] } } }],
  default: { v: 0 },
};

const failing = functionModel<number, { v: number }>(() => {
  throw new Error('model down');
});

afterEach(() => setLogicImporterForTests(undefined));

describe('JsonLogic engine on demand', () => {
  it('starts loading when the rules are built, not when the model fails; a call before it arrived waits for it', async () => {
    const { importer, release } = gatedImporter();
    const handler = rules<number, { v: number }>(ruleSet);
    expect(importer).toHaveBeenCalledTimes(1);
    expect(() => handler.evaluate(20)).toThrow(/still loading/);
    const inference = createInference({ name: 'lazy', versions: { v1: failing }, breaker: false, fallback: handler });
    const call = inference.infer(20);
    release();
    await expect(call).resolves.toMatchObject({ value: { v: 40 }, source: 'fallback', fallbackName: 'policy', ruleId: 'big' });
    expect(importer).toHaveBeenCalledTimes(1);
    // Once in, answers are synchronous.
    expect(handler.explain(3, undefined as never)).toEqual({ value: { v: 0 }, ruleId: 'default' });
    await inference.close();
  });

  it('ready() of the inference waits for the engine', async () => {
    const { release } = gatedImporter();
    const handler = rules<number, { v: number }>(ruleSet);
    const inference = createInference({ name: 'lazy-ready', versions: { v1: failing }, breaker: false, fallback: handler });
    let ready = false;
    const p = inference.ready().then(() => (ready = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(ready).toBe(false);
    release();
    await p;
    expect(handler.evaluate(20)).toEqual({ value: { v: 40 }, ruleId: 'big' });
    await inference.close();
  });

  it('a failed load is a RulesError: the chain passes to the next handler, ready() rejects, no unhandled rejection', async () => {
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const { release } = gatedImporter(true);
      const handler = rules<number, { v: number }>(ruleSet);
      const inference = createInference({ name: 'lazy-fail', versions: { v1: failing }, breaker: false, fallback: [handler, () => ({ v: -1 })] });
      const call = inference.infer(20);
      release();
      const outcome = await call;
      expect(outcome).toMatchObject({ value: { v: -1 }, source: 'fallback', fallbackName: 'fallback[1]' });
      const error = await inference.ready().catch((e: unknown) => e);
      expect(isRulesError(error)).toBe(true);
      expect((error as Error).message).toMatch(/Could not load the JsonLogic engine.*Failed to fetch/);
      // A later ready() tries again.
      setLogicImporterForTests(realImport);
      await handler.ready();
      expect(handler.evaluate(20)).toEqual({ value: { v: 40 }, ruleId: 'big' });
      await inference.close();
      await new Promise((r) => setTimeout(r, 10));
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });

  it('a rules model: load() rejects with a RulesError when the engine cannot be loaded', async () => {
    const { release } = gatedImporter(true);
    const model = rulesModel<number, { v: number }>(ruleSet);
    release();
    const error = await model.load().catch((e: unknown) => e);
    expect(isRulesError(error)).toBe(true);
    await expect(model.run(20, {} as never)).rejects.toSatisfy(isRulesError);
  });

  it('rule set validation stays synchronous and needs no engine', () => {
    const { importer } = gatedImporter();
    expect(() => rules({ name: 'bad', rules: [{ id: 'x', when: { gte: [1, 2] }, then: 1 }] })).toThrow(/unknown operator "gte"/);
    expect(importer).not.toHaveBeenCalled();
  });

  it('targeting: a call routed before the engine arrived waits for it; a failed load routes as if no rule matched', async () => {
    const host = { name: 'r', hasVersion: () => true, versionNames: () => ['v1', 'v2'] };
    const targeting = [{ when: { '==': [{ var: 'input.tier' }, 'vip'] }, version: 'v2' }];
    const ok = gatedImporter();
    const router = new Router<{ tier?: string }>(host as never, 'v1', { targeting });
    expect(ok.importer).toHaveBeenCalledTimes(1);
    const decision = router.route({ tier: 'vip' }, undefined);
    expect(decision).toBeInstanceOf(Promise);
    ok.release();
    await expect(decision).resolves.toEqual({ version: 'v2', route: 'targeting' });
    expect(router.route({ tier: 'vip' }, undefined)).toEqual({ version: 'v2', route: 'targeting' });

    const bad = gatedImporter(true);
    const router2 = new Router<{ tier?: string }>(host as never, 'v1', { targeting });
    const d2 = router2.route({ tier: 'vip' }, undefined);
    bad.release();
    await expect(d2).resolves.toEqual({ version: 'v1', route: 'default' });
    await expect(router2.ready()).rejects.toSatisfy(isRulesError);
  });
});
