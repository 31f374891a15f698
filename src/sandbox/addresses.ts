// The sandbox address plan. Only benchmark (198.18.0.0/15) and ULA (fd00::/8) space is used, so
// nothing can collide with a real network. One plan per IP family; every IPv4 address of the plan
// has an IPv6 twin given by v6Of() (see test/kernel/README.md for the mapping).
import { isIPv4, isIPv6 } from 'node:net';
import { cidrContains, parseCIDR, parseIP } from '../util/ip.ts';

export type Family = 'IPv4' | 'IPv6';

export interface AddressPlan {
  family: Family;
  /** The node's address on the pod bridge: every local pod's gateway and its masquerade source. */
  podGateway: string;
  podGatewayPrefixLen: number;
  /** The node's (primary) address on the link to the off-cluster client. */
  nodeIP: string;
  clientIP: string;
  linkPrefixLen: number;
  /** A second node address on the client link, in its own subnet (nodePortAddresses tests). */
  secondaryNodeIP: string;
  secondaryClientIP: string;
  /** The node's address on the link to the remote node: what remote pods see when traffic is masqueraded. */
  remoteLinkNodeIP: string;
  /** The remote node's address on that link. */
  remoteNodeIP: string;
  /** The remote node's address on its own pod bridge: the gateway of remote pods. */
  remotePodGateway: string;
  /** Pod addresses come from here (the proxy's --cluster-cidr). */
  clusterCIDR: string;
  serviceCIDR: string;
  /** Routed from the client to the node: external IPs and load balancer IPs live here. */
  externalIPRange: string;
  loadBalancerIPRange: string;
  /** Extra addresses of the off-cluster client: an external client and one outside the source ranges. */
  externalClientIP: string;
  blockedClientIP: string;
}

export const IPV4_PLAN: AddressPlan = {
  family: 'IPv4',
  podGateway: '198.18.1.1',
  podGatewayPrefixLen: 24,
  nodeIP: '198.19.0.2',
  clientIP: '198.19.0.1',
  linkPrefixLen: 24,
  secondaryNodeIP: '198.19.1.2',
  secondaryClientIP: '198.19.1.1',
  remoteLinkNodeIP: '198.19.3.1',
  remoteNodeIP: '198.19.3.2',
  remotePodGateway: '198.18.2.1',
  clusterCIDR: '198.18.0.0/16',
  serviceCIDR: '198.19.16.0/20',
  externalIPRange: '198.19.99.0/24',
  loadBalancerIPRange: '198.19.200.0/24',
  externalClientIP: '198.19.100.2',
  blockedClientIP: '198.19.100.130',
};

/**
 * The IPv6 twin of a sandbox IPv4 address: the last two decimal octets are written as the last two
 * hex groups, so 198.18.180.1 → fd00:10::180:1, 198.19.100.130 → fd00:19::100:130, and ServiceCIDR
 * addresses 198.19.(16+a).b → fd00:10:96::a:b (inside fd00:10:96::/108).
 */
export function v6Of(v4: string): string {
  const m = /^198\.(18|19)\.(\d{1,3})\.(\d{1,3})$/.exec(v4);
  if (!m || !isIPv4(v4)) throw new Error(`${v4}: only 198.18.0.0/15 addresses have an IPv6 twin`);
  const [, b, c, d] = m as unknown as [string, string, string, string];
  const cn = Number(c);
  let text: string;
  if (b === '18') text = `fd00:10::${c}:${d}`;
  else if (cn >= 16 && cn < 32) text = `fd00:10:96::${(cn - 16).toString(16)}:${d}`;
  else text = `fd00:19::${c}:${d}`;
  return canonical(text);
}

/** The address of `v4` in `family`: itself for IPv4, its twin for IPv6. */
export function inFamily(v4: string, family: Family): string {
  return family === 'IPv4' ? v4 : v6Of(v4);
}

/** The canonical text of an address (lower case, RFC 5952), as sockets and nft print it. */
export function canonical(ip: string): string {
  const parsed = parseIP(ip);
  if (!parsed) throw new Error(`not an IP address: ${ip}`);
  return parsed.text;
}

export function familyOf(ip: string): Family {
  if (isIPv4(ip)) return 'IPv4';
  if (isIPv6(ip)) return 'IPv6';
  throw new Error(`not an IP address: ${ip}`);
}

export const IPV6_PLAN: AddressPlan = {
  family: 'IPv6',
  podGateway: v6Of(IPV4_PLAN.podGateway),
  podGatewayPrefixLen: 112,
  nodeIP: v6Of(IPV4_PLAN.nodeIP),
  clientIP: v6Of(IPV4_PLAN.clientIP),
  linkPrefixLen: 112,
  secondaryNodeIP: v6Of(IPV4_PLAN.secondaryNodeIP),
  secondaryClientIP: v6Of(IPV4_PLAN.secondaryClientIP),
  remoteLinkNodeIP: v6Of(IPV4_PLAN.remoteLinkNodeIP),
  remoteNodeIP: v6Of(IPV4_PLAN.remoteNodeIP),
  remotePodGateway: v6Of(IPV4_PLAN.remotePodGateway),
  clusterCIDR: 'fd00:10::/64',
  serviceCIDR: 'fd00:10:96::/108',
  externalIPRange: 'fd00:19::99:0/112',
  loadBalancerIPRange: 'fd00:19::200:0/112',
  externalClientIP: v6Of(IPV4_PLAN.externalClientIP),
  blockedClientIP: v6Of(IPV4_PLAN.blockedClientIP),
};

export const PLANS: Record<Family, AddressPlan> = { IPv4: IPV4_PLAN, IPv6: IPV6_PLAN };
export const FAMILIES: readonly Family[] = ['IPv4', 'IPv6'];

/** The plan a pod address belongs to; throws for anything outside the sandbox pod ranges or a gateway. */
export function planFor(ip: string): AddressPlan {
  const addr = parseIP(ip);
  if (addr) {
    const plan = PLANS[addr.family];
    const gateways = [plan.podGateway, plan.remotePodGateway];
    if (cidrContains(parseCIDR(plan.clusterCIDR)!, addr) && !gateways.includes(addr.text)) return plan;
  }
  throw new Error(
    `pod IP ${ip}: the sandbox supports pod IPs in ${IPV4_PLAN.clusterCIDR} and ${IPV6_PLAN.clusterCIDR} (not the gateways)`,
  );
}

/** Whether `ip` lies inside `cidr`. */
export function inCIDR(cidr: string, ip: string): boolean {
  const c = parseCIDR(cidr);
  const a = parseIP(ip);
  return c !== undefined && a !== undefined && cidrContains(c, a);
}
