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

/**
 * The session-affinity map of one policy chain and target port (client IP → endpoint IP). The
 * generation is a hash of what the map's entries may point at (the endpoints and the timeout):
 * when that changes the chain gets a fresh map, seeded with the still-valid entries of the old
 * one, so no entry can outlive its endpoint.
 */
export function affinityMapName(
  chain: string,
  port: number,
  addresses: readonly string[],
  timeoutSeconds: number,
): string {
  const digest = createHash('sha256')
    .update(`${timeoutSeconds}|${[...addresses].sort().join(',')}`)
    .digest();
  return `${AFFINITY_PREFIX}${base32(digest).slice(0, 8)}-${port}-${chain}`;
}

const AFFINITY_PREFIX = 'affinity-';
const AFFINITY_OWNER = /^affinity-[A-Z2-7]{8}-([0-9]{1,5})-((?:service|local)-.*)$/;

/** The policy chain and port an affinity map belongs to (undefined for other names, e.g. older per-endpoint sets). */
export function affinityMapOwner(name: string): { chain: string; port: number } | undefined {
  const m = AFFINITY_OWNER.exec(name);
  return m ? { chain: m[2]!, port: Number(m[1]) } : undefined;
}

/** Service chains always contain "/"; the fixed chains never do. */
export function isServiceChainName(name: string): boolean {
  return name.includes('/');
}

/** Affinity maps, and the per-endpoint affinity sets of earlier versions (cleaned up as stale). */
export function isAffinityName(name: string): boolean {
  return name.startsWith(AFFINITY_PREFIX);
}
