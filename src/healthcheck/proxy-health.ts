// Proxy health as upstream's ProxyHealthServer defines it: a family is unhealthy when an update has
// been queued for longer than healthTimeout (2 × syncPeriod) without a successful sync.
import { type Clock, realClock } from '../util/clock.ts';
import type { IPFamily } from '../util/ip.ts';

export interface FamilyHealth {
  readonly lastUpdated: Date;
  readonly healthy: boolean;
}

export interface ProxyHealth {
  readonly lastUpdated: Date;
  readonly healthy: boolean;
  readonly status: Partial<Record<IPFamily, FamilyHealth>>;
}

export class ProxyHealthTracker {
  readonly #timeoutMs: number;
  readonly #clock: Pick<Clock, 'date'>;
  readonly #lastUpdated = new Map<IPFamily, Date>();
  readonly #oldestPendingQueued = new Map<IPFamily, Date>();

  constructor(healthTimeoutMs: number, clock: Pick<Clock, 'date'> = realClock) {
    this.#timeoutMs = healthTimeoutMs;
    this.#clock = clock;
  }

  /** An update is waiting for a sync; only the oldest pending one counts. */
  queuedUpdate(family: IPFamily): void {
    if (!this.#oldestPendingQueued.has(family)) this.#oldestPendingQueued.set(family, this.#clock.date());
  }

  /** A sync succeeded: nothing is pending any more. */
  updated(family: IPFamily): void {
    this.#oldestPendingQueued.delete(family);
    this.#lastUpdated.set(family, this.#clock.date());
  }

  health(): ProxyHealth {
    const now = this.#clock.date().getTime();
    let healthy = true;
    let lastUpdated = new Date(0);
    const status: Partial<Record<IPFamily, FamilyHealth>> = {};
    for (const [family, last] of this.#lastUpdated) {
      if (last > lastUpdated) lastUpdated = last;
      const queued = this.#oldestPendingQueued.get(family);
      // Healthy while starting up, when fully synced, or while a queued update is not yet late.
      const ok = queued === undefined || now - queued.getTime() < this.#timeoutMs;
      if (!ok) healthy = false;
      status[family] = { lastUpdated: last, healthy: ok };
    }
    return { lastUpdated, healthy, status };
  }

  isHealthy(): boolean {
    return this.health().healthy;
  }
}
