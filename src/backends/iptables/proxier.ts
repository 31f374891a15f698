// The iptables proxier of one IP family: the shared proxier core driving the iptables backend,
// plus the canary monitor that turns a flush behind our back into a full resync.
import type { Iptables } from '../../kernel/iptables/iptables.ts';
import type { LocalDetector } from '../../proxy/local-detector.ts';
import { type CoreOptions, Proxier } from '../../proxy/proxier.ts';
import { IptablesBackend } from './backend.ts';
import { CanaryMonitor } from './canary.ts';
import { KUBE_SERVICES } from './names.ts';
import { jumpRuleArgs, jumpRules } from './ruleset.ts';

export interface IptablesProxierOptions extends CoreOptions {
  readonly iptables: Iptables;
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
  readonly localDetector: LocalDetector;
  readonly localhostNodePorts: boolean;
  readonly conntrackTCPLiberal?: boolean;
  /** Per-service rules per iptables-nft-restore call (tests use small values). */
  readonly restoreChunkLines?: number;
  /** Keep the last restore input for --dry-run. */
  readonly keepLastInput?: boolean;
  /** Poll the canary chains every syncPeriod (off in unit tests that drive syncs by hand). */
  readonly monitorCanaries?: boolean;
}

/** nat PREROUTING -> KUBE-SERVICES: without it no Service traffic from outside the node is NATed. */
function sentinel(): { sentinel?: { table: 'nat'; chain: string; args: string[] } } {
  const j = jumpRules().find(
    (r) => r.table === 'nat' && r.chain === 'PREROUTING' && r.target === KUBE_SERVICES,
  );
  return j ? { sentinel: { table: 'nat', chain: j.chain, args: jumpRuleArgs(j) } } : {};
}

export class IptablesProxier extends Proxier {
  readonly #canary: CanaryMonitor | undefined;

  constructor(opts: IptablesProxierOptions) {
    const backend = new IptablesBackend({
      family: opts.family,
      iptables: opts.iptables,
      logger: opts.logger,
      masqueradeAll: opts.masqueradeAll,
      masqueradeBit: opts.masqueradeBit,
      localDetector: opts.localDetector.iptables,
      localhostNodePorts: opts.localhostNodePorts,
      conntrackTCPLiberal: opts.conntrackTCPLiberal ?? false,
      keepLastInput: opts.keepLastInput ?? false,
      ...(opts.restoreChunkLines !== undefined && { restoreChunkLines: opts.restoreChunkLines }),
      syncPeriodMs: opts.syncPeriodMs,
    });
    super(opts, backend);
    if (opts.monitorCanaries !== false) {
      this.#canary = new CanaryMonitor({
        iptables: opts.iptables,
        logger: opts.logger,
        intervalMs: opts.syncPeriodMs,
        onFlushed: () => this.driftDetected(),
        ...sentinel(),
        armed: () => backend.synced,
        ...(opts.clock !== undefined && { clock: opts.clock }),
      });
      this.#canary
        .start()
        .catch((err: unknown) =>
          opts.logger.error('Failed to create iptables canary chains', { ipFamily: opts.family, err }),
        );
    }
  }

  override async close(): Promise<void> {
    await this.#canary?.close();
    await super.close();
  }
}
