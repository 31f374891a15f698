// Detects that someone flushed iptables behind our back (a firewalld reload, `iptables -F`,
// `iptables -t nat -F`): upstream keeps an empty KUBE-PROXY-CANARY chain in mangle, nat and
// filter and forces a full resync when one disappears. Polled every syncPeriod, as upstream.

import type { Iptables, IptablesTable } from '../../kernel/iptables/iptables.ts';
import type { Logger } from '../../log/logger.ts';
import { type Clock, realClock } from '../../runner/bounded-frequency-runner.ts';
import { KUBE_PROXY_CANARY } from './names.ts';

const TABLES: readonly IptablesTable[] = ['mangle', 'nat', 'filter'];

export interface CanaryOptions {
  readonly iptables: Iptables;
  readonly logger: Logger;
  readonly intervalMs: number;
  /** Called once per detected flush, after the canaries are back. */
  readonly onFlushed: () => void;
  readonly clock?: Clock;
}

export class CanaryMonitor {
  readonly #opts: CanaryOptions;
  readonly #clock: Clock;
  #timer: unknown;
  #checking: Promise<void> | undefined;
  #closed = false;

  constructor(opts: CanaryOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? realClock;
  }

  /** Creates the canaries and starts polling. */
  async start(): Promise<void> {
    await this.#ensure();
    this.#schedule();
  }

  /** One check; exposed for tests. Returns whether a flush was detected. */
  async check(): Promise<boolean> {
    const ipt = this.#opts.iptables;
    let missing: IptablesTable | undefined;
    for (const t of TABLES) {
      if (!(await ipt.chainExists(t, KUBE_PROXY_CANARY))) {
        missing = t;
        break;
      }
    }
    if (missing === undefined) return false;
    this.#opts.logger.info('iptables canary chain deleted; forcing a full resync', {
      ipFamily: ipt.family,
      table: missing,
    });
    await this.#ensure();
    this.#opts.onFlushed();
    return true;
  }

  async #ensure(): Promise<void> {
    for (const t of TABLES) await this.#opts.iptables.ensureChain(t, KUBE_PROXY_CANARY);
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#checking = this.check()
        .catch((err: unknown) =>
          this.#opts.logger.error('iptables canary check failed', {
            ipFamily: this.#opts.iptables.family,
            err,
          }),
        )
        .then(() => {
          this.#checking = undefined;
          this.#schedule();
        });
    }, this.#opts.intervalMs);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    await this.#checking;
  }
}
