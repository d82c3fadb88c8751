/** Wires the form to the scorer. */
import type { CreditApplicant } from '../../demo/model/features.js';
import { createScorer, type Execution, type Mode } from './scorer.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const form = $<HTMLFormElement>('applicant');
const mode = $<HTMLSelectElement>('mode');
const execution = $<HTMLSelectElement>('execution');
const user = $<HTMLInputElement>('user');
const button = $<HTMLButtonElement>('predict');
const status = $<HTMLParagraphElement>('status');
const progress = $<HTMLProgressElement>('progress');
const result = $<HTMLElement>('result');

let scorer = start(mode.value as Mode);

function start(m: Mode) {
  button.disabled = true;
  status.textContent = 'Loading the model...';
  status.dataset.state = 'loading';
  progress.value = 0;
  let events = 0;
  const s = createScorer(
    m,
    ({ loaded, total }) => {
      events++;
      progress.dataset.events = String(events);
      progress.dataset.loaded = String(loaded);
      if (total) progress.value = loaded / total;
    },
    execution.value as Execution,
  );
  s.ready({ signal: AbortSignal.timeout(15_000) }).then(
    () => {
      if (s !== scorer) return;
      status.textContent = 'Model ready: answers come from the model.';
      status.dataset.state = 'ready';
      button.disabled = false;
    },
    (error: unknown) => {
      if (s !== scorer) return;
      status.textContent = `Model failed to load: ${error instanceof Error ? error.message : String(error)}. Answers come from the fallback.`;
      status.dataset.state = 'failed';
      button.disabled = false;
    },
  );
  return s;
}

const restart = (): void => {
  const old = scorer;
  scorer = start(mode.value as Mode);
  void old.close();
};
mode.addEventListener('change', restart);
execution.addEventListener('change', restart);

function applicant(): CreditApplicant {
  const data = new FormData(form);
  const n = (k: keyof CreditApplicant) => Number(data.get(k));
  return {
    annualIncome: n('annualIncome'),
    debtToIncome: n('debtToIncome'),
    age: n('age'),
    monthsEmployed: n('monthsEmployed'),
    latePayments: n('latePayments'),
    creditUtilization: n('creditUtilization'),
    openAccounts: n('openAccounts'),
    loanAmount: n('loanAmount'),
  };
}

const set = (id: string, text: string) => ($(id).textContent = text);

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  button.disabled = true;
  const userId = user.value.trim();
  try {
    const outcome = await scorer.infer(applicant(), { context: { targetingKey: userId } });
    set('decision', outcome.value.decision);
    set('risk', outcome.value.risk.toFixed(3));
    set('source', outcome.source === 'model' ? 'model' : `fallback (${outcome.fallbackName ?? 'unnamed'})`);
    $('source').dataset.source = outcome.source;
    set('version', outcome.version);
    set('route', outcome.route);
    set('routed-user', userId || '(no user id)');
    set('reason', outcome.reason ?? '-');
    set('rule', outcome.ruleId ?? '-');
    set('latency', `${outcome.latencyMs.toFixed(1)} ms`);
    result.hidden = false;
    result.dataset.calls = String(Number(result.dataset.calls ?? 0) + 1);
  } catch (error) {
    status.textContent = `Prediction failed: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    button.disabled = false;
  }
});
