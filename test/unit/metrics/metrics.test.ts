import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChangeCounter } from '../../../src/metrics/change-counter.ts';
import {
  exponentialBuckets,
  NETWORK_PROGRAMMING_BUCKETS,
  ProxyMetrics,
  SYNC_BUCKETS,
} from '../../../src/metrics/metrics.ts';
import { newSyncObserver } from '../../../src/metrics/sync-observer.ts';
import type { EndpointSlice, Service } from '../../../src/model/k8s.ts';

// pkg/proxy/metrics/metrics.go, RegisterMetrics(nftables): name, type, labels.
const UPSTREAM_NFTABLES: [string, string, string[]][] = [
  ['kubeproxy_sync_proxy_rules_duration_seconds', 'histogram', ['ip_family']],
  ['kubeproxy_sync_full_proxy_rules_duration_seconds', 'histogram', ['ip_family']],
  ['kubeproxy_sync_partial_proxy_rules_duration_seconds', 'histogram', ['ip_family']],
  ['kubeproxy_sync_proxy_rules_last_timestamp_seconds', 'gauge', ['ip_family']],
  ['kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds', 'gauge', ['ip_family']],
  ['kubeproxy_network_programming_duration_seconds', 'histogram', ['ip_family']],
  ['kubeproxy_sync_proxy_rules_endpoint_changes_pending', 'gauge', []],
  ['kubeproxy_sync_proxy_rules_endpoint_changes_total', 'counter', []],
  ['kubeproxy_sync_proxy_rules_service_changes_pending', 'gauge', []],
  ['kubeproxy_sync_proxy_rules_service_changes_total', 'counter', []],
  ['kubeproxy_sync_proxy_rules_no_local_endpoints_total', 'gauge', ['ip_family', 'traffic_policy']],
  ['kubeproxy_proxy_healthz_total', 'counter', ['code']],
  ['kubeproxy_proxy_livez_total', 'counter', ['code']],
  ['kubeproxy_sync_proxy_rules_nftables_sync_failures_total', 'counter', ['ip_family']],
  ['kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total', 'counter', ['ip_family']],
  ['kubeproxy_conntrack_reconciler_sync_duration_seconds', 'histogram', ['ip_family']],
  ['kubeproxy_conntrack_reconciler_deleted_entries_total', 'counter', ['ip_family']],
];

async function described(m: ProxyMetrics) {
  const out = new Map<string, { type: string; labels: string[] }>();
  for (const metric of await m.registry.getMetricsAsJSON()) {
    if (!metric.name.startsWith('kubeproxy_')) continue;
    const labels = (metric as unknown as { labelNames?: string[] }).labelNames;
    out.set(metric.name, { type: String(metric.type), labels: labels ?? [] });
  }
  return out;
}

describe('kubeproxy_* metrics', () => {
  test('nftables mode registers exactly the upstream metrics, with their types, plus the drift counter', async () => {
    const m = new ProxyMetrics({ mode: 'nftables' });
    const got = await described(m);
    assert.deepEqual(
      [...got.keys()].sort(),
      [...UPSTREAM_NFTABLES.map(([n]) => n), 'kubeproxy_sync_proxy_rules_drift_total'].sort(),
    );
    assert.equal(got.get('kubeproxy_sync_proxy_rules_drift_total')?.type, 'counter');
    for (const [name, type] of UPSTREAM_NFTABLES) assert.equal(got.get(name)?.type, type, name);
  });

  test('labels as upstream', async () => {
    const m = new ProxyMetrics({ mode: 'nftables' });
    m.syncProxyRulesLatency.observe({ ip_family: 'IPv4' }, 0.01);
    m.noLocalEndpointsTotal.set({ ip_family: 'IPv6', traffic_policy: 'external' }, 2);
    m.proxyHealthzTotal.inc({ code: '200' });
    const text = await m.render();
    assert.match(text, /kubeproxy_sync_proxy_rules_duration_seconds_count\{ip_family="IPv4"\} 1/);
    assert.match(
      text,
      /kubeproxy_sync_proxy_rules_no_local_endpoints_total\{ip_family="IPv6",traffic_policy="external"\} 2/,
    );
    assert.match(text, /kubeproxy_proxy_healthz_total\{code="200"\} 1/);
    assert.match(text, /# HELP kubeproxy_proxy_healthz_total \[ALPHA\] Cumulative proxy healthz HTTP status/);
  });

  test('the drift observer counts per family', async () => {
    const m = new ProxyMetrics({ mode: 'iptables' });
    const obs = newSyncObserver({ metrics: m });
    obs.drift?.('IPv4', 'iptables');
    obs.drift?.('IPv4', 'iptables');
    obs.drift?.('IPv6', 'iptables');
    const text = await m.render();
    assert.match(text, /kubeproxy_sync_proxy_rules_drift_total\{ip_family="IPv4"\} 2/);
    assert.match(text, /kubeproxy_sync_proxy_rules_drift_total\{ip_family="IPv6"\} 1/);
  });

  test('iptables and ipvs register their own failure counters', async () => {
    const ipt = await described(new ProxyMetrics({ mode: 'iptables' }));
    assert.ok(ipt.has('kubeproxy_sync_proxy_rules_iptables_restore_failures_total'));
    assert.ok(!ipt.has('kubeproxy_sync_proxy_rules_nftables_sync_failures_total'));
    for (const name of [
      'kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total',
      'kubeproxy_sync_proxy_rules_iptables_total',
      'kubeproxy_sync_proxy_rules_iptables_last',
    ])
      assert.ok(ipt.has(name), name);
  });

  test('iptables mode: rule gauges per table, and a failed partial restore counts twice as upstream', async () => {
    const m = new ProxyMetrics({ mode: 'iptables' });
    const o = newSyncObserver({ metrics: m, clock: { date: () => new Date(0) } });
    o.synced!('IPv4', {
      full: false,
      durationMs: 5,
      servicePorts: 1,
      endpoints: 1,
      operations: 7,
      lastChangeTriggerTimes: new Map(),
      noLocalEndpoints: { internal: 0, external: 0 },
      backend: {
        iptables: { filterRulesWritten: 3, filterRulesTotal: 3, natRulesWritten: 4, natRulesTotal: 40 },
      },
    });
    o.failed!('IPv4', new Error('iptables-restore: line 3 failed'), 1, { full: false, mode: 'iptables' });
    o.failed!('IPv4', new Error('iptables-restore: line 3 failed'), 1, { full: true, mode: 'iptables' });
    const text = await m.render();
    assert.match(text, /kubeproxy_sync_proxy_rules_iptables_total\{table="nat",ip_family="IPv4"\} 40/);
    assert.match(text, /kubeproxy_sync_proxy_rules_iptables_last\{table="nat",ip_family="IPv4"\} 4/);
    assert.match(text, /kubeproxy_sync_proxy_rules_iptables_total\{table="filter",ip_family="IPv4"\} 3/);
    assert.match(text, /kubeproxy_sync_proxy_rules_iptables_restore_failures_total\{ip_family="IPv4"\} 2/);
    assert.match(
      text,
      /kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total\{ip_family="IPv4"\} 1/,
    );
  });

  test('buckets: 0.001×2^k (15) and the network programming buckets', () => {
    assert.deepEqual(SYNC_BUCKETS, exponentialBuckets(0.001, 2, 15));
    assert.equal(SYNC_BUCKETS.length, 15);
    assert.equal(SYNC_BUCKETS[14], 16.384);
    assert.deepEqual(NETWORK_PROGRAMMING_BUCKETS.slice(0, 4), [0.25, 0.5, 1, 2]);
    assert.equal(NETWORK_PROGRAMMING_BUCKETS.length, 2 + 59 + 12 + 7);
    assert.deepEqual(NETWORK_PROGRAMMING_BUCKETS.slice(-8), [115, 120, 150, 180, 210, 240, 270, 300]);
  });
});

describe('sync observer', () => {
  test('feeds the sync histograms, timestamps, failures and network programming latency', async () => {
    const m = new ProxyMetrics({ mode: 'nftables' });
    let now = Date.parse('2025-11-26T07:00:10Z');
    const o = newSyncObserver({ metrics: m, clock: { date: () => new Date(now) } });
    o.queued!('IPv4');
    now += 500;
    o.synced!('IPv4', {
      full: false,
      durationMs: 30,
      servicePorts: 1,
      endpoints: 2,
      operations: 4,
      lastChangeTriggerTimes: new Map([['ns/svc', [new Date('2025-11-26T07:00:08Z')]]]),
      noLocalEndpoints: { internal: 1, external: 2 },
    });
    o.failed!('IPv6', new Error('x'), 12, { full: false, mode: 'nftables' });
    o.conntrackCleaned!('IPv4', 3, 5);
    const text = await m.render();
    assert.match(
      text,
      /kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds\{ip_family="IPv4"\} 1764140410\n/,
    );
    assert.match(
      text,
      /kubeproxy_sync_proxy_rules_last_timestamp_seconds\{ip_family="IPv4"\} 1764140410.5\n/,
    );
    assert.match(text, /kubeproxy_sync_partial_proxy_rules_duration_seconds_sum\{ip_family="IPv4"\} 0.03\n/);
    assert.doesNotMatch(text, /kubeproxy_sync_full_proxy_rules_duration_seconds_count/);
    assert.match(
      text,
      /kubeproxy_network_programming_duration_seconds_bucket\{le="2",ip_family="IPv4"\} 0\n/,
    );
    assert.match(
      text,
      /kubeproxy_network_programming_duration_seconds_bucket\{le="3",ip_family="IPv4"\} 1\n/,
    );
    assert.match(text, /kubeproxy_sync_proxy_rules_nftables_sync_failures_total\{ip_family="IPv6"\} 1\n/);
    assert.match(
      text,
      /kubeproxy_sync_proxy_rules_duration_seconds_count\{ip_family="IPv6"\} 1\n/,
      'failed syncs are timed',
    );
    assert.match(
      text,
      /kubeproxy_sync_proxy_rules_no_local_endpoints_total\{ip_family="IPv4",traffic_policy="external"\} 2\n/,
    );
    assert.match(text, /kubeproxy_conntrack_reconciler_deleted_entries_total\{ip_family="IPv4"\} 5\n/);
    assert.match(text, /kubeproxy_conntrack_reconciler_sync_duration_seconds_count\{ip_family="IPv4"\} 1\n/);
  });

  test('no-local-endpoint counts are published when the proxier reports them', async () => {
    const m = new ProxyMetrics({ mode: 'nftables' });
    const o = newSyncObserver({ metrics: m });
    const stats = {
      full: true,
      durationMs: 1,
      servicePorts: 0,
      endpoints: 0,
      operations: 0,
      lastChangeTriggerTimes: new Map(),
      noLocalEndpoints: { internal: 0, external: 0 },
    };
    o.synced!('IPv4', { ...stats, noLocalEndpoints: { internal: 1, external: 3 } } as typeof stats);
    const text = await m.render();
    assert.match(text, /no_local_endpoints_total\{ip_family="IPv4",traffic_policy="internal"\} 1/);
    assert.match(text, /no_local_endpoints_total\{ip_family="IPv4",traffic_policy="external"\} 3/);
  });
});

describe('change counter', () => {
  test('totals count events; pending counts services until their families synced', async () => {
    const m = new ProxyMetrics({ mode: 'nftables' });
    const c = new ChangeCounter(m, ['IPv4', 'IPv6']);
    const svc = (name: string) => ({ metadata: { namespace: 'ns', name } }) as Service;
    const slice = (svc: string, addressType: string) =>
      ({
        metadata: { namespace: 'ns', name: `${svc}-x`, labels: { 'kubernetes.io/service-name': svc } },
        addressType,
      }) as EndpointSlice;
    c.service(svc('a'));
    c.service(svc('a'));
    c.service(svc('b'));
    c.endpointSlice(slice('a', 'IPv4'));
    c.endpointSlice(slice('b', 'IPv6'));
    c.endpointSlice(slice('c', 'FQDN'));
    const value = async (name: string) => (await m.registry.getSingleMetric(name)!.get()).values[0]?.value;
    assert.equal(await value('kubeproxy_sync_proxy_rules_service_changes_total'), 3);
    assert.equal(await value('kubeproxy_sync_proxy_rules_service_changes_pending'), 2);
    assert.equal(await value('kubeproxy_sync_proxy_rules_endpoint_changes_total'), 2);
    assert.equal(await value('kubeproxy_sync_proxy_rules_endpoint_changes_pending'), 2);
    c.syncAttempted('IPv4');
    assert.equal(await value('kubeproxy_sync_proxy_rules_service_changes_pending'), 2, 'IPv6 still pending');
    assert.equal(await value('kubeproxy_sync_proxy_rules_endpoint_changes_pending'), 1);
    c.syncAttempted('IPv6');
    assert.equal(await value('kubeproxy_sync_proxy_rules_service_changes_pending'), 0);
    assert.equal(await value('kubeproxy_sync_proxy_rules_endpoint_changes_pending'), 0);
  });
});
