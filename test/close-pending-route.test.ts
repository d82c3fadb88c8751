import { expect, it } from 'vitest';
import { createInference } from '../src/inference.js';
import { functionModel } from '../src/models/function-model.js';
import { deferred, failOnUnhandledRejections } from './helpers/models.js';

failOnUnhandledRejections();

it('close() waits for a call whose flag decision is still pending', async () => {
  const flag = deferred<string>();
  const model = functionModel(async (x: number) => x * 2);
  let closedModel = false;
  const wrapped = { ...model, close: async () => void (closedModel = true) };
  const inference = createInference<number, number>({
    name: 'pending-route',
    versions: { v1: wrapped, v2: functionModel(async (x: number) => x * 3) },
    routing: { flag: { client: { getStringValue: () => flag.promise }, key: 'model-version' } },
  });
  const call = inference.infer(2, { context: { targetingKey: 'u1' } });
  let closed = false;
  const closing = inference.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 20));
  expect(closed).toBe(false);
  flag.resolve('v2');
  const outcome = await call;
  expect(outcome).toMatchObject({ value: 6, version: 'v2', route: 'flag', source: 'model' });
  await closing;
  expect(closedModel).toBe(true);
});
