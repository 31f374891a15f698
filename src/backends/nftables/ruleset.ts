// Renders the kube-proxy table into a Transaction. Pure: the caller passes in everything it knows
// (service ports, endpoints, node facts) and the element storages that mirror the kernel.
// Layout and rule texts follow upstream nftables mode (1.33–1.35); see README.md beside this file.
import type { Transaction } from '../../kernel/nft/transaction.ts';
import type { Endpoint } from '../../model/endpoint.ts';
import { type ServicePort, servicePortNameString } from '../../model/service-port.ts';
import type { NftLocalMatch } from '../../proxy/local-detector.ts';
import type { CategorizedEndpoints } from '../../topology/categorize-endpoints.ts';
import { trafficPolicy } from '../../topology/traffic-policy.ts';
import { cidrContains, type IP, type IPFamily, parseCIDR } from '../../util/ip.ts';
import { type ElementSpec, ElementStorage, elementSpec } from './element-storage.ts';
import * as N from './names.ts';

export interface RulesetOptions {
  readonly family: IPFamily;
  readonly masqueradeAll: boolean;
  /** e.g. "0x4000" for masquerade bit 14. */
  readonly masqueradeMark: string;
  readonly localDetector: NftLocalMatch;
  /** "all" accepts NodePorts on every local address; otherwise the node IPs that accept them. */
  readonly nodePortIPs: 'all' | readonly string[];
  /** The node's primary IP of this family, for the load balancer source-range allowance. */
  readonly nodeIP: IP | undefined;
  /** ServiceCIDRs of this family: traffic to unallocated addresses in them is dropped. */
  readonly serviceCIDRs: readonly string[];
}

export function ipX(family: IPFamily): 'ip' | 'ip6' {
  return family === 'IPv4' ? 'ip' : 'ip6';
}

function addrType(family: IPFamily): string {
  return family === 'IPv4' ? 'ipv4_addr' : 'ipv6_addr';
}

const BASE_CHAINS: readonly { name: string; type: 'filter' | 'nat'; hook: string; priority: number }[] = [
  // Filtering on pre-DNAT destinations (firewall) must run before DNAT (-100).
  { name: N.FILTER_PREROUTING_PRE_DNAT, type: 'filter', hook: 'prerouting', priority: -110 },
  { name: N.FILTER_OUTPUT_PRE_DNAT, type: 'filter', hook: 'output', priority: -110 },
  { name: N.FILTER_INPUT, type: 'filter', hook: 'input', priority: 0 },
  { name: N.FILTER_FORWARD, type: 'filter', hook: 'forward', priority: 0 },
  { name: N.FILTER_OUTPUT, type: 'filter', hook: 'output', priority: 0 },
  { name: N.NAT_PREROUTING, type: 'nat', hook: 'prerouting', priority: -100 },
  { name: N.NAT_OUTPUT, type: 'nat', hook: 'output', priority: -100 },
  { name: N.NAT_POSTROUTING, type: 'nat', hook: 'postrouting', priority: 100 },
];

// reject is only valid in input/forward/output hooks on older kernels, so the endpoint checks hang
// off those and only the firewall runs at prerouting.
const JUMP_CHAINS: readonly { from: string; to: string; match: string }[] = [
  { from: N.FILTER_PREROUTING_PRE_DNAT, to: N.FIREWALL_CHECK, match: 'ct state new ' },
  { from: N.FILTER_OUTPUT_PRE_DNAT, to: N.FIREWALL_CHECK, match: 'ct state new ' },
  { from: N.FILTER_FORWARD, to: N.SERVICE_ENDPOINTS_CHECK, match: 'ct state new ' },
  { from: N.FILTER_FORWARD, to: N.CLUSTER_IPS_CHECK, match: 'ct state new ' },
  { from: N.FILTER_INPUT, to: N.NODEPORT_ENDPOINTS_CHECK, match: 'ct state new ' },
  { from: N.FILTER_INPUT, to: N.SERVICE_ENDPOINTS_CHECK, match: 'ct state new ' },
  { from: N.FILTER_OUTPUT, to: N.SERVICE_ENDPOINTS_CHECK, match: 'ct state new ' },
  { from: N.FILTER_OUTPUT, to: N.CLUSTER_IPS_CHECK, match: 'ct state new ' },
  { from: N.NAT_PREROUTING, to: N.SERVICES_CHAIN, match: '' },
  { from: N.NAT_OUTPUT, to: N.SERVICES_CHAIN, match: '' },
  { from: N.NAT_POSTROUTING, to: N.MASQUERADING_CHAIN, match: '' },
];

/** The sets and maps whose elements are tracked between syncs. */
export class RulesetElements {
  readonly clusterIPs = new ElementStorage('set', N.CLUSTER_IPS_SET);
  readonly serviceIPs = new ElementStorage('map', N.SERVICE_IPS_MAP);
  readonly firewallIPs = new ElementStorage('map', N.FIREWALL_IPS_MAP);
  readonly noEndpointServices = new ElementStorage('map', N.NO_ENDPOINT_SERVICES_MAP);
  readonly noEndpointNodePorts = new ElementStorage('map', N.NO_ENDPOINT_NODEPORTS_MAP);
  readonly serviceNodePorts = new ElementStorage('map', N.SERVICE_NODEPORTS_MAP);
  readonly hairpin = new ElementStorage('set', N.HAIRPIN_SET);

  all(): ElementStorage[] {
    return [
      this.clusterIPs,
      this.serviceIPs,
      this.firewallIPs,
      this.noEndpointServices,
      this.noEndpointNodePorts,
      this.serviceNodePorts,
      this.hairpin,
    ];
  }
}

/** Chains that are always there, with their table-level rules; written on every full sync. */
export function writeBaseRuleset(
  tx: Transaction,
  opts: RulesetOptions,
  elements: RulesetElements,
  recreateBaseChains: boolean,
): void {
  const ip = ipX(opts.family);
  const addr = addrType(opts.family);
  const noLocalhost = opts.family === 'IPv4' ? 'ip daddr != 127.0.0.0/8' : 'ip6 daddr != ::1';
  tx.add({ kind: 'table', comment: 'rules for kube-proxy' });

  // Once per process: recreate base chains, so a leftover chain with other hook properties cannot
  // make every later transaction fail.
  if (recreateBaseChains) {
    for (const bc of BASE_CHAINS) {
      tx.add({ kind: 'chain', name: bc.name });
      tx.delete({ kind: 'chain', name: bc.name });
    }
  }
  for (const bc of BASE_CHAINS) {
    const chain = {
      kind: 'chain',
      name: bc.name,
      base: { type: bc.type, hook: bc.hook, priority: bc.priority },
    } as const;
    tx.add(chain);
    tx.flush(chain);
  }
  const ensured = new Set<string>();
  const ensure = (name: string, comment?: string) => {
    if (ensured.has(name)) return;
    ensured.add(name);
    tx.add({ kind: 'chain', name, ...(comment !== undefined && { comment }) });
    tx.flush({ kind: 'chain', name });
  };
  // Sets come first: rules below refer to them.
  tx.add({ kind: 'set', name: N.CLUSTER_IPS_SET, type: addr, comment: 'Active ClusterIPs' });
  tx.add({
    kind: 'set',
    name: N.HAIRPIN_SET,
    type: `${addr} . ${addr}`,
    comment: 'endpoint . endpoint, for hairpin masquerade',
  });
  ensure(N.MARK_MASQ_CHAIN);
  // A pod reaching itself through a service must not see its own address as source: after DNAT
  // such a packet has saddr == daddr, which one set lookup finds for every endpoint at once.
  tx.add({
    kind: 'rule',
    chain: N.NAT_POSTROUTING,
    rule: `ct status dnat ${ip} saddr . ${ip} daddr @${N.HAIRPIN_SET} jump ${N.MARK_MASQ_CHAIN}`,
  });
  for (const j of JUMP_CHAINS) {
    ensure(j.to);
    tx.add({ kind: 'rule', chain: j.from, rule: `${j.match}jump ${j.to}` });
  }
  ensure(N.REJECT_CHAIN, 'helper for @no-endpoint-services / @no-endpoint-nodeports');

  tx.add({ kind: 'rule', chain: N.MARK_MASQ_CHAIN, rule: `mark set mark or ${opts.masqueradeMark}` });
  tx.add({ kind: 'rule', chain: N.MASQUERADING_CHAIN, rule: `mark and ${opts.masqueradeMark} == 0 return` });
  tx.add({ kind: 'rule', chain: N.MASQUERADING_CHAIN, rule: `mark set mark xor ${opts.masqueradeMark}` });
  tx.add({ kind: 'rule', chain: N.MASQUERADING_CHAIN, rule: 'masquerade fully-random' });
  tx.add({ kind: 'rule', chain: N.REJECT_CHAIN, rule: 'reject' });

  tx.add({
    kind: 'rule',
    chain: N.CLUSTER_IPS_CHECK,
    rule: `${ip} daddr @${N.CLUSTER_IPS_SET} reject`,
    comment: 'Reject traffic to invalid ports of ClusterIPs',
  });
  if (opts.serviceCIDRs.length > 0) {
    tx.add({
      kind: 'rule',
      chain: N.CLUSTER_IPS_CHECK,
      rule: `${ip} daddr { ${opts.serviceCIDRs.join(', ')} } drop`,
      comment: 'Drop traffic to unallocated ClusterIPs',
    });
  }

  // add+delete rather than delete alone: deleting a set that does not exist would fail the transaction.
  const nodePortIPsSet = {
    kind: 'set',
    name: N.NODEPORT_IPS_SET,
    type: addr,
    comment: 'IPs that accept NodePort traffic',
  } as const;
  tx.add(nodePortIPsSet);
  if (opts.nodePortIPs === 'all') tx.delete(nodePortIPsSet);
  else {
    tx.flush(nodePortIPsSet);
    for (const nodeIP of opts.nodePortIPs)
      tx.add({ kind: 'element', set: N.NODEPORT_IPS_SET, key: [nodeIP] });
  }

  const ipProtoPort = `${addr} . inet_proto . inet_service : verdict`;
  const protoPort = 'inet_proto . inet_service : verdict';
  const maps = [
    {
      name: N.NO_ENDPOINT_SERVICES_MAP,
      type: ipProtoPort,
      comment: 'vmap to drop or reject packets to services with no endpoints',
    },
    {
      name: N.NO_ENDPOINT_NODEPORTS_MAP,
      type: protoPort,
      comment: 'vmap to drop or reject packets to service nodeports with no endpoints',
    },
    {
      name: N.FIREWALL_IPS_MAP,
      type: ipProtoPort,
      comment: 'destinations that are subject to LoadBalancerSourceRanges',
    },
    {
      name: N.SERVICE_IPS_MAP,
      type: ipProtoPort,
      comment: 'ClusterIP, ExternalIP and LoadBalancer IP traffic',
    },
    { name: N.SERVICE_NODEPORTS_MAP, type: protoPort, comment: 'NodePort traffic' },
  ];
  for (const m of maps) tx.add({ kind: 'map', ...m });

  tx.add({
    kind: 'rule',
    chain: N.SERVICE_ENDPOINTS_CHECK,
    rule: `${ip} daddr . meta l4proto . th dport vmap @${N.NO_ENDPOINT_SERVICES_MAP}`,
  });
  tx.add({
    kind: 'rule',
    chain: N.NODEPORT_ENDPOINTS_CHECK,
    rule:
      opts.nodePortIPs === 'all'
        ? `${noLocalhost} meta l4proto . th dport vmap @${N.NO_ENDPOINT_NODEPORTS_MAP}`
        : `${ip} daddr @${N.NODEPORT_IPS_SET} meta l4proto . th dport vmap @${N.NO_ENDPOINT_NODEPORTS_MAP}`,
  });
  tx.add({
    kind: 'rule',
    chain: N.FIREWALL_CHECK,
    rule: `${ip} daddr . meta l4proto . th dport vmap @${N.FIREWALL_IPS_MAP}`,
  });
  tx.add({
    kind: 'rule',
    chain: N.SERVICES_CHAIN,
    rule: `${ip} daddr . meta l4proto . th dport vmap @${N.SERVICE_IPS_MAP}`,
  });
  tx.add({
    kind: 'rule',
    chain: N.SERVICES_CHAIN,
    rule:
      opts.nodePortIPs === 'all'
        ? `fib daddr type local ${noLocalhost} meta l4proto . th dport vmap @${N.SERVICE_NODEPORTS_MAP}`
        : `${ip} daddr @${N.NODEPORT_IPS_SET} meta l4proto . th dport vmap @${N.SERVICE_NODEPORTS_MAP}`,
  });

  const types: Record<string, string> = {
    [N.CLUSTER_IPS_SET]: addr,
    [N.SERVICE_IPS_MAP]: ipProtoPort,
    [N.FIREWALL_IPS_MAP]: ipProtoPort,
    [N.NO_ENDPOINT_SERVICES_MAP]: ipProtoPort,
    [N.NO_ENDPOINT_NODEPORTS_MAP]: protoPort,
    [N.SERVICE_NODEPORTS_MAP]: protoPort,
    [N.HAIRPIN_SET]: `${addr} . ${addr}`,
  };
  for (const s of elements.all()) s.reset(tx, types[s.name]!);
}

/** A policy chain's session-affinity map for one target port, and the endpoint IPs its entries may name. */
export interface AffinityMap {
  readonly chain: string;
  readonly port: number;
  readonly map: string;
  readonly addresses: readonly string[];
}

/** What one service port contributes, for the sync's bookkeeping and metrics. */
export interface ServicePortResult {
  /** Service and endpoint chains this port uses (kept; all others are stale). */
  readonly chains: readonly string[];
  /** The session-affinity maps of this port's policy chains. */
  readonly affinityMaps: readonly AffinityMap[];
  /** The set and map elements this port wants; the caller hands them to each storage as this port's. */
  readonly elements: ReadonlyMap<ElementStorage, readonly ElementSpec[]>;
  readonly noLocalEndpointsInternal: boolean;
  readonly noLocalEndpointsExternal: boolean;
}

/**
 * Writes the chains and rules of one service port and returns the set and map elements it wants
 * (the caller applies them to the element storages, so only differences reach the kernel).
 */
export function writeServicePort(
  tx: Transaction,
  sp: ServicePort,
  cat: CategorizedEndpoints,
  opts: RulesetOptions,
  elements: RulesetElements,
  /** Whether the kernel may already hold this chain (then it must be flushed before it is rewritten). */
  chainExists: (name: string) => boolean = () => true,
): ServicePortResult {
  const ip = ipX(opts.family);
  const protocol = sp.protocol.toLowerCase();
  const port = String(sp.port);
  const names = N.servicePortChainNames(sp.name);
  const comment = servicePortNameString(sp.name);
  const { clusterEndpoints, localEndpoints, allReachableEndpoints, hasAnyEndpoints } = cat;

  const chains: string[] = [];
  const affinityMaps: AffinityMap[] = [];
  const elementSpecs = new Map<ElementStorage, ElementSpec[]>();
  const want = (storage: ElementStorage, key: string[], value?: string, elementComment?: string) => {
    const list = elementSpecs.get(storage) ?? [];
    list.push(elementSpec(key, value, elementComment));
    elementSpecs.set(storage, list);
  };
  const ensure = (name: string) => {
    chains.push(name);
    tx.add({ kind: 'chain', name });
    if (chainExists(name)) tx.flush({ kind: 'chain', name });
  };
  // Only local endpoints, as upstream 1.37: a remote pod reaching itself through this node is not
  // masqueraded (its own node would be the one to proxy it).
  for (const ep of allReachableEndpoints) if (ep.isLocal) want(elements.hairpin, [ep.ip, ep.ip]);

  const policy = trafficPolicy(sp, cat);
  const { usesClusterPolicyChain, usesLocalPolicyChain, hasInternalEndpoints, hasExternalEndpoints } = policy;
  if (usesClusterPolicyChain) ensure(names.cluster);
  if (usesLocalPolicyChain) ensure(names.local);
  const internalTrafficChain = names[policy.internal];
  const externalPolicyChain = names[policy.external];
  const { usesExternalTrafficChain } = policy;
  if (usesExternalTrafficChain) ensure(names.external);

  let internalVerdict = '';
  let externalVerdict = '';
  if (!hasAnyEndpoints) {
    internalVerdict = `goto ${N.REJECT_CHAIN}`;
    externalVerdict = `goto ${N.REJECT_CHAIN}`;
  } else {
    if (!hasInternalEndpoints) internalVerdict = 'drop';
    if (!hasExternalEndpoints) externalVerdict = 'drop';
  }

  want(elements.clusterIPs, [sp.clusterIP]);
  if (hasInternalEndpoints) {
    want(elements.serviceIPs, [sp.clusterIP, protocol, port], `goto ${internalTrafficChain}`);
  } else {
    want(elements.noEndpointServices, [sp.clusterIP, protocol, port], internalVerdict, comment);
  }
  for (const extIP of sp.externalIPs) {
    if (hasAnyEndpoints) want(elements.serviceIPs, [extIP, protocol, port], `goto ${names.external}`);
    if (!hasExternalEndpoints)
      want(elements.noEndpointServices, [extIP, protocol, port], externalVerdict, comment);
  }
  const usesFirewallChain = sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  if (usesFirewallChain) ensure(names.firewall);
  for (const lbIP of sp.loadBalancerVIPs) {
    if (hasAnyEndpoints) want(elements.serviceIPs, [lbIP, protocol, port], `goto ${names.external}`);
    if (usesFirewallChain) want(elements.firewallIPs, [lbIP, protocol, port], `goto ${names.firewall}`);
    if (!hasExternalEndpoints)
      want(elements.noEndpointServices, [lbIP, protocol, port], externalVerdict, comment);
  }
  if (sp.nodePort !== 0) {
    const np = String(sp.nodePort);
    // NodePorts are not subject to loadBalancerSourceRanges, as upstream.
    if (hasAnyEndpoints) want(elements.serviceNodePorts, [protocol, np], `goto ${names.external}`);
    if (!hasExternalEndpoints) want(elements.noEndpointNodePorts, [protocol, np], externalVerdict, comment);
  }

  const result: ServicePortResult = {
    chains,
    affinityMaps,
    elements: elementSpecs,
    noLocalEndpointsInternal: hasAnyEndpoints && !hasInternalEndpoints,
    noLocalEndpointsExternal: hasAnyEndpoints && !hasExternalEndpoints,
  };

  const rule = (chain: string, text: string, ruleComment?: string) =>
    tx.add({ kind: 'rule', chain, rule: text, ...(ruleComment !== undefined && { comment: ruleComment }) });

  if (hasInternalEndpoints) {
    const match = `${ip} daddr ${sp.clusterIP} ${protocol} dport ${sp.port}`;
    if (opts.masqueradeAll) rule(internalTrafficChain, `${match} jump ${N.MARK_MASQ_CHAIN}`);
    else if (opts.localDetector.ifNotLocal !== undefined) {
      // Off-cluster traffic routed to a ClusterIP may be sent on to another node: masquerade it.
      rule(internalTrafficChain, `${match} ${opts.localDetector.ifNotLocal} jump ${N.MARK_MASQ_CHAIN}`);
    }
  }

  if (usesExternalTrafficChain) {
    if (!sp.externalPolicyLocal) rule(names.external, `jump ${N.MARK_MASQ_CHAIN}`);
    else {
      if (opts.localDetector.ifLocal !== undefined) {
        rule(
          names.external,
          `${opts.localDetector.ifLocal} goto ${names.cluster}`,
          'short-circuit pod traffic',
        );
      }
      // The node's own traffic to an external IP leaves with that IP as source: it must be masqueraded.
      rule(names.external, `fib saddr type local jump ${N.MARK_MASQ_CHAIN}`, 'masquerade local traffic');
      rule(names.external, `fib saddr type local goto ${names.cluster}`, 'short-circuit local traffic');
    }
    if (hasExternalEndpoints) rule(names.external, `goto ${externalPolicyChain}`);
  }

  if (usesFirewallChain) {
    const sources = [...sp.loadBalancerSourceRanges];
    const allowFromNode =
      opts.nodeIP !== undefined &&
      sp.loadBalancerSourceRanges.some((r) => {
        const c = parseCIDR(r);
        return c !== undefined && cidrContains(c, opts.nodeIP!);
      });
    // Node-to-LB traffic often loops back with the VIP as source; let it through.
    if (allowFromNode) sources.push(...sp.loadBalancerVIPs);
    rule(names.firewall, `${ip} saddr != { ${sources.join(', ')} } drop`);
  }

  const dnat = (ep: Endpoint) =>
    `meta l4proto ${protocol} dnat to ${opts.family === 'IPv4' ? `${ep.ip}:${ep.port}` : `[${ep.ip}]:${ep.port}`}`;
  // Uniform random choice without an anonymous vmap per service (the kernel allocates those in time
  // linear in their number, which makes large rulesets quadratic): endpoint i of N is taken with
  // probability 1/(N-i) among the packets that reach its rule, as iptables' statistic chain does.
  //
  // ClientIP affinity keeps one dynamic map per policy chain and target port, client IP → endpoint
  // IP, instead of upstream's set and chain per endpoint: the kernel looks named sets up by a linear
  // scan, so thousands of per-endpoint sets made large rulesets apply in quadratic time. A client
  // found in a map goes to its endpoint and refreshes the entry's timeout (an update of an existing
  // key keeps its data; an endpoint of the map stands in should the entry expire in between);
  // otherwise the random pick records its endpoint. Map values are addresses, the port is in the
  // rule: nft 1.0.6 cannot update a map whose value is an IPv6 address and a port.
  const writeServiceToEndpoints = (chain: string, eps: readonly Endpoint[]) => {
    let record = (_ep: Endpoint) => '';
    if (sp.sessionAffinityClientIP) {
      const byPort = new Map<number, string>();
      for (const port of new Set(eps.map((ep) => ep.port))) {
        const addresses = eps.filter((ep) => ep.port === port).map((ep) => ep.ip);
        const map = N.affinityMapName(chain, port, addresses, sp.stickyMaxAgeSeconds);
        byPort.set(port, map);
        affinityMaps.push({ chain, port, map, addresses });
        tx.add({
          kind: 'map',
          name: map,
          type: `${addrType(opts.family)} : ${addrType(opts.family)}`,
          flags: ['dynamic', 'timeout'],
          timeoutSeconds: sp.stickyMaxAgeSeconds,
          // No size: a larger one makes the kernel preallocate a larger hash table for every map.
        });
        rule(
          chain,
          `${ip} saddr @${map} update @${map} { ${ip} saddr : ${addresses[0]} } ` +
            `meta l4proto ${protocol} dnat to ${ip} saddr map @${map} : ${port}`,
        );
      }
      record = (ep) => `update @${byPort.get(ep.port)} { ${ip} saddr : ${ep.ip} } `;
    }
    const pick = (i: number) => (i < eps.length - 1 ? `numgen random mod ${eps.length - i} == 0 ` : '');
    for (const [i, ep] of eps.entries()) rule(chain, `${pick(i)}${record(ep)}${dnat(ep)}`);
    // A full affinity map (65535 clients, nft's default size) fails the update and with it the
    // rule: those clients are balanced without affinity rather than left without DNAT.
    if (sp.sessionAffinityClientIP) for (const [i, ep] of eps.entries()) rule(chain, `${pick(i)}${dnat(ep)}`);
  };
  if (usesClusterPolicyChain) writeServiceToEndpoints(names.cluster, clusterEndpoints);
  if (usesLocalPolicyChain) writeServiceToEndpoints(names.local, localEndpoints);
  return result;
}
