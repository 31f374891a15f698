// kube-proxy's Prometheus metrics (pkg/proxy/metrics/metrics.go): subsystem kubeproxy, all ALPHA,
// registered per mode as upstream's RegisterMetrics does, on a registry of our own.

import { Counter, collectDefaultMetrics, Gauge, Histogram, type Metric, Registry } from 'prom-client';

/** prometheus.ExponentialBuckets(start, factor, count). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, k) => Number((start * factor ** k).toPrecision(12)));
}

/** prometheus.LinearBuckets(start, width, count). */
export function linearBuckets(start: number, width: number, count: number): number[] {
  return Array.from({ length: count }, (_, k) => start + k * width);
}

export const SYNC_BUCKETS = exponentialBuckets(0.001, 2, 15);
export const NETWORK_PROGRAMMING_BUCKETS = [
  ...linearBuckets(0.25, 0.25, 2),
  ...linearBuckets(1, 1, 59),
  ...linearBuckets(60, 5, 12),
  ...linearBuckets(120, 30, 7),
];

const alpha = (help: string) => `[ALPHA] ${help}`;
type Family = 'ip_family';

export interface MetricsOptions {
  /** The proxy mode, which decides the mode-specific metrics. */
  readonly mode: string;
  /** process_* and nodejs_* collectors; off in tests that compare exact output. */
  readonly processMetrics?: boolean;
  readonly version?: string;
}

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly syncProxyRulesLatency: Histogram<Family>;
  readonly syncFullProxyRulesLatency: Histogram<Family>;
  readonly syncPartialProxyRulesLatency: Histogram<Family>;
  readonly syncProxyRulesLastTimestamp: Gauge<Family>;
  readonly syncProxyRulesLastQueuedTimestamp: Gauge<Family>;
  readonly networkProgrammingLatency: Histogram<Family>;
  readonly endpointChangesPending: Gauge;
  readonly endpointChangesTotal: Counter;
  readonly serviceChangesPending: Gauge;
  readonly serviceChangesTotal: Counter;
  readonly noLocalEndpointsTotal: Gauge<Family | 'traffic_policy'>;
  readonly proxyHealthzTotal: Counter<'code'>;
  readonly proxyLivezTotal: Counter<'code'>;
  readonly nftablesSyncFailuresTotal: Counter<Family>;
  readonly nftablesCleanupFailuresTotal: Counter<Family>;
  readonly iptablesRestoreFailuresTotal: Counter<Family>;
  readonly iptablesPartialRestoreFailuresTotal: Counter<Family>;
  readonly iptablesRulesTotal: Gauge<'table' | Family>;
  readonly iptablesRulesLastSync: Gauge<'table' | Family>;
  readonly conntrackReconcilerSyncDuration: Histogram<Family>;
  /** kube-proxy-ts: the kernel lost what the proxy wrote (found by the drift check or the canaries). */
  readonly syncProxyRulesDriftTotal: Counter<Family>;
  readonly conntrackReconcilerDeletedEntriesTotal: Counter<Family>;
  /** kernelspace mode: HNS load balancer failures by operation, as upstream's winkernel counters. */
  readonly winkernelLBFailures: Record<'create' | 'update' | 'delete', Counter<Family | 'lb_type' | 'error'>>;

  constructor(opts: MetricsOptions) {
    const r = this.registry;
    const reg: Registry[] = [];
    const hist = (name: string, help: string, buckets: number[]) =>
      new Histogram({
        name: `kubeproxy_${name}`,
        help: alpha(help),
        buckets,
        labelNames: ['ip_family'],
        registers: reg,
      });
    const gaugeF = (name: string, help: string) =>
      new Gauge({ name: `kubeproxy_${name}`, help: alpha(help), labelNames: ['ip_family'], registers: reg });
    const counterF = (name: string, help: string) =>
      new Counter({
        name: `kubeproxy_${name}`,
        help: alpha(help),
        labelNames: ['ip_family'],
        registers: reg,
      });
    this.syncProxyRulesLatency = hist(
      'sync_proxy_rules_duration_seconds',
      'SyncProxyRules latency in seconds',
      SYNC_BUCKETS,
    );
    this.syncFullProxyRulesLatency = hist(
      'sync_full_proxy_rules_duration_seconds',
      'SyncProxyRules latency in seconds for full resyncs',
      SYNC_BUCKETS,
    );
    this.syncPartialProxyRulesLatency = hist(
      'sync_partial_proxy_rules_duration_seconds',
      'SyncProxyRules latency in seconds for partial resyncs',
      SYNC_BUCKETS,
    );
    this.syncProxyRulesLastTimestamp = gaugeF(
      'sync_proxy_rules_last_timestamp_seconds',
      'The last time proxy rules were successfully synced',
    );
    this.syncProxyRulesLastQueuedTimestamp = gaugeF(
      'sync_proxy_rules_last_queued_timestamp_seconds',
      'The last time a sync of proxy rules was queued',
    );
    this.networkProgrammingLatency = hist(
      'network_programming_duration_seconds',
      'In Cluster Network Programming Latency in seconds',
      NETWORK_PROGRAMMING_BUCKETS,
    );
    this.endpointChangesPending = new Gauge({
      name: 'kubeproxy_sync_proxy_rules_endpoint_changes_pending',
      help: alpha('Pending proxy rules Endpoint changes'),
      registers: reg,
    });
    this.endpointChangesTotal = new Counter({
      name: 'kubeproxy_sync_proxy_rules_endpoint_changes_total',
      help: alpha('Cumulative proxy rules Endpoint changes'),
      registers: reg,
    });
    this.serviceChangesPending = new Gauge({
      name: 'kubeproxy_sync_proxy_rules_service_changes_pending',
      help: alpha('Pending proxy rules Service changes'),
      registers: reg,
    });
    this.serviceChangesTotal = new Counter({
      name: 'kubeproxy_sync_proxy_rules_service_changes_total',
      help: alpha('Cumulative proxy rules Service changes'),
      registers: reg,
    });
    this.noLocalEndpointsTotal = new Gauge({
      name: 'kubeproxy_sync_proxy_rules_no_local_endpoints_total',
      help: alpha('Number of services with a Local traffic policy and no endpoints'),
      labelNames: ['ip_family', 'traffic_policy'],
      registers: reg,
    });
    this.proxyHealthzTotal = new Counter({
      name: 'kubeproxy_proxy_healthz_total',
      help: alpha('Cumulative proxy healthz HTTP status'),
      labelNames: ['code'],
      registers: reg,
    });
    this.proxyLivezTotal = new Counter({
      name: 'kubeproxy_proxy_livez_total',
      help: alpha('Cumulative proxy livez HTTP status'),
      labelNames: ['code'],
      registers: reg,
    });
    this.nftablesSyncFailuresTotal = counterF(
      'sync_proxy_rules_nftables_sync_failures_total',
      'Cumulative proxy nftables sync failures',
    );
    this.nftablesCleanupFailuresTotal = counterF(
      'sync_proxy_rules_nftables_cleanup_failures_total',
      'Cumulative proxy nftables cleanup failures',
    );
    const lbFailures = (op: string) =>
      new Counter({
        name: `kubeproxy_sync_proxy_rules_winkernel_lb_${op}_failures_total`,
        help: alpha(`Cumulative proxy winkernel lb ${op} failures`),
        labelNames: ['ip_family', 'lb_type', 'error'],
        registers: reg,
      });
    this.winkernelLBFailures = {
      create: lbFailures('create'),
      update: lbFailures('update'),
      delete: lbFailures('delete'),
    };
    this.iptablesRestoreFailuresTotal = counterF(
      'sync_proxy_rules_iptables_restore_failures_total',
      'Cumulative proxy iptables restore failures',
    );
    this.iptablesPartialRestoreFailuresTotal = counterF(
      'sync_proxy_rules_iptables_partial_restore_failures_total',
      'Cumulative proxy iptables partial restore failures',
    );
    const tableGauge = (name: string, help: string) =>
      new Gauge({
        name: `kubeproxy_${name}`,
        help: alpha(help),
        labelNames: ['table', 'ip_family'],
        registers: reg,
      });
    this.iptablesRulesTotal = tableGauge(
      'sync_proxy_rules_iptables_total',
      'Total number of iptables rules owned by kube-proxy',
    );
    this.iptablesRulesLastSync = tableGauge(
      'sync_proxy_rules_iptables_last',
      'Number of iptables rules written by kube-proxy in last sync',
    );
    this.conntrackReconcilerSyncDuration = hist(
      'conntrack_reconciler_sync_duration_seconds',
      'ReconcileConntrackFlowsLatency latency in seconds',
      SYNC_BUCKETS,
    );
    this.conntrackReconcilerDeletedEntriesTotal = counterF(
      'conntrack_reconciler_deleted_entries_total',
      'Cumulative conntrack flows deleted by conntrack reconciler',
    );

    // RegisterMetrics(mode): what every backend has, then the mode's own.
    const common: Metric[] = [
      this.syncProxyRulesLatency,
      this.syncProxyRulesLastQueuedTimestamp,
      this.syncProxyRulesLastTimestamp,
      this.endpointChangesPending,
      this.endpointChangesTotal,
      this.serviceChangesPending,
      this.serviceChangesTotal,
      this.proxyHealthzTotal,
      this.proxyLivezTotal,
      this.networkProgrammingLatency,
      this.noLocalEndpointsTotal,
    ];
    this.syncProxyRulesDriftTotal = counterF(
      'sync_proxy_rules_drift_total',
      'kube-proxy-ts: Cumulative times the kernel no longer held the rules last written (repaired by a full sync)',
    );
    const byMode: Record<string, readonly Metric[]> = {
      nftables: [
        this.syncFullProxyRulesLatency,
        this.syncPartialProxyRulesLatency,
        this.nftablesSyncFailuresTotal,
        this.nftablesCleanupFailuresTotal,
        this.syncProxyRulesDriftTotal,
      ],
      iptables: [
        this.syncFullProxyRulesLatency,
        this.syncPartialProxyRulesLatency,
        this.iptablesRestoreFailuresTotal,
        this.iptablesPartialRestoreFailuresTotal,
        this.iptablesRulesTotal,
        this.iptablesRulesLastSync,
        this.syncProxyRulesDriftTotal,
      ],
      ipvs: [this.iptablesRestoreFailuresTotal],
      kernelspace: [
        this.winkernelLBFailures.create,
        this.winkernelLBFailures.update,
        this.winkernelLBFailures.delete,
        this.syncProxyRulesDriftTotal,
      ],
    };
    const conntrack: Metric[] = ['iptables', 'ipvs', 'nftables'].includes(opts.mode)
      ? [this.conntrackReconcilerSyncDuration, this.conntrackReconcilerDeletedEntriesTotal]
      : [];
    for (const m of [...common, ...(byMode[opts.mode] ?? []), ...conntrack]) r.registerMetric(m);

    const build = new Gauge({
      name: 'kubernetes_build_info',
      help: alpha(
        "A metric with a constant '1' value labeled by major, minor, git version, git commit, git tree state, build date, Go version, and compiler from which Kubernetes was built, and platform on which it is running.",
      ),
      labelNames: ['major', 'minor', 'git_version', 'platform'],
      registers: [r],
    });
    const [major = '0', minor = '0'] = (opts.version ?? '0.0.0').split('.');
    build.set(
      {
        major,
        minor,
        git_version: `v${opts.version ?? '0.0.0'}`,
        platform: `${process.platform}/${process.arch}`,
      },
      1,
    );
    if (opts.processMetrics) collectDefaultMetrics({ register: r });
  }

  /** The text exposition, as /metrics serves it. */
  async render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
