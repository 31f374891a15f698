// What the proxier core and its backends say to each other and to the rest of the process
// (upstream pkg/proxy/types.go). The core owns events, change tracking, the sync schedule and the
// node's facts; a backend turns one sync's view of the cluster into kernel state.

import type { EndpointsMap } from '../tracking/endpoints-change-tracker.ts';
import type { ServicePortMap } from '../tracking/service-change-tracker.ts';
import type { IP, IPFamily } from '../util/ip.ts';

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
  failed?(family: IPFamily, err: unknown, durationMs: number, sync: FailedSync): void;
  /** The kernel no longer held what the last syncs wrote (someone changed it behind our back). */
  drift?(family: IPFamily, mode: ProxyBackend['mode']): void;
  /** After a stale UDP flow cleanup: how long it took and how many flows went. */
  conntrackCleaned?(family: IPFamily, durationMs: number, deleted: number): void;
  /** kernelspace: an HNS load balancer could not be created, updated or deleted. */
  loadBalancerFailure?(family: IPFamily, failure: LoadBalancerFailure): void;
}

export interface LoadBalancerFailure {
  readonly operation: 'create' | 'update' | 'delete';
  /** clusterip, nodeport, externalip, ingressip, healthcheck. */
  readonly lbType: string;
  /** network_not_found, port_already_exists, not_implemented, invalid_ip, other. */
  readonly error: string;
}

export interface FailedSync {
  readonly full: boolean;
  readonly mode: ProxyBackend['mode'];
}

export interface NoLocalEndpoints {
  /** Service ports whose internal traffic policy is Local but which have no local endpoints. */
  readonly internal: number;
  /** The same for the external traffic policy. */
  readonly external: number;
}

export interface SyncStats {
  readonly full: boolean;
  readonly durationMs: number;
  readonly servicePorts: number;
  readonly endpoints: number;
  readonly operations: number;
  readonly lastChangeTriggerTimes: ReadonlyMap<string, Date[]>;
  readonly noLocalEndpoints: NoLocalEndpoints;
  /** Backend-specific counts for metrics (iptables: rules and chains per table). */
  readonly backend?: BackendCounts;
}

export interface BackendCounts {
  readonly iptables?: IptablesCounts;
}

/** Rules per table, as upstream's sync_proxy_rules_iptables_{total,last} gauges count them. */
export interface IptablesCounts {
  /** Rules this sync wrote. */
  readonly filterRulesWritten: number;
  readonly natRulesWritten: number;
  /** Rules kube-proxy owns after this sync (written plus those of unchanged services). */
  readonly filterRulesTotal: number;
  readonly natRulesTotal: number;
}

/** The node this proxy runs on, as far as one IP family's rules care. */
export interface NodeFacts {
  readonly name: string;
  /** topology.kubernetes.io/zone, or "". */
  readonly zone: string;
  /** InternalIPs then ExternalIPs of this family, from the Node object. */
  readonly ips: readonly IP[];
  /** Where NodePorts are accepted: every local address ("all") or these. */
  readonly nodePortIPs: 'all' | readonly string[];
}

/** One sync as the core hands it to a backend. */
export interface SyncRequest {
  /** Rewrite everything and re-read what the kernel holds; otherwise only `changedServices`. */
  readonly full: boolean;
  /** "ns/name" of services whose ports or endpoints changed since the last successful sync. */
  readonly changedServices: ReadonlySet<string>;
  readonly servicePorts: ServicePortMap;
  readonly endpoints: EndpointsMap;
  readonly node: NodeFacts;
  /** This family's ServiceCIDRs (nftables drops unallocated ClusterIPs in them). */
  readonly serviceCIDRs: readonly string[];
  /** The proxier clock's now() when the sync started. */
  readonly startedAt: number;
  /** For failures the backend recovers from now but wants repaired by a full sync later. */
  requestFullSync(): void;
}

export interface SyncResult {
  /** Kernel operations written (nft commands, iptables-restore lines). */
  readonly operations: number;
  /** Endpoints programmed, over all service ports. */
  readonly endpoints: number;
  readonly noLocalEndpoints: NoLocalEndpoints;
  readonly counts?: BackendCounts;
}

/**
 * A proxy mode's kernel half. sync() throws on failure; the core then logs, retries after
 * syncPeriod and asks for a full sync, after calling reset() so that nothing the backend cached
 * about the kernel survives a failure.
 */
export interface ProxyBackend {
  readonly mode: 'nftables' | 'iptables' | 'ipvs' | 'kernelspace';
  /** Whether NodePorts may be accepted on loopback addresses (iptables with localhost nodeports). */
  readonly localhostNodePorts: boolean;
  sync(req: SyncRequest): Promise<SyncResult>;
  reset(): void;
  /**
   * Compares the kernel with what the last syncs wrote; returns the differences found (empty:
   * none). The core calls it every syncPeriod, between syncs, and forces a full sync on a difference.
   */
  checkDrift?(): Promise<string[]>;
  /** Whether the hourly full sync is wanted now (upstream's iptables mode skips it in large clusters); default yes. */
  wantsPeriodicFullSync?(): boolean;
  close?(): Promise<void>;
}
