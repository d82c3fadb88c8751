import { expect, it } from 'vitest';
import { createInference } from '../../src/inference.js';
import { functionModel } from '../../src/models/function-model.js';
import { failOnUnhandledRejections, sleep } from '../helpers/models.js';

failOnUnhandledRejections();

it('a breaker that closed after a successful probe starts a fresh window (no flapping)', async () => {
  let failing = true;
  const inference = createInference<number, number>({
    name: 'window',
    versions: { v1: functionModel(async (x) => (failing ? Promise.reject(new Error('down')) : x)) },
    breaker: { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeoutMs: 40, rollingWindowMs: 60_000 },
    fallback: () => -1,
  });
  const opened: number[] = [];
  inference.on('breaker-open', () => opened.push(performance.now()));
  for (let i = 0; i < 6; i++) await inference.infer(i);
  expect(opened).toHaveLength(1);
  await sleep(60);
  failing = false;
  expect((await inference.infer(1)).source).toBe('model'); // the probe closes it
  expect(inference.status().versions.v1!.breaker.state).toBe('closed');
  // One failure among healthy calls must not re-open it: the outage is history.
  failing = true;
  expect((await inference.infer(2)).reason).toBe('model-error');
  failing = false;
  for (let i = 0; i < 5; i++) await inference.infer(i);
  expect(inference.status().versions.v1!.breaker.state).toBe('closed');
  expect(opened).toHaveLength(1);
  await inference.close();
});
