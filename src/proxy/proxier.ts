// The proxier of one IP family, shared by every proxy mode (upstream's proxiers share pkg/proxy the
// same way): it turns watch events into pending changes, keeps the node's facts, schedules syncs
// through the bounded-frequency runner, and after each sync runs the health-check servers and the
// stale UDP conntrack cleanup. What a sync writes into the kernel is the backend's business.
// A failed sync never throws out of here: it is logged, retried after syncPeriod, and the next
// sync is a full one.

import { staleFlowFilters } from '../conntrack/stale-flows.ts';
import { describePort, type FamilyBeliefs } from '../explain/service-beliefs.ts';
import type { Conntrack } from '../kernel/conntrack.ts';
import type { Logger } from '../log/logger.ts';
import type { EndpointSlice, Node, Service } from '../model/k8s.ts';
import { LABEL_TOPOLOGY_ZONE } from '../model/k8s.ts';
import { BoundedFrequencyRunner } from '../runner/bounded-frequency-runner.ts';
import type { ProxyHandlers } from '../sources/handlers.ts';
import { EndpointsChangeTracker, EndpointsMap } from '../tracking/endpoints-change-tracker.ts';
import { ServiceChangeTracker, ServicePortMap } from '../tracking/service-change-tracker.ts';
import { type Clock, realClock } from '../util/clock.ts';
import { cidrContains, type IP, type IPFamily, isLoopback, parseCIDR, parseIP } from '../util/ip.ts';
import { FullSyncRequests } from './full-sync-requests.ts';
import type { NodeFacts, ProxyBackend, ServiceHealth, SyncObserver, SyncStats } from './types.ts';

export interface CoreOptions {
  readonly family: IPFamily;
  readonly hostname: string;
  readonly logger: Logger;
  readonly minSyncPeriodMs: number;
  readonly syncPeriodMs: number;
  /** ["primary"], CIDRs, or [] (every local address); NodePorts are accepted on local addresses inside them. */
  readonly nodePortAddresses: readonly string[];
  /** The node's addresses, for nodePortAddresses CIDRs (the proxy runs in the node's network namespace). */
  readonly localAddresses: () => readonly string[];
  readonly clock?: Clock;
  readonly observer?: SyncObserver;
  /** Health-check node port servers; told after each successful sync which services need one. */
  readonly serviceHealth?: ServiceHealth;
  /** Stale UDP flows are deleted through this after syncs that changed UDP services' endpoints. */
  readonly conntrack?: Conntrack;
}

const FULL_SYNC_PERIOD_MS = 60 * 60 * 1000;

export class Proxier implements ProxyHandlers {
  readonly family: IPFamily;
  readonly backend: ProxyBackend;
  readonly #opts: CoreOptions;
  readonly #log: Logger;
  readonly #serviceChanges: ServiceChangeTracker;
  readonly #endpointsChanges: EndpointsChangeTracker;
  readonly #svcPortMap = new ServicePortMap();
  readonly #endpointsMap = new EndpointsMap();
  readonly #runner: BoundedFrequencyRunner;
  readonly #fullSync = new FullSyncRequests();
  #servicesSynced = false;
  #endpointSlicesSynced = false;
  #lastFullSync = Number.NEGATIVE_INFINITY;
  #nodeLabels: Record<string, string> | undefined;
  #nodeIPs: IP[] = [];
  #serviceCIDRs: string[] = [];
  #closed = false;
  /** The drift check's periodic tick is due; #syncRequested: a change asked for a sync meanwhile. */
  #driftCheckDue = false;
  #syncRequested = false;
  #driftTimer: unknown;
  readonly #clock: Clock;

  constructor(opts: CoreOptions, backend: ProxyBackend) {
    this.family = opts.family;
    this.backend = backend;
    this.#opts = opts;
    this.#log = opts.logger;
    this.#clock = opts.clock ?? realClock;
    this.#serviceChanges = new ServiceChangeTracker(opts.family, opts.logger);
    this.#endpointsChanges = new EndpointsChangeTracker(
      opts.hostname,
      opts.family,
      opts.logger,
      this.#clock.date(),
    );
    this.#runner = new BoundedFrequencyRunner(() => this.syncProxyRules(), {
      minIntervalMs: opts.minSyncPeriodMs,
      maxIntervalMs: FULL_SYNC_PERIOD_MS,
      clock: this.#clock,
    });
    this.#runner.start();
    if (backend.checkDrift) this.#scheduleDriftCheck();
  }

  /** Every syncPeriod, even when nothing changed: a sync that first checks the kernel for drift. */
  #scheduleDriftCheck(): void {
    if (this.#closed) return;
    this.#driftTimer = this.#clock.setTimeout(() => {
      this.#driftCheckDue = true;
      this.#runner.run();
      this.#scheduleDriftCheck();
    }, this.#opts.syncPeriodMs);
    // A proxier left open must not keep the process alive for this timer alone.
    (this.#driftTimer as { unref?: () => void } | undefined)?.unref?.();
  }

  /**
   * The kernel lost what we wrote (a canary chain or rule gone, a table, chain or element
   * changed): counted in kubeproxy_sync_proxy_rules_drift_total, then repaired by a full sync.
   */
  driftDetected(): void {
    this.#opts.observer?.drift?.(this.family, this.backend.mode);
    this.forceFullSync();
  }

  get initialized(): boolean {
    return this.#servicesSynced && this.#endpointSlicesSynced;
  }

  /** Requests a sync, rate-limited by minSyncPeriod. */
  sync(): void {
    if (this.#closed) return;
    this.#syncRequested = true;
    this.#opts.observer?.queued?.(this.family);
    this.#runner.run();
  }

  /** Requests a full sync: someone changed our rules behind our back (iptables canaries). */
  forceFullSync(): void {
    this.#fullSync.request();
    if (this.initialized) this.sync();
  }

  onServiceAdd(service: Service): void {
    this.onServiceUpdate(undefined, service);
  }

  onServiceUpdate(oldService: Service | undefined, service: Service | undefined): void {
    if (this.#serviceChanges.update(oldService, service) && this.initialized) this.sync();
  }

  onServiceDelete(service: Service): void {
    this.onServiceUpdate(service, undefined);
  }

  onServicesSynced(): void {
    this.#servicesSynced = true;
    if (this.initialized) this.sync();
  }

  onEndpointSliceAdd(slice: EndpointSlice): void {
    if (this.#endpointsChanges.endpointSliceUpdate(slice, false) && this.initialized) this.sync();
  }

  onEndpointSliceUpdate(_old: EndpointSlice, slice: EndpointSlice): void {
    if (this.#endpointsChanges.endpointSliceUpdate(slice, false) && this.initialized) this.sync();
  }

  onEndpointSliceDelete(slice: EndpointSlice): void {
    if (this.#endpointsChanges.endpointSliceUpdate(slice, true) && this.initialized) this.sync();
  }

  onEndpointSlicesSynced(): void {
    this.#endpointSlicesSynced = true;
    if (this.initialized) this.sync();
  }

  onNodeAdd(node: Node): void {
    this.#onNode(node);
  }

  onNodeUpdate(_old: Node, node: Node): void {
    this.#onNode(node);
  }

  onNodeDelete(node: Node): void {
    if (node.metadata?.name !== this.#opts.hostname) return;
    this.#nodeLabels = undefined;
    this.#fullSync.request();
    this.sync();
  }

  onNodeSynced(): void {}

  onServiceCIDRsChanged(cidrs: string[]): void {
    const mine = cidrs
      .map((c) => parseCIDR(c))
      .filter((c) => c !== undefined && c.family === this.family)
      .map((c) => c!.text);
    if (mine.join(',') === this.#serviceCIDRs.join(',')) return;
    this.#serviceCIDRs = mine;
    // The nftables CIDR drop rule lives in the base chains, which only full syncs write.
    this.#fullSync.request();
    if (this.initialized) this.sync();
  }

  #onNode(node: Node): void {
    if (node.metadata?.name !== this.#opts.hostname) return;
    const labels = node.metadata?.labels ?? {};
    const ips: IP[] = [];
    for (const type of ['InternalIP', 'ExternalIP']) {
      for (const a of node.status?.addresses ?? []) {
        const ip = a.type === type && a.address !== undefined ? parseIP(a.address) : undefined;
        if (ip && ip.family === this.family && !ips.some((x) => x.text === ip.text)) ips.push(ip);
      }
    }
    const zoneChanged = labels[LABEL_TOPOLOGY_ZONE] !== this.#nodeLabels?.[LABEL_TOPOLOGY_ZONE];
    const ipsChanged = ips.map((i) => i.text).join(',') !== this.#nodeIPs.map((i) => i.text).join(',');
    this.#nodeLabels = { ...labels };
    this.#nodeIPs = ips;
    if (!zoneChanged && !ipsChanged) return;
    this.#log.v(4, 'Updated proxier node', { node: this.#opts.hostname, ips: ips.map((i) => i.text) });
    this.#fullSync.request();
    if (this.initialized) this.sync();
  }

  /** Where NodePorts are accepted (upstream proxyutil.NodePortAddresses). */
  #nodePortIPs(): 'all' | string[] {
    const npa = this.#opts.nodePortAddresses;
    if (npa.length === 1 && npa[0] === 'primary') {
      return this.#nodeIPs.slice(0, 1).map((ip) => ip.text);
    }
    const cidrs = npa.map((c) => parseCIDR(c)).filter((c) => c !== undefined && c.family === this.family);
    // No CIDR of this family, or 0.0.0.0/0 / ::/0: every local address (upstream MatchAll).
    if (cidrs.length === 0 || cidrs.some((c) => c!.prefix === 0)) return 'all';
    const out: string[] = [];
    for (const a of this.#opts.localAddresses()) {
      const ip = parseIP(a);
      if (!ip || ip.family !== this.family) continue;
      if (isLoopback(ip) && !this.backend.localhostNodePorts) continue;
      if (cidrs.some((c) => cidrContains(c!, ip)) && !out.includes(ip.text)) out.push(ip.text);
    }
    return out;
  }

  #nodeFacts(): NodeFacts {
    return {
      name: this.#opts.hostname,
      zone: this.#nodeLabels?.[LABEL_TOPOLOGY_ZONE] ?? '',
      ips: [...this.#nodeIPs],
      nodePortIPs: this.#nodePortIPs(),
    };
  }

  /**
   * One sync. Never throws: failures are logged, reported and retried. Handlers run while the
   * backend awaits the kernel; what they change is picked up by the next sync (see FullSyncRequests).
   */
  async syncProxyRules(): Promise<void> {
    if (!this.initialized || this.#closed) {
      this.#log.v(2, `Not syncing ${this.backend.mode} until Services and EndpointSlices have been received`);
      return;
    }
    if (this.#driftCheckDue) {
      this.#driftCheckDue = false;
      const drift = await this.#checkDrift();
      // A tick that found nothing to repair and no change to write does not sync.
      if (!drift && !this.#syncRequested && !this.#fullSync.pending) return;
    }
    this.#syncRequested = false;
    const start = this.#clock.now();
    if (start - this.#lastFullSync > FULL_SYNC_PERIOD_MS && (this.backend.wantsPeriodicFullSync?.() ?? true))
      this.#fullSync.request();
    const requests = this.#fullSync.snapshot();
    const full = this.#fullSync.pending;
    const updatedServices = this.#svcPortMap.apply(this.#serviceChanges.checkout());
    const endpointResult = this.#endpointsMap.apply(this.#endpointsChanges.checkout());
    try {
      const result = await this.backend.sync({
        full,
        changedServices: new Set([...updatedServices, ...endpointResult.updatedServices]),
        servicePorts: this.#svcPortMap,
        endpoints: this.#endpointsMap,
        node: this.#nodeFacts(),
        serviceCIDRs: [...this.#serviceCIDRs],
        startedAt: start,
        requestFullSync: () => this.#fullSync.request(),
      });
      if (full) {
        this.#fullSync.covered(requests);
        this.#lastFullSync = start;
      }
      const stats: SyncStats = {
        full,
        durationMs: this.#clock.now() - start,
        servicePorts: this.#svcPortMap.size,
        endpoints: result.endpoints,
        operations: result.operations,
        lastChangeTriggerTimes: endpointResult.lastChangeTriggerTimes,
        noLocalEndpoints: result.noLocalEndpoints,
        ...(result.counts && { backend: result.counts }),
      };
      this.#log.v(2, 'SyncProxyRules complete', {
        ipFamily: this.family,
        full,
        elapsed: `${stats.durationMs.toFixed(1)}ms`,
        servicePorts: stats.servicePorts,
        endpoints: stats.endpoints,
        operations: stats.operations,
      });
      this.#opts.observer?.synced?.(this.family, stats);
      await this.#syncHealthChecks();
      if (endpointResult.conntrackCleanupRequired) await this.#cleanStaleUDPFlows();
    } catch (err) {
      // The change trackers are already flushed: only a full sync can restore a known state.
      this.#fullSync.request();
      this.backend.reset();
      this.#log.error('Sync failed', {
        ipFamily: this.family,
        retryingTime: `${this.#opts.syncPeriodMs / 1000}s`,
        err,
      });
      this.#opts.observer?.failed?.(this.family, err, this.#clock.now() - start, {
        full,
        mode: this.backend.mode,
      });
      this.#runner.retryAfter(this.#opts.syncPeriodMs);
    }
  }

  /** Whether the backend found drift (then a full sync is requested). Failures are logged only. */
  async #checkDrift(): Promise<boolean> {
    if (this.#fullSync.pending || !this.backend.checkDrift) return false;
    try {
      const diffs = await this.backend.checkDrift();
      if (diffs.length === 0) return false;
      this.#log.info('Kernel rules differ from what was last written; forcing a full resync', {
        ipFamily: this.family,
        differences: diffs,
      });
      this.#opts.observer?.drift?.(this.family, this.backend.mode);
      this.#fullSync.request();
      return true;
    } catch (err) {
      this.#log.error('Drift check failed', { ipFamily: this.family, err });
      return false;
    }
  }

  async #cleanStaleUDPFlows(): Promise<void> {
    const ct = this.#opts.conntrack;
    if (!ct) return;
    const start = this.#clock.now();
    try {
      const flows = await ct.listUDP(this.family);
      const filters = staleFlowFilters(flows, this.#svcPortMap.values(), (k) => this.#endpointsMap.get(k));
      let deleted = 0;
      for (const f of filters) deleted += await ct.deleteUDP(this.family, f);
      if (filters.length > 0)
        this.#log.v(2, 'Deleted stale UDP conntrack entries', { ipFamily: this.family, deleted });
      this.#opts.observer?.conntrackCleaned?.(this.family, this.#clock.now() - start, deleted);
    } catch (err) {
      // The rules are right already; a stale flow only lingers until its UDP timeout.
      this.#log.error('Failed to clean stale UDP conntrack entries', { ipFamily: this.family, err });
    }
  }

  async #syncHealthChecks(): Promise<void> {
    const health = this.#opts.serviceHealth;
    if (!health) return;
    try {
      await health.syncServices(this.#svcPortMap.healthCheckNodePorts());
      health.syncEndpoints(this.#endpointsMap.localReadyEndpoints());
    } catch (err) {
      this.#log.error('Error syncing healthcheck services', { ipFamily: this.family, err });
    }
  }

  /**
   * What this family's proxier believes about one service, from what it last synced (read-only):
   * its ports, the endpoints each traffic policy chose and why the others were left out.
   * Undefined when the service has no port of this family.
   */
  describeService(namespace: string, name: string): FamilyBeliefs | undefined {
    const ports = this.#svcPortMap.portsOf(`${namespace}/${name}`);
    if (ports.length === 0) return undefined;
    const node = { name: this.#opts.hostname, zone: this.#nodeLabels?.[LABEL_TOPOLOGY_ZONE] ?? '' };
    return {
      family: this.family,
      mode: this.backend.mode,
      node,
      pendingChanges: this.#serviceChanges.pendingCount + this.#endpointsChanges.pendingCount,
      ports: ports
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
        .map((sp) => describePort(sp, this.#endpointsMap.get(sp.key), node)),
    };
  }

  /** Where health-check node ports listen: the NodePort addresses, or everywhere when those are "all". */
  healthCheckAddresses(): readonly string[] {
    const ips = this.#nodePortIPs();
    return ips === 'all' ? [] : ips;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#driftTimer !== undefined) this.#clock.clearTimeout(this.#driftTimer);
    await this.#runner.close();
    await this.backend.close?.();
    await this.#opts.serviceHealth?.close();
  }
}
