// The proxier's SyncObserver, feeding proxy health and the kubeproxy_* sync metrics, as upstream's
// nftables proxier does around syncProxyRules.

import type { ProxyHealthTracker } from '../healthcheck/proxy-health.ts';
import type { Logger } from '../log/logger.ts';
import type { SyncObserver, SyncStats } from '../proxy/types.ts';
import { type Clock, realClock } from '../util/clock.ts';
import type { IPFamily } from '../util/ip.ts';
import type { ProxyMetrics } from './metrics.ts';

export interface SyncObserverDeps {
  readonly health?: ProxyHealthTracker;
  readonly metrics?: ProxyMetrics;
  readonly logger?: Logger;
  /** For the timestamps and the network programming latency. */
  readonly clock?: Pick<Clock, 'date'>;
  /** Called after each sync attempt of a family (the pending change gauges reset then). */
  readonly syncAttempted?: (family: IPFamily) => void;
}

export function newSyncObserver(deps: SyncObserverDeps): SyncObserver {
  const clock = deps.clock ?? realClock;
  const now = () => clock.date().getTime();
  const m = deps.metrics;
  return {
    queued(family) {
      deps.health?.queuedUpdate(family);
      m?.syncProxyRulesLastQueuedTimestamp.set({ ip_family: family }, now() / 1000);
    },
    synced(family, stats: SyncStats) {
      deps.health?.updated(family);
      deps.syncAttempted?.(family);
      if (!m) return;
      const labels = { ip_family: family };
      const seconds = stats.durationMs / 1000;
      m.syncProxyRulesLatency.observe(labels, seconds);
      (stats.full ? m.syncFullProxyRulesLatency : m.syncPartialProxyRulesLatency).observe(labels, seconds);
      m.syncProxyRulesLastTimestamp.set(labels, now() / 1000);
      for (const [name, times] of stats.lastChangeTriggerTimes) {
        for (const t of times) {
          const latency = (now() - t.getTime()) / 1000;
          m.networkProgrammingLatency.observe(labels, latency);
          deps.logger?.v(4, 'Network programming', { endpoint: name, elapsed: latency });
        }
      }
      const nle = stats.noLocalEndpoints;
      m.noLocalEndpointsTotal.set({ ip_family: family, traffic_policy: 'internal' }, nle.internal);
      m.noLocalEndpointsTotal.set({ ip_family: family, traffic_policy: 'external' }, nle.external);
      const ipt = stats.backend?.iptables;
      if (ipt) {
        m.iptablesRulesTotal.set({ table: 'filter', ip_family: family }, ipt.filterRulesTotal);
        m.iptablesRulesLastSync.set({ table: 'filter', ip_family: family }, ipt.filterRulesWritten);
        m.iptablesRulesTotal.set({ table: 'nat', ip_family: family }, ipt.natRulesTotal);
        m.iptablesRulesLastSync.set({ table: 'nat', ip_family: family }, ipt.natRulesWritten);
      }
    },
    failed(family, _err, durationMs, sync) {
      deps.syncAttempted?.(family);
      if (!m) return;
      // Upstream observes the sync duration of failed syncs too (its deferred timer always runs).
      m.syncProxyRulesLatency.observe({ ip_family: family }, durationMs / 1000);
      if (sync.mode === 'iptables') {
        m.iptablesRestoreFailuresTotal.inc({ ip_family: family });
        if (!sync.full) m.iptablesPartialRestoreFailuresTotal.inc({ ip_family: family });
      } else {
        m.nftablesSyncFailuresTotal.inc({ ip_family: family });
      }
    },
    drift(family) {
      m?.syncProxyRulesDriftTotal.inc({ ip_family: family });
    },
    loadBalancerFailure(family, f) {
      m?.winkernelLBFailures[f.operation].inc({ ip_family: family, lb_type: f.lbType, error: f.error });
    },
    conntrackCleaned(family, durationMs, deleted) {
      m?.conntrackReconcilerSyncDuration.observe({ ip_family: family }, durationMs / 1000);
      m?.conntrackReconcilerDeletedEntriesTotal.inc({ ip_family: family }, deleted);
    },
  };
}
