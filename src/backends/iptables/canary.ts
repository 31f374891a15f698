// Detects that someone flushed iptables behind our back and forces a full resync. Upstream keeps
// an empty KUBE-PROXY-CANARY chain in mangle, nat and filter and resyncs when one disappears
// (a firewalld reload, `iptables -X`). A flush that keeps the chains (`iptables -t nat -F`) leaves
// the canaries in place, so upstream misses it until the next change; here the monitor also
// checks a sentinel rule, the nat PREROUTING jump into KUBE-SERVICES, once our rules are in.
// Polled every syncPeriod, as upstream.

import type { Iptables, IptablesTable } from '../../kernel/iptables/iptables.ts';
import type { Logger } from '../../log/logger.ts';
import { type Clock, realClock } from '../../util/clock.ts';
import { KUBE_PROXY_CANARY } from './names.ts';

const TABLES: readonly IptablesTable[] = ['mangle', 'nat', 'filter'];

export interface CanaryOptions {
  readonly iptables: Iptables;
  readonly logger: Logger;
  readonly intervalMs: number;
  /** Called once per detected flush, after the canaries are back. */
  readonly onFlushed: () => void;
  /** A rule that must exist while `armed()` (our rules were synced): its absence is a flush too. */
  readonly sentinel?: {
    readonly table: IptablesTable;
    readonly chain: string;
    readonly args: readonly string[];
  };
  readonly armed?: () => boolean;
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
    let what = 'canary chain deleted';
    const s = this.#opts.sentinel;
    if (missing === undefined) {
      if (!s || !(this.#opts.armed?.() ?? true) || (await ipt.ruleExists(s.table, s.chain, s.args)))
        return false;
      missing = s.table;
      what = `rule ${s.chain} -> ${s.args.at(-1)} missing`;
    }
    this.#opts.logger.info(`iptables flushed (${what}); forcing a full resync`, {
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
