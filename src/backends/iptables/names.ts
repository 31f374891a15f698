// Chain names of iptables mode, identical to upstream's (pkg/proxy/iptables/proxier.go) so that
// operators' tooling and habits carry over, and so that a switch between upstream kube-proxy and
// ours finds (and cleans up) the same per-service chains.
import { createHash } from 'node:crypto';
import type { Endpoint } from '../../model/endpoint.ts';
import { type ServicePortName, servicePortNameString } from '../../model/service-port.ts';

export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
/** Created empty in mangle, nat and filter; its disappearance tells the proxier iptables was flushed. */
export const KUBE_PROXY_CANARY = 'KUBE-PROXY-CANARY';
/** kubelet's chain for the anti-martian rule; kube-proxy keeps an identical copy and never deletes it. */
export const KUBE_FIREWALL = 'KUBE-FIREWALL';

export const SVC_PREFIX = 'KUBE-SVC-';
export const SVL_PREFIX = 'KUBE-SVL-';
export const EXT_PREFIX = 'KUBE-EXT-';
export const FW_PREFIX = 'KUBE-FW-';
export const SEP_PREFIX = 'KUBE-SEP-';

const SERVICE_CHAIN_PREFIXES = [SVC_PREFIX, SVL_PREFIX, SEP_PREFIX, FW_PREFIX, EXT_PREFIX] as const;

/** Whether a chain is one of the per-service chains kube-proxy creates and deletes. */
export function isServiceChainName(chain: string): boolean {
  return SERVICE_CHAIN_PREFIXES.some((p) => chain.startsWith(p));
}

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding (the padding never reaches the 16 characters we keep). */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

// iptables chain names are limited to 28 characters: 16 hash characters plus the longest prefix fit.
function hash16(input: string): string {
  return base32(createHash('sha256').update(input).digest()).slice(0, 16);
}

// Every sync needs the name of every endpoint chain (to know which chains are still active), and a
// large cluster has 100k of them: remember the hashes instead of recomputing sha256 each time.
const HASH_CACHE_LIMIT = 200_000;
const hashCache = new Map<string, string>();

function cachedHash(input: string): string {
  let h = hashCache.get(input);
  if (h === undefined) {
    if (hashCache.size >= HASH_CACHE_LIMIT) hashCache.clear();
    h = hash16(input);
    hashCache.set(input, h);
  }
  return h;
}

/** The protocol as upstream puts it into the hash input and into `-m`/`-p`: lower case. */
export function protocolLower(name: ServicePortName): string {
  return name.protocol.toLowerCase();
}

/** sha256 of ServicePortName.String() + lower-case protocol, base32, first 16 characters. */
export function portProtoHash(name: ServicePortName): string {
  return cachedHash(servicePortNameString(name) + protocolLower(name));
}

export interface ServiceChainNames {
  /** Cluster traffic policy: all usable endpoints. */
  readonly svc: string;
  /** Local traffic policy: endpoints on this node. */
  readonly svl: string;
  /** External destinations (NodePort, external IP, LB IP). */
  readonly ext: string;
  /** LoadBalancer source ranges. */
  readonly fw: string;
}

export function serviceChainNames(name: ServicePortName): ServiceChainNames {
  const h = portProtoHash(name);
  return { svc: SVC_PREFIX + h, svl: SVL_PREFIX + h, ext: EXT_PREFIX + h, fw: FW_PREFIX + h };
}

/** KUBE-SEP-…: the hash also covers the endpoint's "ip:port" ("[ip]:port" for IPv6). */
export function endpointChainName(name: ServicePortName, endpoint: Pick<Endpoint, 'key'>): string {
  return SEP_PREFIX + cachedHash(servicePortNameString(name) + protocolLower(name) + endpoint.key);
}
