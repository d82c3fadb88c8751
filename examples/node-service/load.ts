/**
 * Sends requests to the example service so the dashboards have something to
 * show: `tsx examples/node-service/load.ts [count] [url]`. Prints who answered.
 */
import { SAMPLE_APPLICANTS } from '../demo/model/features.js';

const count = Number(process.argv[2] ?? 200);
const url = process.argv[3] ?? `http://localhost:${process.env.PORT ?? 3000}`;
const samples = Object.values(SAMPLE_APPLICANTS);
const tally = new Map<string, number>();

for (let i = 0; i < count; i++) {
  const applicant = { ...samples[i % samples.length]!, loanAmount: 2_000 + ((i * 7_919) % 60_000) };
  const res = await fetch(`${url}/score`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(applicant),
  });
  const body = (await res.json()) as { source?: string; reason?: string };
  const key = `${res.status} ${body.source ?? ''}${body.reason ? ` (${body.reason})` : ''}`;
  tally.set(key, (tally.get(key) ?? 0) + 1);
}
for (const [key, n] of [...tally].sort((a, b) => b[1] - a[1])) console.log(`${String(n).padStart(6)}  ${key}`);
