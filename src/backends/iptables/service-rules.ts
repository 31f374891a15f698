// The rules of one service port: its captures in the fixed chains (always written) and its own
// SVC/SVL/EXT/FW/SEP chains (written only when the service changed, or on a full sync).
// Follows upstream's syncProxyRules loop body (pkg/proxy/iptables/proxier.go, v1.37.2).
import type { Endpoint } from '../../model/endpoint.ts';
import { type ServicePort, servicePortNameString } from '../../model/service-port.ts';
import type { CategorizedEndpoints } from '../../topology/categorize-endpoints.ts';
import { trafficPolicy } from '../../topology/traffic-policy.ts';
import { cidrContains, type IP, parseCIDR } from '../../util/ip.ts';
import * as N from './names.ts';
import { bare, chainLine, type LineBuffer, probability, quoted } from './rule-text.ts';

export interface ServiceRulesContext {
  readonly masqueradeAll: boolean;
  readonly ifLocal: readonly string[] | undefined;
  readonly ifNotLocal: readonly string[] | undefined;
  /** Add the nfacct-counted 127.0.0.0/8 NodePort rule (IPv4, localhost NodePorts, counter exists). */
  readonly localhostNodePortCounter: boolean;
  readonly nodeIP: IP | undefined;
  readonly largeClusterMode: boolean;
  readonly filterRules: LineBuffer;
  readonly natRules: LineBuffer;
  /** Where this service's own chains go: the real buffers, or counting-only ones for unchanged services. */
  readonly natChains: LineBuffer;
  readonly serviceNatRules: LineBuffer;
  readonly activeNatChains: Set<string>;
}

export interface ServiceRulesResult {
  readonly noLocalInternal: boolean;
  readonly noLocalExternal: boolean;
}

export const NFACCT_LOCALHOST_NODEPORTS = 'localhost_nps_accepted_pkts';

// Everything from the object that reaches a rule is checked once here, so the rule texts below
// can concatenate freely.
function checkServicePort(sp: ServicePort, endpoints: readonly Endpoint[]): void {
  bare(servicePortNameString(sp.name));
  bare(sp.clusterIP);
  for (const v of sp.externalIPs) bare(v);
  for (const v of sp.loadBalancerVIPs) bare(v);
  for (const v of sp.loadBalancerSourceRanges) bare(v);
  for (const ep of endpoints) {
    bare(ep.ip);
    bare(ep.key);
  }
}

export function writeServicePortRules(
  ctx: ServiceRulesContext,
  sp: ServicePort,
  cat: CategorizedEndpoints,
): ServiceRulesResult {
  const { clusterEndpoints, localEndpoints, allReachableEndpoints, hasAnyEndpoints } = cat;
  checkServicePort(sp, allReachableEndpoints);
  const proto = N.protocolLower(sp.name);
  const name = servicePortNameString(sp.name);
  const chains = N.serviceChainNames(sp.name);
  const { filterRules, natRules } = ctx;
  const match = `-m ${proto} -p ${proto}`;
  const port = String(sp.port);

  const policy = trafficPolicy(sp, cat);
  const { usesClusterPolicyChain, usesLocalPolicyChain, hasInternalEndpoints, hasExternalEndpoints } = policy;
  const byPolicy = { cluster: chains.svc, local: chains.svl };
  const internalTrafficChain = byPolicy[policy.internal];
  const externalPolicyChain = byPolicy[policy.external];
  const externalTrafficChain = chains.ext;
  const { usesExternalTrafficChain } = policy;
  const usesFWChain =
    hasAnyEndpoints && sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  const loadBalancerTrafficChain = usesFWChain ? chains.fw : externalTrafficChain;

  let internalFilter = '';
  let externalFilter = '';
  let noLocalInternal = false;
  let noLocalExternal = false;
  if (!hasAnyEndpoints) {
    const comment = quoted(`${name} has no endpoints`);
    internalFilter = `-m comment --comment ${comment} `;
    externalFilter = internalFilter;
    internalFilter += `${match} -d ${sp.clusterIP} --dport ${port} -j REJECT`;
  } else {
    const comment = quoted(`${name} has no local endpoints`);
    if (!hasInternalEndpoints) {
      internalFilter = `-m comment --comment ${comment} ${match} -d ${sp.clusterIP} --dport ${port} -j DROP`;
      noLocalInternal = true;
    }
    if (!hasExternalEndpoints) {
      externalFilter = `-m comment --comment ${comment} `;
      noLocalExternal = true;
    }
  }
  const externalTarget = hasAnyEndpoints ? 'DROP' : 'REJECT';

  // Capture the clusterIP.
  if (hasInternalEndpoints) {
    natRules.write(
      `-A ${N.KUBE_SERVICES} -m comment --comment ${quoted(`${name} cluster IP`)} ${match} -d ${sp.clusterIP} --dport ${port} -j ${internalTrafficChain}`,
    );
  } else {
    filterRules.write(`-A ${N.KUBE_SERVICES} ${internalFilter}`);
  }

  for (const ip of sp.externalIPs) {
    if (hasAnyEndpoints) {
      natRules.write(
        `-A ${N.KUBE_SERVICES} -m comment --comment ${quoted(`${name} external IP`)} ${match} -d ${ip} --dport ${port} -j ${externalTrafficChain}`,
      );
    }
    if (!hasExternalEndpoints) {
      filterRules.write(
        `-A ${N.KUBE_EXTERNAL_SERVICES} ${externalFilter}${match} -d ${ip} --dport ${port} -j ${externalTarget}`,
      );
    }
  }

  for (const ip of sp.loadBalancerVIPs) {
    if (hasAnyEndpoints) {
      natRules.write(
        `-A ${N.KUBE_SERVICES} -m comment --comment ${quoted(`${name} loadbalancer IP`)} ${match} -d ${ip} --dport ${port} -j ${loadBalancerTrafficChain}`,
      );
    }
    if (usesFWChain) {
      filterRules.write(
        `-A ${N.KUBE_PROXY_FIREWALL} -m comment --comment ${quoted(`${name} traffic not accepted by ${chains.fw}`)} ${match} -d ${ip} --dport ${port} -j DROP`,
      );
    }
  }
  if (!hasExternalEndpoints) {
    for (const ip of sp.loadBalancerVIPs) {
      filterRules.write(
        `-A ${N.KUBE_EXTERNAL_SERVICES} ${externalFilter}${match} -d ${ip} --dport ${port} -j ${externalTarget}`,
      );
    }
  }

  if (sp.nodePort !== 0) {
    const nodePort = String(sp.nodePort);
    if (hasAnyEndpoints) {
      // NodePorts are not subject to loadBalancerSourceRanges (upstream keeps it that way).
      if (ctx.localhostNodePortCounter) {
        natRules.write(
          `-A ${N.KUBE_NODEPORTS} -m comment --comment ${name} ${match} -d 127.0.0.0/8 --dport ${nodePort} -m nfacct --nfacct-name ${NFACCT_LOCALHOST_NODEPORTS} -j ${externalTrafficChain}`,
        );
      }
      natRules.write(
        `-A ${N.KUBE_NODEPORTS} -m comment --comment ${name} ${match} --dport ${nodePort} -j ${externalTrafficChain}`,
      );
    }
    if (!hasExternalEndpoints) {
      filterRules.write(
        `-A ${N.KUBE_EXTERNAL_SERVICES} ${externalFilter}-m addrtype --dst-type LOCAL ${match} --dport ${nodePort} -j ${externalTarget}`,
      );
    }
  }

  if (sp.healthCheckNodePort !== 0) {
    // Accepted whether or not this node has local endpoints: the answer is the health check.
    filterRules.write(
      `-A ${N.KUBE_NODEPORTS} -m comment --comment ${quoted(`${name} health check node port`)} -m tcp -p tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`,
    );
  }

  // From here on: the service's own chains, which an unchanged service leaves as they are.
  const natChains = ctx.natChains;
  const rules = ctx.serviceNatRules;
  const active = ctx.activeNatChains;

  if (hasInternalEndpoints) {
    const args = `-m comment --comment ${quoted(`${name} cluster IP`)} ${match} -d ${sp.clusterIP} --dport ${port}`;
    if (ctx.masqueradeAll) {
      rules.write(`-A ${internalTrafficChain} ${args} -j ${N.KUBE_MARK_MASQ}`);
    } else if (ctx.ifNotLocal !== undefined) {
      // Off-cluster clients routed to a ClusterIP through this node may be answered by a pod on
      // another node, so they are masqueraded.
      rules.write(`-A ${internalTrafficChain} ${args} ${ctx.ifNotLocal.join(' ')} -j ${N.KUBE_MARK_MASQ}`);
    }
  }

  if (usesExternalTrafficChain) {
    const ext = externalTrafficChain;
    natChains.write(chainLine(ext));
    active.add(ext);
    if (!sp.externalPolicyLocal) {
      rules.write(
        `-A ${ext} -m comment --comment ${quoted(`masquerade traffic for ${name} external destinations`)} -j ${N.KUBE_MARK_MASQ}`,
      );
    } else {
      // Pods and the node itself reach external destinations as if through the load balancer:
      // neither traffic policy applies to them.
      if (ctx.ifLocal !== undefined) {
        rules.write(
          `-A ${ext} -m comment --comment ${quoted(`pod traffic for ${name} external destinations`)} ${ctx.ifLocal.join(' ')} -j ${chains.svc}`,
        );
      }
      rules.write(
        `-A ${ext} -m comment --comment ${quoted(`masquerade LOCAL traffic for ${name} external destinations`)} -m addrtype --src-type LOCAL -j ${N.KUBE_MARK_MASQ}`,
      );
      rules.write(
        `-A ${ext} -m comment --comment ${quoted(`route LOCAL traffic for ${name} external destinations`)} -m addrtype --src-type LOCAL -j ${chains.svc}`,
      );
    }
    if (hasExternalEndpoints) rules.write(`-A ${ext} -j ${externalPolicyChain}`);
  }

  if (usesFWChain) {
    natChains.write(chainLine(chains.fw));
    active.add(chains.fw);
    const head = `-A ${chains.fw} -m comment --comment ${quoted(`${name} loadbalancer IP`)}`;
    let allowFromNode = false;
    for (const range of sp.loadBalancerSourceRanges) {
      rules.write(`${head} -s ${range} -j ${externalTrafficChain}`);
      const cidr = parseCIDR(range);
      if (cidr && ctx.nodeIP && cidrContains(cidr, ctx.nodeIP)) allowFromNode = true;
    }
    // A VIP that is also a local address loops a node's request back with the VIP as source.
    if (allowFromNode) {
      for (const ip of sp.loadBalancerVIPs) rules.write(`${head} -s ${ip} -j ${externalTrafficChain}`);
    }
    // What falls off the end was not DNATed; KUBE-PROXY-FIREWALL in filter drops it.
    rules.write(
      `-A ${chains.fw} -m comment --comment ${quoted(`other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL`)}`,
    );
  }

  if (usesClusterPolicyChain) {
    natChains.write(chainLine(chains.svc));
    active.add(chains.svc);
    writeServiceToEndpointRules(ctx, rules, sp, name, chains.svc, clusterEndpoints);
  }
  if (usesLocalPolicyChain) {
    natChains.write(chainLine(chains.svl));
    active.add(chains.svl);
    writeServiceToEndpointRules(ctx, rules, sp, name, chains.svl, localEndpoints);
  }

  const svcComment = ctx.largeClusterMode ? '' : ` -m comment --comment ${name}`;
  for (const ep of allReachableEndpoints) {
    const sep = N.endpointChainName(sp.name, ep);
    natChains.write(chainLine(sep));
    active.add(sep);
    // Hairpin: a pod reaching itself through the service must see the node as the source.
    rules.write(`-A ${sep}${svcComment} -s ${ep.ip} -j ${N.KUBE_MARK_MASQ}`);
    const affinity = sp.sessionAffinityClientIP ? ` -m recent --name ${sep} --set` : '';
    rules.write(`-A ${sep}${svcComment}${affinity} ${match} -j DNAT --to-destination ${ep.key}`);
  }

  return { noLocalInternal, noLocalExternal };
}

function writeServiceToEndpointRules(
  ctx: ServiceRulesContext,
  rules: LineBuffer,
  sp: ServicePort,
  name: string,
  chain: string,
  endpoints: readonly Endpoint[],
): void {
  const comment = (ep: Endpoint) =>
    ctx.largeClusterMode ? '' : ` -m comment --comment ${quoted(`${name} -> ${ep.key}`)}`;
  if (sp.sessionAffinityClientIP) {
    const seconds = String(sp.stickyMaxAgeSeconds);
    for (const ep of endpoints) {
      const sep = N.endpointChainName(sp.name, ep);
      rules.write(
        `-A ${chain}${comment(ep)} -m recent --name ${sep} --rcheck --seconds ${seconds} --reap -j ${sep}`,
      );
    }
  }
  const n = endpoints.length;
  endpoints.forEach((ep, i) => {
    const sep = N.endpointChainName(sp.name, ep);
    // Rule i matches 1/(n-i) of what is left, so every endpoint gets 1/n; the last one takes the rest.
    const stat = i < n - 1 ? ` -m statistic --mode random --probability ${probability(n - i)}` : '';
    rules.write(`-A ${chain}${comment(ep)}${stat} -j ${sep}`);
  });
}
