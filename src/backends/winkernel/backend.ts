// The kernelspace (Windows) backend: one HNS load balancer per service frontend, following
// upstream's winkernel proxier (pkg/proxy/winkernel/proxier.go). Its state is what upstream keeps
// in serviceInfo/endpointInfo: the HNS IDs of each frontend's load balancer, whether a service's
// policies are applied, and reference counts of the remote endpoints it created. A sync first
// replays what changed since the last one the way upstream's change-tracker callbacks do (a changed
// service loses its load balancers; changed endpoints are re-applied, in place when HNS can), then
// applies every service whose policies are not applied.
import { KubeProxyError } from '../../errors.ts';
import type { HcnClient } from '../../kernel/hns/client.ts';
import { isHnsNotRunning } from '../../kernel/hns/errors.ts';
import type { SupportedFeatures } from '../../kernel/hns/schema.ts';
import type { Logger } from '../../log/logger.ts';
import { endpointsEqual } from '../../model/endpoint.ts';
import { externallyAccessible, serviceKeyOf } from '../../model/service-port.ts';
import type { ProxyBackend, SyncObserver, SyncRequest, SyncResult } from '../../proxy/types.ts';
import { categorizeEndpoints } from '../../topology/categorize-endpoints.ts';
import type { IPFamily } from '../../util/ip.ts';
import { selectEndpoints } from './endpoint-selection.ts';
import { type FrontendContext, syncFrontend } from './frontend.ts';
import {
  conjureMac,
  findRemoteSubnetProviderAddress,
  type HnsEndpoint,
  HostNetworkService,
  isOverlay,
  type NetworkInfo,
  type QueriedLoadBalancers,
} from './hns.ts';
import { classifyLBError, type LoadBalancerType } from './load-balancer-types.ts';
import { countingClient, LoadBalancerOwnership } from './ownership.ts';
import {
  type EndpointRecord,
  newRecord,
  newServiceState,
  type Reference,
  ReferenceCounts,
  type RemoteRecord,
  type ServicePortView,
  type ServiceState,
  viewOf,
} from './state.ts';

export type { ServicePortView } from './state.ts';

/** At most this many stale load balancers are deleted per sync; the rest wait for the next. */
export const MAX_STALE_LOAD_BALANCERS_PER_SYNC = 20;

export interface WinkernelBackendOptions {
  readonly family: IPFamily;
  readonly hcn: HcnClient;
  readonly logger: Logger;
  /** The HNS network found at start (setup.ts). */
  readonly network: NetworkInfo;
  /** Overlay networks: the source VIP of load balancers (--source-vip); "" on l2bridge. */
  readonly sourceVip: string;
  /** Overlay networks: this node's MAC address, for the source VIP and service VIP endpoints. */
  readonly hostMac: string;
  /** This node's IP of the family: the provider address of what this node creates. */
  readonly nodeIP: string;
  /** --enable-dsr (winkernel.enableDSR): ClusterIP load balancers return directly. */
  readonly isDSR: boolean;
  readonly features: SupportedFeatures;
  /** Port of --healthz-bind-address: the health-check VIP's target without a health check node port. */
  readonly healthzPort: number;
  readonly forwardHealthCheckVip: boolean;
  readonly rootHnsEndpointName: string;
  /** Shared by the two families' backends of one process, for the full sync's stale sweep. */
  readonly ownership?: LoadBalancerOwnership;
  /** The core's observer: load balancer failures are counted as upstream counts them. */
  readonly observer?: SyncObserver;
}

const PROTOCOL_NUMBERS: Record<string, number> = { TCP: 6, UDP: 17, SCTP: 132 };

export class WinkernelBackend implements ProxyBackend {
  readonly mode = 'kernelspace' as const;
  readonly localhostNodePorts = false;
  readonly hns: HostNetworkService;
  readonly #opts: WinkernelBackendOptions;
  readonly #log: Logger;
  readonly #ownership: LoadBalancerOwnership;
  readonly #counter: { operations: number };
  #network: NetworkInfo;
  #features: SupportedFeatures;
  readonly #services = new Map<string, ServiceState>();
  readonly #endpoints = new Map<string, EndpointRecord[]>();
  readonly #portsByService = new Map<string, Set<string>>();
  readonly #refs = new ReferenceCounts();
  readonly #stale = new Map<string, LoadBalancerType>();
  readonly #terminated = new Set<string>();
  /** Services whose policies failed this sync (they are retried at the next). */
  #failed: string[] = [];

  constructor(opts: WinkernelBackendOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
    const counted = countingClient(opts.hcn);
    this.#counter = counted.counter;
    this.hns = new HostNetworkService(counted.client, opts.logger);
    this.#network = opts.network;
    this.#features = { ...opts.features };
    this.#ownership = opts.ownership ?? new LoadBalancerOwnership();
  }

  get #isIPv6(): boolean {
    return this.#opts.family === 'IPv6';
  }

  /** The current view of one service port (for tests and debugging); undefined if unknown. */
  inspect(spKey: string): ServicePortView | undefined {
    const s = this.#services.get(spKey);
    return s && viewOf(s, this.#endpoints.get(spKey) ?? [], this.#refs);
  }

  /** The shared reference count of a remote HNS endpoint this proxier uses. */
  refCount(hnsID: string): number | undefined {
    return this.#refs.get(hnsID);
  }

  /** Load balancers whose deletion failed, by HNS ID: retried each sync. */
  staleLoadBalancers(): ReadonlyMap<string, LoadBalancerType> {
    return this.#stale;
  }

  get features(): SupportedFeatures {
    return this.#features;
  }

  get network(): NetworkInfo {
    return this.#network;
  }

  async sync(req: SyncRequest): Promise<SyncResult> {
    const start = this.#counter.operations;
    this.#failed = [];
    const hns = this.hns;
    const networkName = this.#network.name;
    let gateway: HnsEndpoint | undefined;
    if (this.#opts.forwardHealthCheckVip) {
      gateway = await hns.getEndpointByName(this.#opts.rootHnsEndpointName).catch(() => undefined);
    }
    let updated: NetworkInfo | undefined;
    try {
      updated = await hns.getNetworkByName(networkName);
    } catch (err) {
      if (isHnsNotRunning(err))
        throw new KubeProxyError('KP_ERR_HNS', `HNS is not running; cannot read network ${networkName}`, {
          cause: err,
        });
    }
    if (updated === undefined || updated.id !== this.#network.id) {
      this.#log.info(
        'The HNS network is not present or has changed since the last sync, please check the CNI deployment',
        {
          hnsNetworkName: networkName,
        },
      );
      await this.#cleanupAllPolicies();
      if (updated) this.#network = updated;
      throw new KubeProxyError(
        'KP_ERR_HNS',
        `HNS network ${networkName} ${updated ? 'changed' : 'not found'}: its policies were removed and are applied again at the next sync`,
      );
    }
    this.#terminated.clear();
    await this.#applyChanges(req);

    const queried = await hns.getAllEndpointsByNetwork(networkName);
    try {
      const queriedLBs = await hns.getAllLoadBalancers();
      if (isOverlay(this.#network) && !queried.endpoints.has(this.#opts.sourceVip)) {
        // The source VIP is this node's own endpoint on the overlay: load-balanced traffic leaves from it.
        await hns.createEndpoint(
          {
            ip: this.#opts.sourceVip,
            isLocal: true,
            macAddress: this.#opts.hostMac,
            providerAddress: this.#opts.nodeIP,
          },
          networkName,
        );
      }
      for (const [spKey, state] of this.#services) {
        if (state.policyApplied) continue;
        const outcome = await this.#applyService(spKey, state, queried.endpoints, queriedLBs, gateway);
        if (outcome === 'network-lost') {
          await this.#cleanupAllPolicies();
          throw new KubeProxyError('KP_ERR_HNS', `HNS network ${networkName} went away during the sync`);
        }
        if (outcome === 'failed') this.#failed.push(spKey);
      }
      await this.#deleteTerminatedEndpoints(queried.endpoints);
      await this.#cleanupStaleLoadBalancers();
      if (req.full) this.#sweepUnowned(queriedLBs);
    } finally {
      await hns.deleteAllRemoteEndpointsWithDupIP(queried.remoteDuplicates);
    }
    this.#ownership.set(this, this.#ownedIDs());

    if (this.#failed.length > 0) {
      // Upstream retries them at its next periodic sync; the core retries a failed sync after syncPeriod.
      throw new KubeProxyError(
        'KP_ERR_HNS',
        `policies of ${this.#failed.length} service port(s) could not be applied: ${this.#failed.slice(0, 5).join(', ')}`,
      );
    }
    return this.#result(req, this.#counter.operations - start);
  }

  #result(req: SyncRequest, operations: number): SyncResult {
    let endpoints = 0;
    let internal = 0;
    let external = 0;
    for (const sp of req.servicePorts.values()) {
      const eps = req.endpoints.get(sp.key);
      endpoints += eps.length;
      const cat = categorizeEndpoints(eps, sp, req.node.name, req.node.zone);
      if (!cat.hasAnyEndpoints || cat.localEndpoints.length > 0) continue;
      if (sp.internalPolicyLocal) internal++;
      if (sp.externalPolicyLocal && externallyAccessible(sp)) external++;
    }
    return { operations, endpoints, noLocalEndpoints: { internal, external } };
  }

  /** A failed sync leaves HNS holding what it holds; the next sync re-reads it, so nothing is forgotten here. */
  reset(): void {}

  /**
   * Load balancers this proxier made that HNS no longer holds (someone deleted them, or HNS lost
   * them on a restart). Upstream never notices; here the core then forces a full sync, which
   * creates them again.
   */
  async checkDrift(): Promise<string[]> {
    const held = new Set((await this.hns.hcn.listLoadBalancers()).map((lb) => lb.ID));
    const diffs: string[] = [];
    for (const [spKey, s] of this.#services) {
      const ids = [s.hnsID, s.nodePortHnsID, ...s.externalIPs.map((e) => e.hnsID)];
      for (const i of s.ingressIPs) ids.push(i.hnsID, i.healthCheckHnsID);
      for (const id of ids)
        if (id !== '' && !held.has(id)) diffs.push(`load balancer ${id} of ${spKey} is gone`);
    }
    return diffs;
  }

  // --- change replay (upstream serviceMapChange / endpointsMapChange) ---

  async #applyChanges(req: SyncRequest): Promise<void> {
    const endpointChanges: string[][] = [];
    const changed = new Set(req.changedServices);
    if (req.full) {
      // A failed sync may have dropped changes the core handed over: compare everything.
      for (const sp of req.servicePorts.values()) changed.add(serviceKeyOf(sp.name.namespace, sp.name.name));
      for (const svc of this.#portsByService.keys()) changed.add(svc);
    }
    for (const svc of changed) {
      const before = this.#portsByService.get(svc) ?? new Set<string>();
      const current = req.servicePorts.portsOf(svc);
      const keys = [...new Set([...before, ...current.map((sp) => sp.key)])];
      // A service whose ports changed loses every load balancer and gets fresh state.
      const serviceChanged =
        current.length !== before.size || current.some((sp) => this.#services.get(sp.key)?.sp !== sp);
      if (serviceChanged) {
        for (const key of keys) {
          const old = this.#services.get(key);
          if (old) await this.#cleanupService(old, this.#endpoints.get(key) ?? [], false);
          this.#services.delete(key);
        }
        for (const sp of current) this.#services.set(sp.key, newServiceState(sp, this.#features.dsr));
      }
      if (current.length > 0) this.#portsByService.set(svc, new Set(current.map((sp) => sp.key)));
      else this.#portsByService.delete(svc);
      const endpointsChanged = keys.some(
        (k) => !endpointsEqual(this.#endpoints.get(k)?.map((r) => r.ep) ?? [], req.endpoints.get(k)),
      );
      if (endpointsChanged) endpointChanges.push(keys);
    }
    for (const keys of endpointChanges) {
      for (const key of keys) {
        const old = this.#endpoints.get(key) ?? [];
        for (const r of old) if (!r.ep.isLocal) this.#terminated.add(r.ep.ip);
        const state = this.#services.get(key);
        if (state) await this.#cleanupService(state, old, true);
        else for (const r of old) await this.#cleanupReference(r);
      }
      for (const key of keys) {
        const eps = req.endpoints.get(key);
        for (const ep of eps) if (!ep.isLocal) this.#terminated.delete(ep.ip);
        if (eps.length > 0 && this.#services.has(key)) this.#endpoints.set(key, eps.map(newRecord));
        else this.#endpoints.delete(key);
      }
    }
    // Endpoints of ports that went away hold no counted references any more (their cleanup
    // released them); endpoints of a port that just appeared (with unchanged slices) are tracked.
    for (const key of this.#endpoints.keys()) if (!this.#services.has(key)) this.#endpoints.delete(key);
    for (const [key, state] of this.#services) {
      if (this.#endpoints.has(key)) continue;
      const eps = req.endpoints.get(state.sp.key);
      if (eps.length > 0) this.#endpoints.set(key, eps.map(newRecord));
    }
    if (req.full) {
      // A full sync looks at every service again: what HNS lost is created anew, the rest is found
      // among the queried load balancers and left alone.
      for (const [key, state] of this.#services) {
        for (const r of this.#endpoints.get(key) ?? []) this.#refs.release(r);
        state.policyApplied = false;
      }
    }
  }

  /** upstream serviceInfo.cleanupAllPolicies. */
  async #cleanupService(
    s: ServiceState,
    endpoints: readonly EndpointRecord[],
    endpointChange: boolean,
  ): Promise<void> {
    const keep = endpointChange && s.winProxyOptimization;
    if (!keep) await this.#deleteLoadBalancerPolicy(s);
    for (const r of endpoints) {
      if (keep) this.#refs.release(r);
      else await this.#cleanupReference(r);
    }
    if (s.remoteEndpoint) await this.#cleanupReference(s.remoteEndpoint);
    s.policyApplied = false;
  }

  /** Drops one reference; the last reference to a remote endpoint deletes it from HNS. Local endpoints are never ours. */
  async #cleanupReference(r: Reference): Promise<void> {
    if (r.isLocal) return;
    const id = r.countedID;
    if (this.#refs.release(r) !== 0 || id === undefined) return;
    try {
      await this.hns.deleteEndpoint(id);
      this.#refs.forget(id);
      if (r.hnsID === id) r.hnsID = '';
    } catch (err) {
      this.#log.error('Endpoint deletion failed', { hnsID: id, err });
    }
  }

  async #deleteLoadBalancerPolicy(s: ServiceState): Promise<void> {
    const del = async (id: string, type: LoadBalancerType): Promise<boolean> => {
      try {
        await this.hns.deleteLoadBalancer(id);
        return true;
      } catch (err) {
        this.#stale.set(id, type);
        this.#lbFailed('delete', type, err);
        this.#log.error(`Error deleting ${type} LB during cleanup`, {
          hnsID: id,
          errorType: classifyLBError(err),
          err,
        });
        return false;
      }
    };
    if (s.hnsID !== '' && (await del(s.hnsID, 'clusterip'))) s.hnsID = '';
    if (s.nodePortHnsID !== '' && (await del(s.nodePortHnsID, 'nodeport'))) s.nodePortHnsID = '';
    for (const e of s.externalIPs) if (e.hnsID !== '' && (await del(e.hnsID, 'externalip'))) e.hnsID = '';
    for (const i of s.ingressIPs) {
      if (i.hnsID !== '' && (await del(i.hnsID, 'ingressip'))) i.hnsID = '';
      if (i.healthCheckHnsID !== '' && (await del(i.healthCheckHnsID, 'healthcheck')))
        i.healthCheckHnsID = '';
    }
  }

  async #cleanupAllPolicies(): Promise<void> {
    for (const [key, s] of this.#services)
      await this.#cleanupService(s, this.#endpoints.get(key) ?? [], false);
  }

  // --- applying one service port (upstream syncProxyRules' loop body) ---

  async #applyService(
    spKey: string,
    s: ServiceState,
    queried: Map<string, HnsEndpoint>,
    queriedLBs: QueriedLoadBalancers,
    gateway: HnsEndpoint | undefined,
  ): Promise<'ok' | 'failed' | 'network-lost' | 'no-endpoints'> {
    const hns = this.hns;
    const sp = s.sp;
    const networkName = this.#network.name;
    const overlay = isOverlay(this.#network);
    if (overlay && !queried.has(sp.clusterIP)) {
      // On overlay networks the ClusterIP needs an endpoint of its own, on this node's provider address.
      try {
        const created = await hns.createEndpoint(
          {
            ip: sp.clusterIP,
            isLocal: false,
            macAddress: this.#opts.hostMac,
            providerAddress: this.#opts.nodeIP,
          },
          networkName,
        );
        const remote: RemoteRecord = {
          ip: created.ip,
          isLocal: false,
          hnsID: created.hnsID,
          countedID: undefined,
        };
        this.#refs.count(remote, created.hnsID);
        s.remoteEndpoint = remote;
        queried.set(created.hnsID, created);
        queried.set(created.ip, created);
      } catch (err) {
        this.#log.error('Remote endpoint creation failed for service VIP', { clusterIP: sp.clusterIP, err });
        return 'failed';
      }
    }

    const records = this.#endpoints.get(spKey) ?? [];
    // A service retried after a failed attempt counts its references afresh.
    for (const r of records) this.#refs.release(r);
    const { candidates, allTerminating, allNonServing } = selectEndpoints(records, {
      internalTrafficLocal: s.internalTrafficLocal,
      localTrafficDSR: s.localTrafficDSR,
      hasIngressIPs: s.ingressIPs.length > 0,
    });
    const hnsEndpoints: HnsEndpoint[] = [];
    const hnsLocalEndpoints: HnsEndpoint[] = [];
    let containsPublicIP = false;
    let containsNodeIP = false;
    for (const r of candidates) {
      const ep = r.ep;
      // HNS load balancers take one backend port: the last endpoint's port wins, as upstream.
      if (s.targetPort === 0 || s.targetPort !== ep.port) s.targetPort = ep.port;
      let found: HnsEndpoint | undefined;
      if (r.hnsID !== '') found = queried.get(r.hnsID);
      found ??= queried.get(ep.ip);
      if (!found) {
        if (ep.isLocal) {
          this.#log.error('Local endpoint not found: on network', { ip: ep.ip, hnsNetworkName: networkName });
          continue;
        }
        let providerAddress = '';
        const macAddress = conjureMac('02-11', ep.ip);
        if (overlay) {
          try {
            this.#network = await hns.getNetworkByName(networkName);
          } catch (err) {
            this.#log.error(
              'Unable to find HNS Network specified, please check network name and CNI deployment',
              {
                hnsNetworkName: networkName,
                err,
              },
            );
            return 'network-lost';
          }
          providerAddress = findRemoteSubnetProviderAddress(this.#network, ep.ip);
          if (providerAddress === '') {
            this.#log.info('Could not find provider address, assuming it is a public IP', { IP: ep.ip });
            providerAddress = this.#opts.nodeIP;
          }
        }
        try {
          found = await hns.createEndpoint(
            { ip: ep.ip, isLocal: false, macAddress, providerAddress },
            networkName,
          );
        } catch (err) {
          this.#log.error('Remote endpoint creation failed', { ip: ep.ip, err });
          continue;
        }
        queried.set(found.hnsID, found);
        queried.set(found.ip, found);
      }
      if (overlay && !ep.isLocal) {
        // Source VIP choice: the node IP when backends are outside the cluster or are nodes.
        const pa = findRemoteSubnetProviderAddress(this.#network, ep.ip);
        containsNodeIP ||= ep.ip === pa;
        containsPublicIP ||= pa === '';
      }
      hnsEndpoints.push(found);
      if (found.isLocal) hnsLocalEndpoints.push(found);
      else this.#refs.count(r, found.hnsID);
      r.hnsID = found.hnsID;
    }

    if (hnsEndpoints.length === 0) {
      if (s.winProxyOptimization) await this.#deleteLoadBalancerPolicy(s);
      this.#log.v(2, 'Endpoint information not available for service, not applying any policy', {
        servicePort: spKey,
      });
      // Upstream leaves policyApplied false: the service is looked at again at every sync.
      return 'no-endpoints';
    }

    const sourceVip = containsPublicIP || containsNodeIP ? this.#opts.nodeIP : this.#opts.sourceVip;
    const affinity = sp.sessionAffinityClientIP;
    if (affinity && !this.#features.sessionAffinity)
      this.#log.info('Session Affinity is not supported on this version of Windows', { servicePort: spKey });
    const available = !allTerminating && !allNonServing;
    const protocol = PROTOCOL_NUMBERS[sp.protocol] ?? 0;
    const v6 = this.#isIPv6;
    const ctx: FrontendContext = {
      hns,
      log: this.#log,
      queriedLBs,
      sourceVip,
      protocol,
      isIPv6: v6,
      winProxyOptimization: s.winProxyOptimization,
      servicePort: spKey,
      canModify: () => this.#features.modifyLoadBalancer,
      modifyNotImplemented: () => {
        this.#features = { ...this.#features, modifyLoadBalancer: false };
      },
      markStale: (id, type) => this.#stale.set(id, type),
      failed: (operation, type, err) => this.#lbFailed(operation, type, err),
    };
    const common = { internalPort: s.targetPort, externalPort: sp.port };
    const clusterIP = await syncFrontend(ctx, {
      ...common,
      type: 'clusterip',
      current: s.hnsID,
      save: (id) => {
        s.hnsID = id;
      },
      endpoints: s.internalTrafficLocal ? hnsLocalEndpoints : hnsEndpoints,
      flags: { isDSR: this.#opts.isDSR, isIPv6: v6, sessionAffinity: affinity },
      vip: sp.clusterIP,
      mayCreate: true,
    });
    if (clusterIP === undefined) return 'failed';

    // NodePort: every node address (no VIP), routed locally.
    if (sp.nodePort > 0) {
      const nodePort = await syncFrontend(ctx, {
        ...common,
        type: 'nodeport',
        current: s.nodePortHnsID,
        save: (id) => {
          s.nodePortHnsID = id;
        },
        endpoints: s.preserveDIP || s.localTrafficDSR ? hnsLocalEndpoints : hnsEndpoints,
        flags: {
          isVipExternalIP: true,
          isDSR: s.localTrafficDSR,
          localRoutedVIP: true,
          sessionAffinity: affinity,
          isIPv6: v6,
        },
        vip: '',
        externalPort: sp.nodePort,
        mayCreate: available,
      });
      if (nodePort === undefined) return 'failed';
    }

    let ok = true;
    for (const e of s.externalIPs) {
      const id = await syncFrontend(ctx, {
        ...common,
        type: 'externalip',
        current: e.hnsID,
        save: (v) => {
          e.hnsID = v;
        },
        endpoints: s.localTrafficDSR ? hnsLocalEndpoints : hnsEndpoints,
        flags: { isVipExternalIP: true, isDSR: s.localTrafficDSR, sessionAffinity: affinity, isIPv6: v6 },
        vip: e.ip,
        mayCreate: available,
      });
      if (id === undefined) ok = false;
    }

    for (const i of s.ingressIPs) {
      const id = await syncFrontend(ctx, {
        ...common,
        type: 'ingressip',
        current: i.hnsID,
        save: (v) => {
          i.hnsID = v;
        },
        endpoints: s.preserveDIP || s.localTrafficDSR ? hnsLocalEndpoints : hnsEndpoints,
        flags: {
          isVipExternalIP: true,
          isDSR: s.preserveDIP || s.localTrafficDSR,
          useMUX: s.preserveDIP,
          preserveDIP: s.preserveDIP,
          sessionAffinity: affinity,
          isIPv6: v6,
        },
        vip: i.ip,
        mayCreate: true,
      });
      if (id === undefined) {
        ok = false;
        continue;
      }
      if (this.#opts.forwardHealthCheckVip && gateway !== undefined && available) {
        // The cloud load balancer probes the health check port on the ingress IP: forward it to the host.
        const port = sp.healthCheckNodePort !== 0 ? sp.healthCheckNodePort : this.#opts.healthzPort;
        const hc = await syncFrontend(ctx, {
          type: 'healthcheck',
          current: i.healthCheckHnsID,
          save: (v) => {
            i.healthCheckHnsID = v;
          },
          endpoints: [gateway],
          flags: { isDSR: false, useMUX: s.preserveDIP, preserveDIP: s.preserveDIP },
          vip: i.ip,
          internalPort: port,
          externalPort: port,
          mayCreate: true,
        });
        if (hc === undefined) ok = false;
      }
    }
    if (!ok) return 'failed';
    s.policyApplied = true;
    this.#log.v(2, 'Policy successfully applied for service', { servicePort: spKey, hnsID: s.hnsID });
    return 'ok';
  }

  /** Remote endpoints whose IPs left every changed service and no one references any more. */
  async #deleteTerminatedEndpoints(queried: Map<string, HnsEndpoint>): Promise<void> {
    for (const ip of this.#terminated) {
      const ep = queried.get(ip);
      if (!ep || ep.hnsID === '' || ep.isLocal) continue;
      if ((this.#refs.get(ep.hnsID) ?? 0) !== 0) continue;
      try {
        await this.hns.deleteEndpoint(ep.hnsID);
        this.#refs.forget(ep.hnsID);
      } catch (err) {
        this.#log.error('Deleting unreferenced remote endpoint failed', { hnsID: ep.hnsID, err });
      }
    }
  }

  async #cleanupStaleLoadBalancers(): Promise<void> {
    let i = 0;
    for (const [id, type] of [...this.#stale]) {
      if (i++ === MAX_STALE_LOAD_BALANCERS_PER_SYNC) break;
      try {
        await this.hns.deleteLoadBalancer(id);
        this.#stale.delete(id);
      } catch (err) {
        this.#lbFailed('delete', type, err);
        this.#log.v(3, 'Stale load balancer still not deleted', { hnsID: id, err });
      }
    }
  }

  #lbFailed(operation: 'create' | 'update' | 'delete', lbType: LoadBalancerType, err: unknown): void {
    this.#opts.observer?.loadBalancerFailure?.(this.#opts.family, {
      operation,
      lbType,
      error: classifyLBError(err),
    });
  }

  #ownedIDs(): Set<string> {
    const ids = new Set<string>();
    for (const s of this.#services.values()) {
      for (const id of [s.hnsID, s.nodePortHnsID, ...s.externalIPs.map((e) => e.hnsID)]) if (id) ids.add(id);
      for (const i of s.ingressIPs) for (const id of [i.hnsID, i.healthCheckHnsID]) if (id) ids.add(id);
    }
    return ids;
  }

  /**
   * kube-proxy owns every HNS load balancer of the node (upstream deletes them all at start): on a
   * full sync (hourly, and after a failure) those no service of either family references become
   * stale and are deleted, at most MAX_STALE_LOAD_BALANCERS_PER_SYNC per sync.
   */
  #sweepUnowned(queriedLBs: QueriedLoadBalancers): void {
    this.#ownership.set(this, this.#ownedIDs());
    const owned = this.#ownership.all();
    for (const { hnsID, id } of queriedLBs.values()) {
      if (hnsID === '' || owned.has(hnsID) || this.#stale.has(hnsID)) continue;
      // The other family's backend sweeps its own; health-check LBs carry no family flag and are
      // only swept by the IPv4 backend.
      if (id.isIPv6 !== this.#isIPv6) continue;
      this.#stale.set(hnsID, 'clusterip');
    }
  }

  /** --cleanup: the load balancers and remote endpoints this proxier created. */
  async cleanup(): Promise<void> {
    await this.#cleanupAllPolicies();
  }
}
