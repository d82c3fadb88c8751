import { beforeAll } from 'vitest';
import { loadLogic } from '../../src/fallback/logic-loader.js';

/**
 * A rule set answers synchronously once the JsonLogic engine has loaded (it
 * loads on demand); this returns that answer, or fails the test when a
 * promise came back instead.
 */
export function sync<T>(answer: T | Promise<T>): T {
  if (answer instanceof Promise) throw new Error('expected a synchronous answer: the JsonLogic engine should have loaded');
  return answer;
}

// Files using sync() evaluate rules right after building them: the engine must be in.
beforeAll(async () => {
  await loadLogic();
});
