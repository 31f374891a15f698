// Proxy health as upstream's ProxyHealthServer defines it: a family is unhealthy when an update has
// been queued for longer than healthTimeout (2 × syncPeriod) without a successful sync.
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
  readonly #now: () => Date;
  readonly #lastUpdated = new Map<IPFamily, Date>();
  readonly #oldestPendingQueued = new Map<IPFamily, Date>();

  constructor(healthTimeoutMs: number, now: () => Date = () => new Date()) {
    this.#timeoutMs = healthTimeoutMs;
    this.#now = now;
  }

  /** An update is waiting for a sync; only the oldest pending one counts. */
  queuedUpdate(family: IPFamily): void {
    if (!this.#oldestPendingQueued.has(family)) this.#oldestPendingQueued.set(family, this.#now());
  }

  /** A sync succeeded: nothing is pending any more. */
  updated(family: IPFamily): void {
    this.#oldestPendingQueued.delete(family);
    this.#lastUpdated.set(family, this.#now());
  }

  health(): ProxyHealth {
    const now = this.#now().getTime();
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
