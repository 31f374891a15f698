// Bounded polling: every wait in the kernel tests ends, and says what it was waiting for.
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Multiplies every wait's timeout: 1 on a normal host; the user-mode-linux guest (test/uml/), one
 * slow CPU where each process spawn costs tens of milliseconds, sets a larger factor.
 */
export const TIME_SCALE = timeScale(process.env.KPTS_TEST_TIME_SCALE);

function timeScale(v: string | undefined): number {
  if (v === undefined || v === '') return 1;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 1) throw new Error(`KPTS_TEST_TIME_SCALE=${v}: expected a number >= 1`);
  return n;
}

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
  const timeoutMs = opts.timeoutMs * TIME_SCALE;
  const deadline = performance.now() + timeoutMs;
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
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what}; last: ${last}`);
    }
    // Scaled too: in the guest each attempt (often a Node.js probe process) costs the proxy CPU time.
    await sleep((opts.intervalMs ?? 100) * TIME_SCALE);
  }
}
