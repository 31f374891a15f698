// Retry timing modelled on client-go's reflector: NewExponentialBackoffManager(800ms, 30s, 2m,
// factor 2, jitter 1.0) for errors, and a watch timeoutSeconds drawn from [5, 10) minutes.
import { type Clock, realClock } from '../../util/clock.ts';

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** Each wait is base × (1 + jitter × random()). */
  jitter?: number;
  /** A backoff requested longer than this after the previous one starts again from initialMs. */
  resetAfterMs?: number;
  random?: () => number;
  clock?: Pick<Clock, 'now'>;
}

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly jitter: number;
  readonly resetAfterMs: number;
  readonly #random: () => number;
  readonly #clock: Pick<Clock, 'now'>;
  #base: number;
  #lastStart: number | undefined;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 800;
    this.maxMs = opts.maxMs ?? 30_000;
    this.factor = opts.factor ?? 2;
    this.jitter = opts.jitter ?? 1;
    this.resetAfterMs = opts.resetAfterMs ?? 120_000;
    this.#random = opts.random ?? Math.random;
    this.#clock = opts.clock ?? realClock;
    this.#base = this.initialMs;
  }

  /**
   * The next wait in ms. The base doubles from initialMs up to maxMs; after resetAfterMs without
   * a backoff (the connection was healthy that long) it starts again from initialMs. As in
   * client-go the jitter is added on top of the base, so waits at the cap are in [max, 2·max).
   */
  next(): number {
    const now = this.#clock.now();
    if (this.#lastStart !== undefined && now - this.#lastStart > this.resetAfterMs)
      this.#base = this.initialMs;
    this.#lastStart = now;
    const base = this.#base;
    this.#base = Math.min(this.maxMs, base * this.factor);
    return base * (1 + this.jitter * this.#random());
  }

  /** Forgets the history: the next wait is initialMs again. */
  reset(): void {
    this.#base = this.initialMs;
    this.#lastStart = undefined;
  }
}

/** client-go's minWatchTimeout is 5 min; each watch asks for a timeout in [min, 2·min). */
export const MIN_WATCH_TIMEOUT_S = 300;

export function watchTimeoutSeconds(
  random: () => number = Math.random,
  minSeconds = MIN_WATCH_TIMEOUT_S,
): number {
  return Math.floor(minSeconds + random() * minSeconds);
}
