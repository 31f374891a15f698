// The sandbox address plan. Only benchmark (198.18.0.0/15) and ULA (fd00::/8) space is used, so
// nothing can collide with a real network. One plan per IP family; IPv6 gets its own plan later.
import { isIPv4 } from 'node:net';

export interface AddressPlan {
  family: 'IPv4' | 'IPv6';
  /** The node's address on the pod bridge: every pod's gateway and its masquerade source. */
  podGateway: string;
  podGatewayPrefixLen: number;
  /** The node's address on the link to the off-cluster client. */
  nodeIP: string;
  clientIP: string;
  linkPrefixLen: number;
  /** Pod addresses come from here (the proxy's --cluster-cidr). */
  clusterCIDR: string;
  serviceCIDR: string;
}

export const IPV4_PLAN: AddressPlan = {
  family: 'IPv4',
  podGateway: '198.18.1.1',
  podGatewayPrefixLen: 24,
  nodeIP: '198.19.0.2',
  clientIP: '198.19.0.1',
  linkPrefixLen: 24,
  clusterCIDR: '198.18.0.0/16',
  serviceCIDR: '198.19.16.0/20',
};

/** The plan a pod address belongs to; throws for anything outside the sandbox ranges. */
export function planFor(ip: string): AddressPlan {
  if (isIPv4(ip) && /^198\.18\.\d+\.\d+$/.test(ip) && ip !== IPV4_PLAN.podGateway) return IPV4_PLAN;
  throw new Error(`pod IP ${ip}: the sandbox supports IPv4 pod IPs in 198.18.0.0/16 (not the gateway)`);
}
