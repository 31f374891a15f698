// Validation of Kubernetes names. These strings end up inside nft chain names and comments,
// so anything that is not a valid Kubernetes name is refused before it gets near a rule.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IANA_SVC_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Namespace and Service names: DNS-1123 labels of at most 63 characters. */
export function isDNSLabel(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 63 && DNS1123_LABEL.test(s);
}

/** EndpointSlice and Node names: DNS-1123 subdomains of at most 253 characters. */
export function isDNSSubdomain(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

/** Port names: IANA service names (at most 15 characters, at least one letter, no "--"). */
export function isPortName(s: unknown): s is string {
  return (
    typeof s === 'string' && s.length <= 15 && IANA_SVC_NAME.test(s) && /[a-z]/.test(s) && !s.includes('--')
  );
}

export function isPortNumber(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

/** A port's protocol; unset (or "", which kube-apiserver defaults for Service ports too) is TCP. */
export function parseProtocol(p: unknown): Protocol | undefined {
  if (p === undefined || p === null || p === '') return 'TCP';
  return p === 'TCP' || p === 'UDP' || p === 'SCTP' ? p : undefined;
}
