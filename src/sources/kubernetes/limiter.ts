// A token bucket for --kube-api-qps / --kube-api-burst, as client-go's flowcontrol limiter: a
// full bucket of `burst` tokens refilled at `qps` per second; every request takes one and waits
// when none is left. Reservations go negative, so waiters are served in order.
import { type Clock, realClock, sleep } from '../../util/clock.ts';

export interface TokenBucketOptions {
  qps: number;
  burst: number;
  clock?: Pick<Clock, 'now'>;
}

/** client-go's defaults: QPS 0 means 5 and burst 0 means 10; a negative QPS disables limiting. */
export function effectiveRate(qps: number, burst: number): { qps: number; burst: number } | undefined {
  if (!Number.isFinite(qps) || qps < 0) return undefined;
  const q = qps === 0 ? 5 : qps;
  const b = !Number.isFinite(burst) || burst <= 0 ? 10 : Math.floor(burst);
  return { qps: q, burst: Math.max(1, b) };
}

export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  readonly #clock: Pick<Clock, 'now'>;
  #tokens: number;
  #last: number;

  constructor(opts: TokenBucketOptions) {
    if (!(opts.qps > 0)) throw new RangeError(`qps must be > 0, got ${opts.qps}`);
    if (!(opts.burst >= 1)) throw new RangeError(`burst must be >= 1, got ${opts.burst}`);
    this.qps = opts.qps;
    this.burst = opts.burst;
    this.#clock = opts.clock ?? realClock;
    this.#tokens = opts.burst;
    this.#last = this.#clock.now();
  }

  #refill(now: number): void {
    const elapsed = Math.max(0, now - this.#last);
    this.#last = now;
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.qps) / 1000);
  }

  /** Takes one token and returns how long (ms) the caller must wait before using it. */
  reserve(): number {
    const now = this.#clock.now();
    this.#refill(now);
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.qps;
  }

  /** Tokens available now (may be negative while reservations are outstanding). */
  available(): number {
    this.#refill(this.#clock.now());
    return this.#tokens;
  }
}

export interface Limiter {
  /** Resolves when a request may be sent; rejects when `signal` aborts first. */
  wait(signal?: AbortSignal): Promise<void>;
}

export const UNLIMITED: Limiter = { wait: async () => {} };

export function createLimiter(qps: number, burst: number, clock: Clock = realClock): Limiter {
  const rate = effectiveRate(qps, burst);
  if (!rate) return UNLIMITED;
  const bucket = new TokenBucket({ ...rate, clock });
  return {
    wait: (signal) => {
      signal?.throwIfAborted();
      const delay = bucket.reserve();
      return delay <= 0 ? Promise.resolve() : sleep(delay, signal, clock);
    },
  };
}
