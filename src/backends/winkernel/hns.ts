// The proxier's view of HNS (upstream hns.go): networks with their remote subnets, endpoints found
// by ID or IP, and load balancers identified by frontend and backend set. Load balancers are keyed
// by (protocol, ports, VIP, hash of endpoint IDs, family) so that a sync finds the one HNS holds
// already instead of creating a duplicate.
import { createHash } from 'node:crypto';
import { KubeProxyError } from '../../errors.ts';
import type { HcnClient } from '../../kernel/hns/client.ts';
import { isHnsNotRunning, isNotFound, isPolicyAlreadyExists } from '../../kernel/hns/errors.ts';
import {
  DISTRIBUTION_NONE,
  DISTRIBUTION_SOURCE_IP,
  ENDPOINT_FLAGS_REMOTE,
  type HostComputeEndpoint,
  type HostComputeLoadBalancer,
  LB_FLAGS_DSR,
  LB_FLAGS_IPV6,
  POLICY_PROVIDER_ADDRESS,
  POLICY_REMOTE_SUBNET_ROUTE,
  PORT_MAPPING_FLAGS_ILB,
  PORT_MAPPING_FLAGS_LOCAL_ROUTED_VIP,
  PORT_MAPPING_FLAGS_PRESERVE_DIP,
  PORT_MAPPING_FLAGS_USE_MUX,
  PORT_MAPPING_FLAGS_VIP_EXTERNAL_IP,
  type RemoteSubnetRoutePolicySetting,
  SCHEMA_V2,
} from '../../kernel/hns/schema.ts';
import type { Logger } from '../../log/logger.ts';
import { cidrContains, parseCIDR, parseIP } from '../../util/ip.ts';

export interface RemoteSubnet {
  readonly destinationPrefix: string;
  readonly isolationID: number;
  readonly providerAddress: string;
  readonly drMacAddress: string;
}

export interface NetworkInfo {
  readonly id: string;
  readonly name: string;
  readonly networkType: string;
  readonly remoteSubnets: readonly RemoteSubnet[];
}

/** An HNS endpoint as the proxier uses it. */
export interface HnsEndpoint {
  readonly ip: string;
  readonly isLocal: boolean;
  readonly macAddress: string;
  readonly hnsID: string;
  readonly providerAddress: string;
}

export interface LoadBalancerFlags {
  readonly isILB?: boolean;
  readonly isDSR?: boolean;
  readonly isVipExternalIP?: boolean;
  readonly localRoutedVIP?: boolean;
  readonly useMUX?: boolean;
  readonly preserveDIP?: boolean;
  readonly sessionAffinity?: boolean;
  readonly isIPv6?: boolean;
}

/** What identifies a load balancer in HNS for reuse (upstream loadBalancerIdentifier). */
export interface LoadBalancerIdentifier {
  readonly protocol: number;
  readonly internalPort: number;
  readonly externalPort: number;
  readonly vip: string;
  /** Hex of the XOR of SHA-1s of the upper-cased endpoint IDs: order does not matter. */
  readonly endpointsHash: string;
  readonly isIPv6: boolean;
}

export interface QueriedLoadBalancer {
  readonly hnsID: string;
  readonly id: LoadBalancerIdentifier;
}

/** Load balancers by identifierKey(). */
export type QueriedLoadBalancers = Map<string, QueriedLoadBalancer>;

export function identifierKey(id: LoadBalancerIdentifier): string {
  return `${id.protocol}|${id.internalPort}|${id.externalPort}|${id.vip}|${id.endpointsHash}|${id.isIPv6}`;
}

export function isOverlay(network: NetworkInfo): boolean {
  return network.networkType.toLowerCase() === 'overlay';
}

/** hashEndpoints: XOR of the SHA-1 of each non-empty upper-cased ID. */
export function hashEndpoints(ids: readonly string[]): string {
  const acc = Buffer.alloc(20);
  for (const raw of ids) {
    const id = raw.toUpperCase();
    if (id === '') continue;
    const h = createHash('sha1').update(id).digest();
    for (let i = 0; i < 20; i++) acc[i]! ^= h[i]!;
  }
  return acc.toString('hex');
}

export function loadBalancerIdentifier(
  endpointIDs: readonly string[],
  vip: string,
  protocol: number,
  internalPort: number,
  externalPort: number,
  isIPv6: boolean,
): LoadBalancerIdentifier {
  return { protocol, internalPort, externalPort, vip, endpointsHash: hashEndpoints(endpointIDs), isIPv6 };
}

/** The identifier of this frontend and these endpoints, and the load balancer `previous` has for it. */
function cachedLB(
  endpoints: readonly HnsEndpoint[],
  flags: LoadBalancerFlags,
  vip: string,
  protocol: number,
  internalPort: number,
  externalPort: number,
  previous: QueriedLoadBalancers,
): { id: LoadBalancerIdentifier; cached: QueriedLoadBalancer | undefined } {
  const id = loadBalancerIdentifier(
    endpoints.map((e) => e.hnsID),
    vip,
    protocol,
    internalPort,
    externalPort,
    flags.isIPv6 ?? false,
  );
  return { id, cached: previous.get(identifierKey(id)) };
}

export function portMappingFlags(f: LoadBalancerFlags): number {
  let flags = 0;
  if (f.isILB) flags |= PORT_MAPPING_FLAGS_ILB;
  if (f.useMUX) flags |= PORT_MAPPING_FLAGS_USE_MUX;
  if (f.preserveDIP) flags |= PORT_MAPPING_FLAGS_PRESERVE_DIP;
  if (f.localRoutedVIP) flags |= PORT_MAPPING_FLAGS_LOCAL_ROUTED_VIP;
  if (f.isVipExternalIP) flags |= PORT_MAPPING_FLAGS_VIP_EXTERNAL_IP;
  return flags;
}

export function loadBalancerFlagBits(f: LoadBalancerFlags): number {
  return (f.isDSR ? LB_FLAGS_DSR : 0) | (f.isIPv6 ? LB_FLAGS_IPV6 : 0);
}

/** The HostComputeLoadBalancer document for one frontend. */
export function loadBalancerDocument(
  endpoints: readonly HnsEndpoint[],
  flags: LoadBalancerFlags,
  sourceVip: string,
  vip: string,
  protocol: number,
  internalPort: number,
  externalPort: number,
): HostComputeLoadBalancer {
  return {
    SourceVIP: sourceVip,
    PortMappings: [
      {
        Protocol: protocol,
        InternalPort: internalPort,
        ExternalPort: externalPort,
        DistributionType: flags.sessionAffinity ? DISTRIBUTION_SOURCE_IP : DISTRIBUTION_NONE,
        Flags: portMappingFlags(flags),
      },
    ],
    FrontendVIPs: vip === '' ? [] : [vip],
    SchemaVersion: SCHEMA_V2,
    Flags: loadBalancerFlagBits(flags),
    HostComputeEndpoints: endpoints.map((e) => e.hnsID),
  };
}

/**
 * The ID of the one existing load balancer with the proposed one's frontend, whatever its
 * backends; "" when none or more than one (then none is deleted).
 */
export function findExistingLBIdByFrontend(
  proposed: HostComputeLoadBalancer,
  existing: QueriedLoadBalancers,
  log?: Logger,
): string {
  const pm = proposed.PortMappings?.[0];
  if (!pm) return '';
  const vip = proposed.FrontendVIPs?.[0] ?? '';
  const isIPv6 = ((proposed.Flags ?? 0) & LB_FLAGS_IPV6) === LB_FLAGS_IPV6;
  let found = '';
  for (const { hnsID, id } of existing.values()) {
    if (
      id.vip === vip &&
      id.protocol === (pm.Protocol ?? 0) &&
      id.internalPort === (pm.InternalPort ?? 0) &&
      id.externalPort === (pm.ExternalPort ?? 0) &&
      id.isIPv6 === isIPv6
    ) {
      if (found !== '') {
        log?.warn('More than one existing load balancer has this frontend; deleting none', {
          existingLBID1: found,
          existingLBID2: hnsID,
          frontendVIP: vip,
        });
        return '';
      }
      found = hnsID;
    }
  }
  return found;
}

function endpointFromHns(e: HostComputeEndpoint, ip: string, providerAddress = ''): HnsEndpoint {
  return {
    ip,
    isLocal: ((e.Flags ?? 0) & ENDPOINT_FLAGS_REMOTE) === 0,
    macAddress: e.MacAddress ?? '',
    hnsID: e.ID ?? '',
    providerAddress,
  };
}

export interface QueriedEndpoints {
  /** Endpoints by HNS ID and by IP address. */
  readonly endpoints: Map<string, HnsEndpoint>;
  /** Remote endpoints that duplicate a local endpoint's IP (a Windows bug leaves them): to be deleted. */
  readonly remoteDuplicates: Set<string>;
}

export class HostNetworkService {
  readonly hcn: HcnClient;
  readonly #log: Logger;

  constructor(hcn: HcnClient, log: Logger) {
    this.hcn = hcn;
    this.#log = log;
  }

  async getNetworkByName(name: string): Promise<NetworkInfo> {
    const n = await this.hcn.getNetworkByName(name);
    const remoteSubnets: RemoteSubnet[] = [];
    for (const p of n.Policies ?? []) {
      if (p.Type !== POLICY_REMOTE_SUBNET_ROUTE) continue;
      const s = p.Settings as RemoteSubnetRoutePolicySetting | undefined;
      if (s === null || typeof s !== 'object')
        throw new KubeProxyError('KP_ERR_HNS', 'failed to unmarshal Remote Subnet policy settings');
      remoteSubnets.push({
        destinationPrefix: s.DestinationPrefix ?? '',
        isolationID: s.IsolationId ?? 0,
        providerAddress: s.ProviderAddress ?? '',
        drMacAddress: s.DistributedRouterMacAddress ?? '',
      });
    }
    return { id: n.ID, name: n.Name ?? '', networkType: n.Type ?? '', remoteSubnets };
  }

  async getAllEndpointsByNetwork(networkName: string): Promise<QueriedEndpoints> {
    const network = await this.hcn.getNetworkByName(networkName);
    const list = await this.hcn.listEndpointsOfNetwork(network.ID);
    const endpoints = new Map<string, HnsEndpoint>();
    const remoteDuplicates = new Set<string>();
    for (const ep of list) {
      const configs = ep.IpConfigurations ?? [];
      // One IPv4 and one IPv6 address at most; more is not expected.
      for (const cfg of configs.slice(0, 2)) {
        const ip = cfg.IpAddress ?? '';
        const info = endpointFromHns(ep, ip);
        const existing = endpoints.get(ip);
        if (existing) {
          if (info.isLocal && !existing.isLocal) {
            remoteDuplicates.add(existing.hnsID);
            endpoints.delete(existing.hnsID);
            endpoints.delete(existing.ip);
          } else if (!info.isLocal && existing.isLocal) {
            remoteDuplicates.add(info.hnsID);
            continue;
          } else continue;
        }
        endpoints.set(info.hnsID, info);
        endpoints.set(ip, info);
      }
    }
    this.#log.v(3, 'Queried endpoints from network', { network: networkName, count: endpoints.size });
    return { endpoints, remoteDuplicates };
  }

  async deleteAllRemoteEndpointsWithDupIP(ids: Iterable<string>): Promise<void> {
    for (const id of ids) {
      try {
        await this.deleteEndpoint(id);
      } catch (err) {
        this.#log.error('Failed to delete stale remote endpoint with duplicate IP', { hnsID: id, err });
      }
    }
  }

  async getEndpointByID(id: string): Promise<HnsEndpoint> {
    const e = await this.hcn.getEndpointByID(id);
    return endpointFromHns(e, e.IpConfigurations?.[0]?.IpAddress ?? '');
  }

  async getEndpointByName(name: string): Promise<HnsEndpoint> {
    const e = await this.hcn.getEndpointByName(name);
    return endpointFromHns(e, e.IpConfigurations?.[0]?.IpAddress ?? '');
  }

  async getEndpointByIpAddress(ip: string, networkName: string): Promise<HnsEndpoint> {
    const network = await this.hcn.getNetworkByName(networkName);
    for (const e of await this.hcn.listEndpoints()) {
      const cfgs = e.IpConfigurations ?? [];
      const match = cfgs[0]?.IpAddress === ip || cfgs[1]?.IpAddress === ip;
      if (match && (e.HostComputeNetwork ?? '').toLowerCase() === network.ID.toLowerCase())
        return endpointFromHns(e, ip);
    }
    throw new KubeProxyError('KP_ERR_HNS', `Endpoint ${ip} not found on network ${networkName}`);
  }

  /** A local endpoint (the source VIP), or a remote one with its node's provider address. */
  async createEndpoint(
    ep: { ip: string; isLocal: boolean; macAddress: string; providerAddress: string },
    networkName: string,
  ): Promise<HnsEndpoint> {
    const network = await this.hcn.getNetworkByName(networkName);
    const doc: HostComputeEndpoint = {
      IpConfigurations: [{ IpAddress: ep.ip }],
      MacAddress: ep.macAddress,
      Flags: ep.isLocal ? 0 : ENDPOINT_FLAGS_REMOTE,
      SchemaVersion: SCHEMA_V2,
      ...(!ep.isLocal &&
        ep.providerAddress !== '' && {
          Policies: [{ Type: POLICY_PROVIDER_ADDRESS, Settings: { ProviderAddress: ep.providerAddress } }],
        }),
    };
    const created = ep.isLocal
      ? await this.hcn.createEndpoint(network, doc)
      : await this.hcn.createRemoteEndpoint(network, doc);
    this.#log.v(3, `Created ${ep.isLocal ? 'local' : 'remote'} endpoint resource`, { hnsID: created.ID });
    return endpointFromHns(created, created.IpConfigurations?.[0]?.IpAddress ?? ep.ip, ep.providerAddress);
  }

  async deleteEndpoint(hnsID: string): Promise<void> {
    const e = await this.hcn.getEndpointByID(hnsID);
    await this.hcn.deleteEndpoint(e);
    this.#log.v(3, 'Remote endpoint resource deleted', { hnsID });
  }

  async getAllLoadBalancers(): Promise<QueriedLoadBalancers> {
    const out: QueriedLoadBalancers = new Map();
    for (const lb of await this.hcn.listLoadBalancers()) {
      const pm = lb.PortMappings?.[0];
      // HNS leaves PortMappings empty on a half-created load balancer: it cannot be keyed.
      if (!pm) {
        this.#log.v(2, 'Skipping load balancer with no port mappings', { hnsLbID: lb.ID });
        continue;
      }
      const id = loadBalancerIdentifier(
        lb.HostComputeEndpoints ?? [],
        lb.FrontendVIPs?.[0] ?? '',
        pm.Protocol ?? 0,
        pm.InternalPort ?? 0,
        pm.ExternalPort ?? 0,
        ((lb.Flags ?? 0) & LB_FLAGS_IPV6) === LB_FLAGS_IPV6,
      );
      out.set(identifierKey(id), { hnsID: lb.ID ?? '', id });
    }
    return out;
  }

  /**
   * Creates the load balancer; when HNS refuses because one with the same frontend exists (left
   * by an earlier run with other backends), deletes that one and tries once more.
   */
  async createOrReplaceLoadBalancer(
    proposed: HostComputeLoadBalancer,
    existing: QueriedLoadBalancers,
  ): Promise<HostComputeLoadBalancer> {
    try {
      return await this.hcn.createLoadBalancer(proposed);
    } catch (err) {
      if (!isPolicyAlreadyExists(err) || (proposed.PortMappings?.length ?? 0) === 0) throw err;
      const existingID = findExistingLBIdByFrontend(proposed, existing, this.#log);
      if (existingID === '') throw err;
      this.#log.v(4, 'Deleting the load balancer with the same frontend and creating again', {
        existingLBID: existingID,
      });
      await this.deleteLoadBalancer(existingID);
      return this.hcn.createLoadBalancer(proposed);
    }
  }

  /** The load balancer for this frontend and these endpoints: the queried one, or a new one. */
  async getLoadBalancer(
    endpoints: readonly HnsEndpoint[],
    flags: LoadBalancerFlags,
    sourceVip: string,
    vip: string,
    protocol: number,
    internalPort: number,
    externalPort: number,
    previous: QueriedLoadBalancers,
  ): Promise<string> {
    const { id, cached } = cachedLB(endpoints, flags, vip, protocol, internalPort, externalPort, previous);
    if (cached) {
      this.#log.v(1, 'Found cached Hns loadbalancer policy resource', { hnsID: cached.hnsID });
      return cached.hnsID;
    }
    const doc = loadBalancerDocument(endpoints, flags, sourceVip, vip, protocol, internalPort, externalPort);
    const lb = await this.createOrReplaceLoadBalancer(doc, previous);
    const hnsID = lb.ID ?? '';
    this.#log.v(1, 'Created Hns loadbalancer policy resource', { hnsID, vip, externalPort });
    previous.set(identifierKey(id), { hnsID, id });
    return hnsID;
  }

  /** Replaces load balancer `hnsID`'s backends and flags in place (HNS with modifyLoadBalancer). */
  async updateLoadBalancer(
    hnsID: string,
    sourceVip: string,
    vip: string,
    endpoints: readonly HnsEndpoint[],
    flags: LoadBalancerFlags,
    protocol: number,
    internalPort: number,
    externalPort: number,
    previous: QueriedLoadBalancers,
  ): Promise<string> {
    const { id, cached } = cachedLB(endpoints, flags, vip, protocol, internalPort, externalPort, previous);
    if (cached) return cached.hnsID;
    const doc = loadBalancerDocument(endpoints, flags, sourceVip, vip, protocol, internalPort, externalPort);
    const lb = await this.hcn.updateLoadBalancer(doc, hnsID);
    this.#log.v(1, 'Updated load balancer', { hnsID: lb.ID, endpointCount: endpoints.length });
    previous.set(identifierKey(id), { hnsID: lb.ID ?? hnsID, id });
    return lb.ID ?? hnsID;
  }

  /** Deletes a load balancer; one already gone is not an error. Retries once (a Windows Server 2019 bug). */
  async deleteLoadBalancer(hnsID: string): Promise<void> {
    let lb: HostComputeLoadBalancer;
    try {
      lb = await this.hcn.getLoadBalancerByID(hnsID);
    } catch (err) {
      if (isNotFound(err)) {
        this.#log.v(1, 'LoadBalancer policy resource not found, may have already been deleted', {
          lbID: hnsID,
        });
        return;
      }
      if (isHnsNotRunning(err))
        this.#log.error('HNS is not running, skipping delete loadbalancer', { lbID: hnsID });
      throw err;
    }
    try {
      await this.hcn.deleteLoadBalancer(lb);
    } catch (err) {
      this.#log.v(1, 'Error deleting Hns loadbalancer policy resource; trying once more', { hnsID, err });
      await this.hcn.deleteLoadBalancer(lb);
    }
    this.#log.v(3, 'Deleted Hns loadbalancer policy resource', { hnsID });
  }
}

/** The provider address of the remote subnet holding `ip` (or whose provider address `ip` is); "" if none. */
export function findRemoteSubnetProviderAddress(network: NetworkInfo, ip: string): string {
  const addr = parseIP(ip);
  let pa = '';
  for (const rs of network.remoteSubnets) {
    const cidr = parseCIDR(rs.destinationPrefix);
    if (cidr && addr && cidr.family === addr.family && cidrContains(cidr, addr)) pa = rs.providerAddress;
    if (ip === rs.providerAddress) pa = rs.providerAddress;
  }
  return pa;
}

/**
 * A MAC address for a remote endpoint, unique per IP: the prefix, then the IPv4 address's bytes
 * (the last four bytes of an IPv6 address, reversed). HNS never puts it on the wire.
 */
export function conjureMac(prefix: string, ip: string): string {
  const addr = parseIP(ip);
  if (!addr) return '02-11-22-33-44-55';
  const b = addr.family === 'IPv4' ? addr.text.split('.').map(Number) : ipv6Tail(addr.text);
  return `${prefix}-${b.map((x) => x.toString(16).padStart(2, '0')).join('-')}`;
}

function ipv6Tail(text: string): number[] {
  // Expand "::" to get all 8 groups, then bytes 15, 14, 13, 12.
  const [head = '', tail = ''] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = text.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = text.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const bytes = groups.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
  return [bytes[15]!, bytes[14]!, bytes[13]!, bytes[12]!];
}
