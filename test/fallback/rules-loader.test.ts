import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { isRulesError, RulesError } from '../../src/errors.js';
import { loadRules } from '../../src/fallback/rules-loader.js';
import { loadRulesFile } from '../../src/fallback/rules-loader.node.js';
import { rules } from '../../src/fallback/rules.js';

const valid = { name: 'loaded', version: '3', rules: [{ id: 'a', when: { var: 'input.go' }, then: { ok: true } }] };

async function rejection(p: Promise<unknown>): Promise<RulesError> {
  const e = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
  expect(isRulesError(e)).toBe(true);
  return e as RulesError;
}

function fakeFetch(body: string, init: ResponseInit = {}) {
  return vi.fn(async (_url: URL, _init?: { signal?: AbortSignal }) => new Response(body, init));
}

describe('loadRules (object, JSON text, URL)', () => {
  it('validates an object and returns a frozen copy', async () => {
    const def = await loadRules(valid);
    expect(def).toEqual(valid);
    expect(def).not.toBe(valid);
    expect(Object.isFrozen(def)).toBe(true);
    expect(rules(def).name).toBe('loaded');
  });

  it('parses JSON text (leading whitespace allowed)', async () => {
    expect((await loadRules(`\n  ${JSON.stringify(valid)}`)).name).toBe('loaded');
  });

  it('fetches a URL object or a URL string', async () => {
    const fetch = fakeFetch(JSON.stringify(valid), { status: 200 });
    expect((await loadRules(new URL('https://rules.example/credit.json'), { fetch })).name).toBe('loaded');
    expect((await loadRules('https://rules.example/other.json', { fetch })).name).toBe('loaded');
    expect(fetch.mock.calls.map((c) => c[0].href)).toEqual(['https://rules.example/credit.json', 'https://rules.example/other.json']);
  });

  it('passes the signal to fetch and rejects with its reason when aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    const fetch = vi.fn((_url: URL, init?: { signal?: AbortSignal }) => {
      expect(init?.signal).toBe(controller.signal);
      return new Promise<Response>((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    });
    const p = loadRules('https://rules.example/x.json', { fetch, signal: controller.signal });
    controller.abort(reason);
    await expect(p).rejects.toBe(reason);
  });

  it('reports HTTP errors, network errors, oversized bodies and bad JSON as RulesError', async () => {
    expect((await rejection(loadRules('https://r.example/a', { fetch: fakeFetch('nope', { status: 404, statusText: 'Not Found' }) }))).message).toBe(
      'Cannot load rules from https://r.example/a: HTTP 404 Not Found',
    );
    const offline = vi.fn(async () => {
      throw new TypeError('fetch failed');
    });
    const net = await rejection(loadRules('https://r.example/b', { fetch: offline }));
    expect(net.message).toBe('Cannot load rules from https://r.example/b: fetch failed');
    expect(net.cause).toBeInstanceOf(TypeError);
    const huge = fakeFetch('{}', { headers: { 'content-length': '1000000' } });
    expect((await rejection(loadRules('https://r.example/c', { fetch: huge, limits: { maxSourceLength: 1000 } }))).message).toBe(
      'Cannot load rules from https://r.example/c: 1000000 bytes is over the 1000 characters limit',
    );
    expect((await rejection(loadRules('https://r.example/d', { fetch: fakeFetch('<html>') }))).message).toMatch(
      /^Invalid rule set: not valid JSON: /,
    );
  });

  it('reports a bad rule set from a URL with every problem', async () => {
    const bad = { name: 'bad', rules: [{ id: 'a', when: { gte: [1, 2] }, then: 1 }, { id: 'a', when: true }] };
    const e = await rejection(loadRules('https://r.example/bad.json', { fetch: fakeFetch(JSON.stringify(bad)) }));
    expect(e.issues.map((i) => i.message)).toEqual(['unknown operator "gte"', 'duplicate id "a" (also rules[0])', 'required']);
  });

  it('rejects a string that is neither JSON nor a URL (outside a browser page)', async () => {
    expect((await rejection(loadRules('rules.json'))).message).toBe(
      'Cannot load rules: the string is neither JSON (it must start with "{") nor a URL',
    );
  });

  it('checks constant answers against an output schema', async () => {
    const e = await rejection(loadRules({ name: 'o', rules: [{ id: 'a', when: true, then: { ok: 'yes' } }] }, { output: z.object({ ok: z.boolean() }) }));
    expect(e.message).toBe('Invalid rule set "o": rules[0].then.ok: expected boolean, received string');
  });
});

describe('loadRulesFile (Node)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gi-rules-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads and validates a JSON file (path or file URL)', async () => {
    const path = join(dir, 'ok.json');
    await writeFile(path, JSON.stringify(valid));
    expect((await loadRulesFile(path)).name).toBe('loaded');
    expect((await loadRulesFile(new URL(`file://${path}`))).version).toBe('3');
  });

  it('names the file in every error', async () => {
    const missing = await rejection(loadRulesFile(join(dir, 'missing.json')));
    expect(missing.message).toMatch(/^Cannot read rules file .*missing\.json: ENOENT/);

    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{"name": "x", rules: []}');
    expect((await rejection(loadRulesFile(broken))).message).toMatch(/broken\.json: Invalid rule set: not valid JSON: /);

    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ name: 'b', rules: [{ id: 'a', when: { '==': [1] }, then: 1 }] }));
    const e = await rejection(loadRulesFile(bad));
    expect(e.message).toBe(`${bad}: Invalid rule set "b": rules[0].when.==: "==" expects 2 arguments, got 1`);
    expect(e.issues).toEqual([{ path: ['rules', 0, 'when', '=='], message: '"==" expects 2 arguments, got 1' }]);
    expect(e.ruleSet).toBe('b');
  });

  it('refuses files over the size limit before reading them', async () => {
    const path = join(dir, 'big.json');
    await writeFile(path, JSON.stringify({ ...valid, description: 'x'.repeat(10_000) }));
    expect((await rejection(loadRulesFile(path, { limits: { maxSourceLength: 1000 } }))).message).toMatch(/over the 1000 characters limit$/);
    expect((await rejection(loadRulesFile(path, { limits: { maxSourceLength: 5000 } }))).message).toMatch(/JSON text longer than 5000 characters$/);
  });
});
