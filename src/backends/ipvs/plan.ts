// What one sync wants in the kernel, computed without I/O (upstream's syncProxyRules loop in
// pkg/proxy/ipvs/proxier.go): the virtual servers with their real servers, the service addresses
// bound to kube-ipvs0, and the ipset entries that the fixed iptables rules match on.

import {
  FLAG_PERSISTENT,
  FLAG_SOURCE_HASH,
  type RealServer,
  type VirtualServer,
  virtualServerKey,
} from '../../kernel/ipvs/types.ts';
import type { Endpoint } from '../../model/endpoint.ts';
import type { ServicePort } from '../../model/service-port.ts';
import { categorizeEndpoints } from '../../topology/categorize-endpoints.ts';
import { cidrContains, type IPFamily, joinHostPort, parseCIDR, parseIP } from '../../util/ip.ts';
import { SET, type SetName } from './names.ts';

export interface PlanInput {
  readonly family: IPFamily;
  readonly scheduler: string;
  readonly nodeName: string;
  readonly zone: string;
  /** The node's primary address of this family (LoadBalancer source ranges that contain it admit the node). */
  readonly nodeIP: string | undefined;
  /** Addresses NodePort virtual servers are created on (no loopback). */
  readonly nodePortIPs: readonly string[];
  /** The node's addresses on other devices than kube-ipvs0: external and LoadBalancer IPs there are not bound again. */
  readonly nodeAddresses: ReadonlySet<string>;
  readonly servicePorts: Iterable<ServicePort>;
  endpointsOf(sp: ServicePort): readonly Endpoint[];
}

export interface PlannedVirtualServer {
  readonly vs: VirtualServer;
  /** "ns/name/port/PROTO" of the service port it serves. */
  readonly servicePort: string;
  /** "ns/name", for partial syncs. */
  readonly service: string;
  readonly realServers: readonly RealServer[];
}

/** An LB address that the node itself must not reach (source ranges that leave the node out). */
export interface NoNodeAccess {
  readonly ip: string;
  readonly protocol: string;
  readonly port: number;
}

export interface Plan {
  readonly virtualServers: ReadonlyMap<string, PlannedVirtualServer>;
  readonly bindAddresses: ReadonlySet<string>;
  readonly sets: ReadonlyMap<SetName, ReadonlySet<string>>;
  readonly noNodeAccess: readonly NoNodeAccess[];
  readonly noLocalEndpoints: { readonly internal: number; readonly external: number };
  /** Real servers over all virtual servers of ClusterIPs (the endpoints programmed). */
  readonly endpoints: number;
}

/** ipset's own text of an address (canonical IPv6, as `ipset save` prints it). */
function canon(ip: string): string {
  return parseIP(ip)?.text ?? ip;
}

/** A net in an entry as ipset prints it back: a host prefix is printed without its length. */
function netEntry(cidr: string): string {
  const c = parseCIDR(cidr);
  if (!c) return cidr;
  const host = c.family === 'IPv4' ? 32 : 128;
  return c.prefix === host ? c.network.text : c.text;
}

export function planSync(input: PlanInput): Plan {
  const virtualServers = new Map<string, PlannedVirtualServer>();
  const bindAddresses = new Set<string>();
  const sets = new Map<SetName, Set<string>>();
  for (const name of Object.values(SET)) sets.set(name, new Set());
  const add = (set: SetName, entry: string) => sets.get(set)?.add(entry);
  const noNodeAccess: NoNodeAccess[] = [];
  const noLocalInternal = new Set<string>();
  const noLocalExternal = new Set<string>();
  let endpointCount = 0;
  const nodeIP = input.nodeIP !== undefined ? parseIP(input.nodeIP) : undefined;

  for (const sp of input.servicePorts) {
    const protocol = sp.protocol.toLowerCase();
    const endpoints = input.endpointsOf(sp);
    const service = `${sp.name.namespace}/${sp.name.name}`;
    const cat = categorizeEndpoints(endpoints, sp, input.nodeName, input.zone);

    // Which real servers a virtual server gets (syncEndpoint): policy Local means the local
    // endpoints, or — upstream's choice, so that local pods still reach the service — the
    // cluster endpoints when there are none here.
    const realServersFor = (onlyLocal: boolean): RealServer[] => {
      let chosen: readonly Endpoint[] = cat.clusterEndpoints;
      if (onlyLocal) {
        if (cat.localEndpoints.length > 0) chosen = cat.localEndpoints;
        else {
          if (cat.hasAnyEndpoints && sp.internalPolicyLocal) noLocalInternal.add(service);
          if (cat.hasAnyEndpoints && sp.externalPolicyLocal) noLocalExternal.add(service);
        }
      }
      const seen = new Map<string, RealServer>();
      for (const ep of chosen) {
        const rs: RealServer = {
          address: canon(ep.ip),
          port: ep.port,
          weight: 1,
          activeConns: 0,
          inactiveConns: 0,
        };
        seen.set(joinHostPort(rs.address, rs.port), rs);
      }
      return [...seen.values()];
    };
    const virtualServer = (address: string, port: number): VirtualServer => {
      let flags = 0;
      if (sp.sessionAffinityClientIP) flags |= FLAG_PERSISTENT;
      if (input.scheduler === 'mh') flags |= FLAG_SOURCE_HASH;
      return {
        family: input.family,
        address: canon(address),
        protocol: sp.protocol,
        port,
        scheduler: input.scheduler,
        flags,
        timeout: sp.sessionAffinityClientIP ? sp.stickyMaxAgeSeconds : 0,
      };
    };
    const plan = (vs: VirtualServer, onlyLocal: boolean, bind: boolean) => {
      const realServers = realServersFor(onlyLocal);
      virtualServers.set(virtualServerKey(vs), { vs, servicePort: sp.key, service, realServers });
      if (bind) bindAddresses.add(vs.address);
      return realServers.length;
    };

    // Hairpin: a local endpoint reaching itself through the service is masqueraded.
    for (const ep of endpoints) {
      if (!ep.isLocal || ep.ip === '' || ep.port === 0) continue;
      const ip = canon(ep.ip);
      add(SET.LOOP_BACK, `${ip},${protocol}:${ep.port},${ip}`);
    }

    const clusterIP = canon(sp.clusterIP);
    add(SET.CLUSTER_IP, `${clusterIP},${protocol}:${sp.port}`);
    endpointCount += plan(virtualServer(clusterIP, sp.port), sp.internalPolicyLocal, true);

    for (const externalIP of sp.externalIPs) {
      const ip = canon(externalIP);
      add(sp.externalPolicyLocal ? SET.EXTERNAL_IP_LOCAL : SET.EXTERNAL_IP, `${ip},${protocol}:${sp.port}`);
      plan(virtualServer(ip, sp.port), sp.externalPolicyLocal, !input.nodeAddresses.has(ip));
    }

    for (const vip of sp.loadBalancerVIPs) {
      const ip = canon(vip);
      const entry = `${ip},${protocol}:${sp.port}`;
      add(SET.LOAD_BALANCER, entry);
      if (sp.externalPolicyLocal) add(SET.LOAD_BALANCER_LOCAL, entry);
      if (sp.loadBalancerSourceRanges.length > 0) {
        add(SET.LOAD_BALANCER_FW, entry);
        let allowFromNode = false;
        for (const range of sp.loadBalancerSourceRanges) {
          add(SET.LOAD_BALANCER_SOURCE_CIDR, `${entry},${netEntry(range)}`);
          const cidr = parseCIDR(range);
          if (cidr && nodeIP && cidrContains(cidr, nodeIP)) allowFromNode = true;
        }
        if (allowFromNode) add(SET.LOAD_BALANCER_SOURCE_IP, `${entry},${ip}`);
        else noNodeAccess.push({ ip, protocol, port: sp.port });
      }
      plan(virtualServer(ip, sp.port), sp.externalPolicyLocal, !input.nodeAddresses.has(ip));
    }

    if (sp.nodePort !== 0) {
      // As upstream: without node addresses the service's remaining work (its health check port) is skipped too.
      if (input.nodePortIPs.length === 0) continue;
      const local = sp.externalPolicyLocal;
      if (sp.protocol === 'SCTP') {
        for (const nodeIP of input.nodePortIPs) {
          const entry = `${canon(nodeIP)},sctp:${sp.nodePort}`;
          add(SET.NODE_PORT_SCTP, entry);
          if (local) add(SET.NODE_PORT_LOCAL_SCTP, entry);
        }
      } else {
        const tcp = sp.protocol === 'TCP';
        add(tcp ? SET.NODE_PORT_TCP : SET.NODE_PORT_UDP, String(sp.nodePort));
        if (local) add(tcp ? SET.NODE_PORT_LOCAL_TCP : SET.NODE_PORT_LOCAL_UDP, String(sp.nodePort));
      }
      for (const nodeIP of input.nodePortIPs) plan(virtualServer(nodeIP, sp.nodePort), local, false);
    }

    if (sp.healthCheckNodePort !== 0) add(SET.HEALTH_CHECK_NODE_PORT, String(sp.healthCheckNodePort));
  }

  for (const ip of bindAddresses) add(SET.IPVS_IPS, ip);
  return {
    virtualServers,
    bindAddresses,
    sets,
    noNodeAccess,
    noLocalEndpoints: { internal: noLocalInternal.size, external: noLocalExternal.size },
    endpoints: endpointCount,
  };
}
