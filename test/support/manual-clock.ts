// The clock of tests: time moves only when the test advances it, and timers fire then (the
// proxier's sync period and stale-chain grace, the drift check, IPVS's graceful-termination
// retries, the reflector's watchdog, backoff and rate limits, token-file rotation).
import type { Clock } from '../../src/util/clock.ts';

/** Timers fire only when the test advances time. */
export class ManualClock implements Clock {
  #now = 0;
  readonly #epoch: number;
  /** `start`: the wall-clock time at now() = 0 (default: the Unix epoch). */
  constructor(start: Date | number = 0) {
    this.#epoch = typeof start === 'number' ? start : start.getTime();
  }
  #timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;
  now(): number {
    return this.#now;
  }
  date(): Date {
    return new Date(this.#epoch + this.#now);
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  get pendingTimers(): number {
    return this.#timers.size;
  }
  /** When the next timer fires, or undefined. */
  get nextAt(): number | undefined {
    let best: number | undefined;
    for (const t of this.#timers.values()) if (best === undefined || t.at < best) best = t.at;
    return best;
  }
  /**
   * Moves time on without firing the timers due meanwhile: for tests that call every sync
   * themselves and only need time to have passed (a grace period, a duration).
   */
  jump(ms: number): void {
    this.#now += ms;
  }
  /** Moves time on, firing due timers in order and letting the syncs they start finish. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      await settle();
      const due = [...this.#timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.#now = Math.max(this.#now, due[1].at);
      due[1].fn();
    }
    this.#now = end;
    await settle();
  }
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}
