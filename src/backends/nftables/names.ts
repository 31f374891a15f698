// Names of the objects in table kube-proxy, identical to upstream's so that operators' tooling,
// runbooks and `nft list` habits carry over.
import { createHash } from 'node:crypto';
import type { ServicePortName } from '../../model/service-port.ts';

export const TABLE = 'kube-proxy';

export const FILTER_PREROUTING_PRE_DNAT = 'filter-prerouting-pre-dnat';
export const FILTER_OUTPUT_PRE_DNAT = 'filter-output-pre-dnat';
export const FILTER_INPUT = 'filter-input';
export const FILTER_FORWARD = 'filter-forward';
export const FILTER_OUTPUT = 'filter-output';
export const NAT_PREROUTING = 'nat-prerouting';
export const NAT_OUTPUT = 'nat-output';
export const NAT_POSTROUTING = 'nat-postrouting';

export const SERVICES_CHAIN = 'services';
export const SERVICE_IPS_MAP = 'service-ips';
export const SERVICE_NODEPORTS_MAP = 'service-nodeports';
export const NODEPORT_IPS_SET = 'nodeport-ips';
export const CLUSTER_IPS_SET = 'cluster-ips';
/** kube-proxy-ts: endpoint . endpoint pairs; replaces upstream's per-endpoint hairpin rules. */
export const HAIRPIN_SET = 'hairpin-endpoints';
export const SERVICE_ENDPOINTS_CHECK = 'service-endpoints-check';
export const NODEPORT_ENDPOINTS_CHECK = 'nodeport-endpoints-check';
export const NO_ENDPOINT_SERVICES_MAP = 'no-endpoint-services';
export const NO_ENDPOINT_NODEPORTS_MAP = 'no-endpoint-nodeports';
export const REJECT_CHAIN = 'reject-chain';
export const CLUSTER_IPS_CHECK = 'cluster-ips-check';
export const FIREWALL_CHECK = 'firewall-check';
export const FIREWALL_IPS_MAP = 'firewall-ips';
export const MARK_MASQ_CHAIN = 'mark-for-masquerade';
export const MASQUERADING_CHAIN = 'masquerading';

const CHAIN_NAME_BASE_MAX = 256 - 16;

/** "HASH-name": the hash keeps names unique when truncated and makes near-identical names easy to tell apart. */
function hashAndTruncate(name: string): string {
  const digest = createHash('sha256').update(name).digest();
  const full = `${base32(digest).slice(0, 8)}-${name}`;
  return full.length > CHAIN_NAME_BASE_MAX ? `${full.slice(0, CHAIN_NAME_BASE_MAX - 3)}...` : full;
}

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** "HASH-ns/svc/proto/port": names are DNS labels and "/" cannot occur in them, so the parts stay unambiguous. */
export function servicePortChainNameBase(spn: ServicePortName): string {
  return hashAndTruncate(`${spn.namespace}/${spn.name}/${spn.protocol.toLowerCase()}/${spn.port}`);
}

/** "HASH-ns/svc/proto/port__ip/port"; IPv6 colons become dots, as ":" is not allowed in chain names. */
export function endpointChainNameBase(spn: ServicePortName, ip: string, port: number): string {
  const proto = spn.protocol.toLowerCase();
  return hashAndTruncate(
    `${spn.namespace}/${spn.name}/${proto}/${spn.port}__${ip.replaceAll(':', '.')}/${port}`,
  );
}

export interface ServicePortChainNames {
  readonly cluster: string;
  readonly local: string;
  readonly external: string;
  readonly firewall: string;
}

export function servicePortChainNames(spn: ServicePortName): ServicePortChainNames {
  const base = servicePortChainNameBase(spn);
  return {
    cluster: `service-${base}`,
    local: `local-${base}`,
    external: `external-${base}`,
    firewall: `firewall-${base}`,
  };
}

export function endpointChainName(spn: ServicePortName, ip: string, port: number): string {
  return `endpoint-${endpointChainNameBase(spn, ip, port)}`;
}

export function affinitySetName(spn: ServicePortName, ip: string, port: number): string {
  return `affinity-${endpointChainNameBase(spn, ip, port)}`;
}

/** Service and endpoint chains always contain "/"; the fixed chains never do. */
export function isServiceChainName(name: string): boolean {
  return name.includes('/');
}

export function isAffinitySetName(name: string): boolean {
  return name.startsWith('affinity-');
}
