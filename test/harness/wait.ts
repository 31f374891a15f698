// Bounded polling: every wait in the kernel tests ends, and says what it was waiting for.
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Named in the timeout error. */
  what: string;
}

/**
 * Calls `attempt` until it returns `{ ok: true, value }` or time runs out. `detail` of the last
 * failed attempt goes into the error, so a timeout shows what was observed instead.
 */
export async function waitFor<T>(
  attempt: () => Promise<{ ok: true; value: T } | { ok: false; detail: string }>,
  opts: WaitOptions,
): Promise<T> {
  const deadline = performance.now() + opts.timeoutMs;
  let last = 'no attempt finished';
  for (;;) {
    try {
      const r = await attempt();
      if (r.ok) return r.value;
      last = r.detail;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (performance.now() >= deadline) {
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}; last: ${last}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}
