// Runs a sync function no more often than minInterval and at least every maxInterval, coalescing
// bursts of requests (upstream pkg/proxy/runner). At most one run is in flight at a time.
// Clock and realClock are re-exported from util/clock.ts, where they live.

import { type Clock, realClock } from '../util/clock.ts';

export { type Clock, realClock };

export interface RunnerOptions {
  readonly minIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly clock?: Clock;
  /** Called when fn throws; the runner keeps going. */
  readonly onError?: (err: unknown) => void;
}

export class BoundedFrequencyRunner {
  readonly #fn: () => Promise<void>;
  readonly #min: number;
  readonly #max: number;
  readonly #clock: Clock;
  readonly #onError: (err: unknown) => void;
  #lastRun = Number.NEGATIVE_INFINITY;
  #timer: unknown;
  #timerAt = Number.POSITIVE_INFINITY;
  #running: Promise<void> | undefined;
  #pending = false;
  #retryAt: number | undefined;
  #started = false;
  #closed = false;

  constructor(fn: () => Promise<void>, options: RunnerOptions) {
    this.#fn = fn;
    this.#min = options.minIntervalMs;
    this.#max = options.maxIntervalMs;
    this.#clock = options.clock ?? realClock;
    this.#onError = options.onError ?? (() => {});
  }

  /** Starts the periodic schedule; runs requested earlier are honoured now. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    if (this.#pending) this.#schedule(this.#clock.now());
    else this.#schedule(this.#clock.now() + this.#max);
  }

  /** Requests a run as soon as minInterval allows. */
  run(): void {
    if (this.#closed) return;
    this.#pending = true;
    if (!this.#started || this.#running !== undefined) return;
    this.#schedule(Math.max(this.#clock.now(), this.#lastRun + this.#min));
  }

  /** Requests a run after `ms` at the latest (used after a failed sync). */
  retryAfter(ms: number): void {
    if (this.#closed) return;
    const at = this.#clock.now() + ms;
    this.#retryAt = Math.min(this.#retryAt ?? Number.POSITIVE_INFINITY, at);
    if (!this.#started || this.#running !== undefined) return;
    this.#schedule(Math.max(at, this.#lastRun + this.#min));
  }

  /** Stops scheduling and waits for a run in flight. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #schedule(at: number): void {
    // Of two deadlines the earlier wins: a request or retry may pull the periodic run closer.
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(() => this.#fire(), Math.max(0, at - this.#clock.now()));
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    if (this.#closed || this.#running !== undefined) return;
    this.#pending = false;
    this.#retryAt = undefined;
    this.#lastRun = this.#clock.now();
    this.#running = this.#fn()
      .catch((err: unknown) => this.#onError(err))
      .finally(() => {
        this.#running = undefined;
        if (this.#closed) return;
        let next = this.#pending ? this.#lastRun + this.#min : this.#lastRun + this.#max;
        if (this.#retryAt !== undefined)
          next = Math.min(next, Math.max(this.#retryAt, this.#lastRun + this.#min));
        this.#schedule(Math.max(this.#clock.now(), next));
      });
  }
}
