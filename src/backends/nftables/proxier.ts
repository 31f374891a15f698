// The nftables proxier of one IP family: turns watch events into pending changes and, on each
// sync, one atomic transaction for table kube-proxy. A failed sync never throws out of here: it
// is logged, retried after syncPeriod, and the next sync is a full one.

import { staleFlowFilters } from '../../conntrack/stale-flows.ts';
import type { Conntrack } from '../../kernel/conntrack.ts';
import type { KernelElement, Nftables } from '../../kernel/nft/nftables.ts';
import { Transaction } from '../../kernel/nft/transaction.ts';
import type { Logger } from '../../log/logger.ts';
import type { EndpointSlice, Node, Service } from '../../model/k8s.ts';
import { LABEL_TOPOLOGY_ZONE } from '../../model/k8s.ts';
import { type ServicePort, serviceKeyOf } from '../../model/service-port.ts';
import { FullSyncRequests } from '../../proxy/full-sync-requests.ts';
import { BoundedFrequencyRunner, type Clock } from '../../runner/bounded-frequency-runner.ts';
import type { ProxyHandlers } from '../../sources/handlers.ts';
import { categorizeEndpoints } from '../../topology/categorize-endpoints.ts';
import { EndpointsChangeTracker, EndpointsMap } from '../../tracking/endpoints-change-tracker.ts';
import { ServiceChangeTracker, ServicePortMap } from '../../tracking/service-change-tracker.ts';
import { cidrContains, type IP, type IPFamily, parseCIDR, parseIP } from '../../util/ip.ts';
import type { LocalDetector } from './local-detector.ts';
import { affinityMapOwner, isAffinityName, isServiceChainName, TABLE } from './names.ts';
import {
  type AffinityMap,
  ipX,
  RulesetElements,
  type RulesetOptions,
  writeBaseRuleset,
  writeServicePort,
} from './ruleset.ts';

export interface ProxierOptions {
  readonly family: IPFamily;
  readonly hostname: string;
  readonly nft: Nftables;
  readonly logger: Logger;
  readonly minSyncPeriodMs: number;
  readonly syncPeriodMs: number;
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
  readonly localDetector: LocalDetector;
  /** ["primary"] or CIDRs; NodePorts are accepted on local addresses inside them. */
  readonly nodePortAddresses: readonly string[];
  /** The node's addresses, for nodePortAddresses CIDRs (the proxy runs in the node's network namespace). */
  readonly localAddresses: () => readonly string[];
  readonly clock?: Clock;
  readonly now?: () => Date;
  readonly observer?: SyncObserver;
  /** Health-check node port servers; told after each successful sync which services need one. */
  readonly serviceHealth?: ServiceHealth;
  /** Stale UDP flows are deleted through this after syncs that changed UDP services' endpoints. */
  readonly conntrack?: Conntrack;
}

/** What the proxier needs of the health-check node port server (a fake in tests). */
export interface ServiceHealth {
  syncServices(ports: ReadonlyMap<string, number>): Promise<void>;
  syncEndpoints(counts: ReadonlyMap<string, number>): void;
  close(): Promise<void>;
}

/** Hooks for health and metrics; the proxier does not know who listens. */
export interface SyncObserver {
  queued?(family: IPFamily): void;
  synced?(family: IPFamily, stats: SyncStats): void;
  failed?(family: IPFamily, err: unknown, durationMs: number): void;
  /** After a stale UDP flow cleanup: how long it took and how many flows went. */
  conntrackCleaned?(family: IPFamily, durationMs: number, deleted: number): void;
}

export interface SyncStats {
  readonly full: boolean;
  readonly durationMs: number;
  readonly servicePorts: number;
  readonly endpoints: number;
  readonly operations: number;
  readonly lastChangeTriggerTimes: ReadonlyMap<string, Date[]>;
  /** Service ports whose internal / external traffic policy is Local but which have no local endpoints. */
  readonly noLocalEndpoints: { readonly internal: number; readonly external: number };
}

/** What one service port contributed to the kernel in the last successful sync. */
interface PortState {
  readonly svcKey: string;
  readonly chains: readonly string[];
  readonly affinityMaps: readonly AffinityMap[];
  readonly endpoints: number;
  readonly noLocalInternal: boolean;
  readonly noLocalExternal: boolean;
}

/** Stale chains are deleted this long after they were flushed: older kernels notice unreferenced chains late. */
const STALE_CHAIN_GRACE_MS = 1000;
const FULL_SYNC_PERIOD_MS = 60 * 60 * 1000;

export class NftablesProxier implements ProxyHandlers {
  readonly family: IPFamily;
  readonly #opts: ProxierOptions;
  readonly #log: Logger;
  readonly #now: () => Date;
  readonly #serviceChanges: ServiceChangeTracker;
  readonly #endpointsChanges: EndpointsChangeTracker;
  readonly #svcPortMap = new ServicePortMap();
  readonly #endpointsMap = new EndpointsMap();
  readonly #elements = new RulesetElements();
  readonly #runner: BoundedFrequencyRunner;
  #servicesSynced = false;
  #endpointSlicesSynced = false;
  readonly #fullSync = new FullSyncRequests();
  #baseChainsRecreated = false;
  #lastFullSync = Number.NEGATIVE_INFINITY;
  /** Service and endpoint chains the kernel holds after the last successful sync. */
  #chains = new Set<string>();
  /** Session-affinity maps the kernel holds after the last successful sync. */
  #affinityMaps = new Set<string>();
  #staleChains = new Map<string, number>();
  /** What each service port wrote in the last successful sync, by ServicePort key. */
  #ports = new Map<string, PortState>();
  #portsByService = new Map<string, Set<string>>();
  #endpointTotal = 0;
  #noLocalInternal = 0;
  #noLocalExternal = 0;
  #nodeLabels: Record<string, string> | undefined;
  #nodeIPs: IP[] = [];
  #serviceCIDRs: string[] = [];
  #closed = false;

  constructor(opts: ProxierOptions) {
    this.family = opts.family;
    this.#opts = opts;
    this.#log = opts.logger;
    this.#now = opts.now ?? (() => new Date());
    this.#serviceChanges = new ServiceChangeTracker(opts.family, opts.logger);
    this.#endpointsChanges = new EndpointsChangeTracker(opts.hostname, opts.family, opts.logger, this.#now());
    this.#runner = new BoundedFrequencyRunner(() => this.syncProxyRules(), {
      minIntervalMs: opts.minSyncPeriodMs,
      maxIntervalMs: FULL_SYNC_PERIOD_MS,
      ...(opts.clock !== undefined && { clock: opts.clock }),
    });
    this.#runner.start();
  }

  get initialized(): boolean {
    return this.#servicesSynced && this.#endpointSlicesSynced;
  }

  /** Requests a sync, rate-limited by minSyncPeriod. */
  sync(): void {
    if (this.#closed) return;
    this.#opts.observer?.queued?.(this.family);
    this.#runner.run();
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
    // The CIDR drop rule lives in the base chains, which only full syncs write.
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

  #rulesetOptions(): RulesetOptions {
    return {
      family: this.family,
      masqueradeAll: this.#opts.masqueradeAll,
      masqueradeMark: `0x${((1 << this.#opts.masqueradeBit) >>> 0).toString(16)}`,
      localDetector: this.#opts.localDetector,
      nodePortIPs: this.#nodePortIPs(),
      nodeIP: this.#nodeIPs[0],
      serviceCIDRs: this.#serviceCIDRs,
    };
  }

  #nodePortIPs(): 'all' | string[] {
    const npa = this.#opts.nodePortAddresses;
    if (npa.length === 1 && npa[0] === 'primary') {
      return this.#nodeIPs.slice(0, 1).map((ip) => ip.text);
    }
    const cidrs = npa.map((c) => parseCIDR(c)).filter((c) => c !== undefined && c.family === this.family);
    if (cidrs.length === 0) return 'all';
    const out: string[] = [];
    for (const a of this.#opts.localAddresses()) {
      const ip = parseIP(a);
      if (!ip || ip.family !== this.family) continue;
      // Localhost NodePorts are not supported in nftables mode.
      if (ip.text.startsWith('127.') || ip.text === '::1') continue;
      if (cidrs.some((c) => cidrContains(c!, ip)) && !out.includes(ip.text)) out.push(ip.text);
    }
    return out;
  }

  /**
   * One sync. Never throws: failures are logged, reported and retried. A full sync rewrites the
   * table; a partial sync recomputes only the services whose ports or endpoints changed, so its
   * cost follows the size of the change, not of the cluster.
   */
  async syncProxyRules(): Promise<void> {
    if (!this.initialized || this.#closed) {
      this.#log.v(2, 'Not syncing nftables until Services and EndpointSlices have been received');
      return;
    }
    const start = performance.now();
    if (start - this.#lastFullSync > FULL_SYNC_PERIOD_MS) this.#fullSync.request();
    // Requests made while this sync awaits the kernel stay pending for the next one.
    const requests = this.#fullSync.snapshot();
    const full = this.#fullSync.pending;
    const updatedServices = this.#svcPortMap.apply(this.#serviceChanges.checkout());
    const endpointResult = this.#endpointsMap.apply(this.#endpointsChanges.checkout());
    try {
      await this.#deleteStaleChains(start);
      const tx = new Transaction(ipX(this.family), TABLE);
      const opts = this.#rulesetOptions();
      let kernelChains = this.#chains;
      let kernelAffinity = this.#affinityMaps;
      // Which service ports to (re)write, and the previous state of those that go away.
      let visit: Iterable<ServicePort>;
      let previous: Map<string, PortState>;
      if (full) {
        // After a restart or a failure we do not know what the kernel holds: ask it.
        kernelChains = new Set(
          (await this.#opts.nft.list(tx.family, TABLE, 'chains')).filter(isServiceChainName),
        );
        kernelAffinity = new Set(
          [
            ...(await this.#opts.nft.list(tx.family, TABLE, 'maps')),
            // per-endpoint affinity sets of earlier versions, removed below
            ...(await this.#opts.nft.list(tx.family, TABLE, 'sets')),
          ].filter(isAffinityName),
        );
        writeBaseRuleset(tx, opts, this.#elements, !this.#baseChainsRecreated);
        visit = this.#svcPortMap.values();
        previous = new Map(); // everything in the kernel that is not rewritten is stale (below)
      } else {
        const changed = new Set([...updatedServices, ...endpointResult.updatedServices]);
        const ports: ServicePort[] = [];
        previous = new Map();
        for (const svcKey of changed) {
          ports.push(...this.#svcPortMap.portsOf(svcKey));
          for (const spKey of this.#portsByService.get(svcKey) ?? [])
            previous.set(spKey, this.#ports.get(spKey)!);
        }
        visit = ports;
      }
      // New state of the visited ports; undefined for ports that went away.
      const updates = new Map<string, PortState | undefined>();
      for (const spKey of previous.keys()) updates.set(spKey, undefined);
      const chainExists = (c: string) => kernelChains.has(c) || this.#staleChains.has(c);
      const zone = this.#nodeLabels?.[LABEL_TOPOLOGY_ZONE] ?? '';
      const writtenChains = new Set<string>();
      const writtenAffinity = new Set<string>();
      // The affinity map each policy chain and port had, to carry its still-valid entries into a new map.
      const oldAffinity = new Map<string, string>();
      const previousAffinity = full
        ? kernelAffinity
        : [...previous.values()].flatMap((st) => st.affinityMaps.map((m) => m.map));
      for (const name of previousAffinity) {
        const owner = affinityMapOwner(name);
        if (owner !== undefined) oldAffinity.set(`${owner.chain} ${owner.port}`, name);
      }
      for (const sp of visit) {
        const endpoints = this.#endpointsMap.get(sp.key);
        const cat = categorizeEndpoints(endpoints, sp, this.#opts.hostname, zone);
        const r = writeServicePort(tx, sp, cat, opts, this.#elements, chainExists);
        for (const storage of this.#elements.all()) storage.set(tx, sp.key, r.elements.get(storage) ?? []);
        for (const c of r.chains) writtenChains.add(c);
        for (const m of r.affinityMaps) {
          writtenAffinity.add(m.map);
          const old = oldAffinity.get(`${m.chain} ${m.port}`);
          if (!kernelAffinity.has(m.map) && old !== undefined && old !== m.map)
            await this.#carryAffinity(tx, old, m, sp.stickyMaxAgeSeconds);
        }
        updates.set(sp.key, {
          svcKey: serviceKeyOf(sp.name.namespace, sp.name.name),
          chains: r.chains,
          affinityMaps: r.affinityMaps,
          endpoints: endpoints.length,
          noLocalInternal: r.noLocalEndpointsInternal,
          noLocalExternal: r.noLocalEndpointsExternal,
        });
      }
      // Ports that went away give up their elements.
      for (const [spKey, st] of updates) {
        if (st === undefined) for (const storage of this.#elements.all()) storage.set(tx, spKey, []);
      }
      // Stale chains are flushed now and deleted a moment later (see #deleteStaleChains). Chain
      // names belong to one service port, so only the rewritten ports' old chains can go stale.
      const candidates = full ? kernelChains : [...previous.values()].flatMap((st) => st.chains);
      for (const chain of candidates) {
        if (writtenChains.has(chain) || this.#staleChains.has(chain)) continue;
        tx.flush({ kind: 'chain', name: chain });
        this.#staleChains.set(chain, start);
      }
      for (const c of writtenChains) this.#staleChains.delete(c);
      // After the flushes above, no rule refers to a stale map any more ("delete set" deletes maps too).
      for (const name of previousAffinity) {
        if (!writtenAffinity.has(name)) tx.delete({ kind: 'set', name, type: 'ipv4_addr' });
      }

      await this.#opts.nft.run(tx);

      if (full) {
        this.#ports.clear();
        this.#portsByService.clear();
        this.#chains = new Set();
        this.#affinityMaps = new Set();
        this.#endpointTotal = 0;
        this.#noLocalInternal = 0;
        this.#noLocalExternal = 0;
      }
      for (const [spKey, st] of updates) this.#setPortState(spKey, st);
      this.#baseChainsRecreated = true;
      if (full) {
        this.#fullSync.covered(requests);
        this.#lastFullSync = start;
      }
      const stats: SyncStats = {
        full,
        durationMs: performance.now() - start,
        servicePorts: this.#svcPortMap.size,
        endpoints: this.#endpointTotal,
        operations: tx.numOperations,
        lastChangeTriggerTimes: endpointResult.lastChangeTriggerTimes,
        noLocalEndpoints: { internal: this.#noLocalInternal, external: this.#noLocalExternal },
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
      for (const s of this.#elements.all()) s.clear();
      this.#staleChains.clear();
      this.#log.error('Sync failed', {
        ipFamily: this.family,
        retryingTime: `${this.#opts.syncPeriodMs / 1000}s`,
        err,
      });
      this.#opts.observer?.failed?.(this.family, err, performance.now() - start);
      this.#runner.retryAfter(this.#opts.syncPeriodMs);
    }
  }

  /** Records what a port now holds in the kernel (undefined: nothing any more). */
  #setPortState(spKey: string, st: PortState | undefined): void {
    const old = this.#ports.get(spKey);
    if (old) {
      this.#endpointTotal -= old.endpoints;
      this.#noLocalInternal -= Number(old.noLocalInternal);
      this.#noLocalExternal -= Number(old.noLocalExternal);
      for (const c of old.chains) this.#chains.delete(c);
      for (const m of old.affinityMaps) this.#affinityMaps.delete(m.map);
      const ports = this.#portsByService.get(old.svcKey);
      ports?.delete(spKey);
      if (ports?.size === 0) this.#portsByService.delete(old.svcKey);
      this.#ports.delete(spKey);
    }
    if (!st) return;
    this.#ports.set(spKey, st);
    this.#endpointTotal += st.endpoints;
    this.#noLocalInternal += Number(st.noLocalInternal);
    this.#noLocalExternal += Number(st.noLocalExternal);
    for (const c of st.chains) this.#chains.add(c);
    for (const m of st.affinityMaps) this.#affinityMaps.add(m.map);
    const ports = this.#portsByService.get(st.svcKey) ?? new Set<string>();
    ports.add(spKey);
    this.#portsByService.set(st.svcKey, ports);
  }

  /**
   * Copies the entries of a policy chain's old affinity map that still name one of its endpoints
   * into the chain's new map, with their remaining lifetime: clients of endpoints that stay keep
   * their endpoint, as with upstream's per-endpoint sets. Entries the data path adds between this
   * read and the commit are lost (those clients pick again); none can point at a removed endpoint.
   */
  async #carryAffinity(
    tx: Transaction,
    oldMap: string,
    m: AffinityMap,
    timeoutSeconds: number,
  ): Promise<void> {
    let entries: KernelElement[];
    try {
      entries = await this.#opts.nft.listElements(tx.family, TABLE, oldMap);
    } catch (err) {
      this.#log.v(2, 'Could not read an affinity map; its clients will pick again', { map: oldMap, err });
      return;
    }
    const valid = new Set(m.addresses.map((a) => parseIP(a)?.text));
    for (const e of entries) {
      const client = e.key.length === 1 ? parseIP(e.key[0]!) : undefined;
      const endpoint = e.value.length === 1 ? parseIP(e.value[0]!) : undefined;
      if (client?.family !== this.family || !endpoint || !valid.has(endpoint.text) || !e.expiresSeconds)
        continue;
      tx.add({
        kind: 'element',
        set: m.map,
        key: [client.text],
        value: endpoint.text,
        expiresSeconds: Math.min(e.expiresSeconds, timeoutSeconds),
      });
    }
  }

  async #cleanStaleUDPFlows(): Promise<void> {
    const ct = this.#opts.conntrack;
    if (!ct) return;
    const start = performance.now();
    try {
      const flows = await ct.listUDP(this.family);
      const filters = staleFlowFilters(flows, this.#svcPortMap.values(), (k) => this.#endpointsMap.get(k));
      let deleted = 0;
      for (const f of filters) deleted += await ct.deleteUDP(this.family, f);
      if (filters.length > 0)
        this.#log.v(2, 'Deleted stale UDP conntrack entries', { ipFamily: this.family, deleted });
      this.#opts.observer?.conntrackCleaned?.(this.family, performance.now() - start, deleted);
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

  /** Where health-check node ports listen: the NodePort addresses, or everywhere when those are "all". */
  healthCheckAddresses(): readonly string[] {
    const ips = this.#nodePortIPs();
    return ips === 'all' ? [] : ips;
  }

  async #deleteStaleChains(now: number): Promise<void> {
    const due = [...this.#staleChains].filter(([, t]) => now - t >= STALE_CHAIN_GRACE_MS).map(([c]) => c);
    if (due.length === 0) return;
    const tx = new Transaction(ipX(this.family), TABLE);
    for (const chain of due) {
      tx.delete({ kind: 'chain', name: chain });
      this.#staleChains.delete(chain);
    }
    this.#log.v(2, 'Deleting stale nftables chains', { ipFamily: this.family, numChains: due.length });
    try {
      await this.#opts.nft.run(tx);
    } catch (err) {
      // Chains that still exist are found again by the next full sync.
      this.#fullSync.request();
      this.#log.error('Unable to delete stale chains; will retry later', { ipFamily: this.family, err });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#runner.close();
    await this.#opts.serviceHealth?.close();
  }
}
