// kube-apiserver's validation of the fields kube-proxy reads, for Services, EndpointSlices, Nodes
// and ServiceCIDRs (after kube-apiserver's defaulting: a field the API would default, such as a
// port's protocol or a Service's type, may be left out). Pure: no I/O. Shared by the manifest
// source, which refuses an invalid object whole, and the API source, which checks what a server
// of another version may still send. The facts follow Kubernetes 1.37 (pkg/apis/core/validation,
// pkg/apis/discovery/validation, pkg/apis/networking/validation, and the Service IP allocator);
// the wording is this project's, in the shape of kube-apiserver's field errors
// ("spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive").
import { type IP, parseCIDR, parseIP } from '../util/ip.ts';
import {
  type EndpointSlice,
  LABEL_SERVICE_NAME,
  LABEL_TOPOLOGY_ZONE,
  type Node,
  type Service,
  type ServiceCIDR,
} from './k8s.ts';
import { isDNSLabel, isDNSSubdomain, isPortNumber } from './names.ts';

/** A field: object keys, list indexes, and map keys ({ key }: a label or annotation name). */
export type FieldPathElement = string | number | { readonly key: string };
export type FieldPath = readonly FieldPathElement[];

export interface FieldError {
  readonly path: FieldPath;
  /** "Invalid value: 70000: must be between 1 and 65535, inclusive". */
  readonly reason: string;
}

/**
 * `create`: as kube-apiserver validates an object it is asked to create (manifest files hold
 * objects nobody has validated). `served`: what a kube-apiserver may still serve. It stores objects
 * that were valid under older rules and keeps them (ratcheting), so the checks that apply only to
 * new values are left out: the strict IP and CIDR forms (leading zeros, IPv4-mapped IPv6, host
 * bits, canonical IPv6), and the special ranges refused for external IPs and endpoint addresses;
 * and status is checked only as status updates check it.
 */
export type ValidationMode = 'create' | 'served';

export type ValidatedKind = 'Service' | 'EndpointSlice' | 'Node' | 'ServiceCIDR';

/** "spec.ports[0].port", "metadata.labels[kubernetes.io/service-name]". */
export function formatFieldPath(path: FieldPath): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (typeof p === 'object') out += `[${p.key}]`;
    else out += out === '' ? p : `.${p}`;
  }
  return out;
}

/** "spec.ports[0].port: Invalid value: 70000: ...", and how many more errors the object has. */
export function describeFieldErrors(errors: readonly FieldError[]): string {
  const [first] = errors;
  if (!first) return '';
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
  return `${formatFieldPath(first.path)}: ${first.reason}${more}`;
}

// ---- reasons -----------------------------------------------------------------------------------

const MAX_SHOWN = 80;

/** A value as an error message shows it: JSON, cut short (a value may be megabytes of junk). */
function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text;
}

const invalid = (value: unknown, detail: string) => `Invalid value: ${show(value)}: ${detail}`;
const unsupported = (value: unknown, supported: readonly string[]) =>
  `Unsupported value: ${show(value)}: supported values: ${supported.map((s) => `"${s}"`).join(', ')}`;
const forbidden = (detail: string) => `Forbidden: ${detail}`;
const duplicate = (value: unknown) => `Duplicate value: ${show(value)}`;
const required = (detail = '') => (detail === '' ? 'Required value' : `Required value: ${detail}`);
const tooMany = (n: number, max: number) => `Too many: ${n}: must have at most ${max} items`;

const PORT_RANGE = 'must be between 1 and 65535, inclusive';
const DNS_LABEL =
  "must be a lowercase RFC 1123 label: at most 63 characters, a-z, 0-9 and '-', starting and ending with a letter or digit";
const DNS_SUBDOMAIN =
  "must be a lowercase RFC 1123 subdomain: at most 253 characters, dot-separated labels of a-z, 0-9 and '-', each starting and ending with a letter or digit";
const LABEL_VALUE =
  "must be empty or at most 63 characters, A-Z, a-z, 0-9, '-', '_' and '.', starting and ending with a letter or digit";
const QUALIFIED_NAME =
  "must be a name of at most 63 characters (A-Z, a-z, 0-9, '-', '_' and '.', starting and ending with a letter or digit), with an optional DNS subdomain prefix and '/'";

// ---- shared checks -----------------------------------------------------------------------------

class Errors {
  readonly list: FieldError[] = [];
  add(path: FieldPath, reason: string): void {
    this.list.push({ path, reason });
  }
}

const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function isLabelValue(s: string): boolean {
  return s.length <= 63 && LABEL_VALUE_RE.test(s);
}

function isQualifiedName(s: string): boolean {
  const slash = s.indexOf('/');
  const name = slash < 0 ? s : s.slice(slash + 1);
  if (slash >= 0 && !isDNSSubdomain(s.slice(0, slash))) return false;
  return name !== '' && isLabelValue(name);
}

function checkName(e: Errors, name: unknown, subdomain: boolean): void {
  const path = ['metadata', 'name'];
  if (name === undefined || name === '') e.add(path, required('name or generateName is required'));
  else if (subdomain ? !isDNSSubdomain(name) : !isDNSLabel(name))
    e.add(path, invalid(name, subdomain ? DNS_SUBDOMAIN : DNS_LABEL));
}

function checkNamespace(e: Errors, namespace: unknown, mode: ValidationMode): void {
  // In a manifest an empty namespace is "default" (kubectl fills it in); a server always names it.
  if (namespace === '' && mode === 'served') e.add(['metadata', 'namespace'], required());
  else if (namespace !== undefined && namespace !== '' && !isDNSLabel(namespace))
    e.add(['metadata', 'namespace'], invalid(namespace, DNS_LABEL));
}

function oneOf(e: Errors, path: FieldPath, value: string, allowed: readonly string[]): void {
  if (!allowed.includes(value)) e.add(path, unsupported(value, allowed));
}

function hasLeadingZeros(text: string): boolean {
  // The dotted-decimal part only: IPv6 hex groups may be zero-padded.
  const tail = text.slice(text.lastIndexOf(':') + 1);
  return tail.includes('.') && tail.split('.').some((octet) => /^0[0-9]/.test(octet));
}

function isIPv4Mapped(ip: IP): boolean {
  const p = ip.parts;
  return (
    ip.family === 'IPv6' &&
    p[0] === 0 &&
    p[1] === 0 &&
    p[2] === 0 &&
    p[3] === 0 &&
    p[4] === 0 &&
    p[5] === 0xffff
  );
}

/** The IPv4 octets of an IPv4 address or an IPv4-mapped IPv6 one (Go's To4). */
function ipv4Octets(ip: IP): readonly number[] | undefined {
  if (ip.family === 'IPv4') return ip.parts;
  if (!isIPv4Mapped(ip)) return undefined;
  const [hi = 0, lo = 0] = ip.parts.slice(6);
  return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff];
}

/** A valid IP, or undefined after recording why not. */
function checkIP(e: Errors, path: FieldPath, value: string, mode: ValidationMode): IP | undefined {
  const ip = parseIP(value);
  if (!ip) {
    e.add(path, invalid(value, 'must be a valid IP address (e.g. 198.18.0.1 or fd00::1)'));
    return undefined;
  }
  if (mode === 'create') {
    if (hasLeadingZeros(value)) e.add(path, invalid(value, 'must not have leading 0s'));
    if (isIPv4Mapped(ip)) e.add(path, invalid(value, 'must not be an IPv4-mapped IPv6 address'));
  }
  return ip;
}

/** What kube-apiserver refuses for external IPs and endpoint addresses (ValidateEndpointIP). */
function checkSpecialIP(e: Errors, path: FieldPath, value: string, ip: IP): void {
  const v4 = ipv4Octets(ip);
  const p = ip.parts;
  const unspecified = v4 ? v4.every((o) => o === 0) : p.every((g) => g === 0);
  const loopback = v4 ? v4[0] === 127 : p.slice(0, 7).every((g) => g === 0) && p[7] === 1;
  const linkLocal = v4 ? v4[0] === 169 && v4[1] === 254 : ((p[0] ?? 0) & 0xffc0) === 0xfe80;
  const linkLocalMulticast = v4
    ? v4[0] === 224 && v4[1] === 0 && v4[2] === 0
    : ((p[0] ?? 0) & 0xff0f) === 0xff02;
  if (unspecified) e.add(path, invalid(value, 'may not be unspecified (0.0.0.0, ::)'));
  if (loopback) e.add(path, invalid(value, 'may not be in the loopback range (127.0.0.0/8, ::1/128)'));
  if (linkLocal)
    e.add(path, invalid(value, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'));
  if (linkLocalMulticast)
    e.add(path, invalid(value, 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/16)'));
}

/** A CIDR as legacy fields take it; `canonical` adds IsValidCIDR's "as the network prints". */
function checkCIDR(
  e: Errors,
  path: FieldPath,
  value: string,
  mode: ValidationMode,
  canonical = false,
): ReturnType<typeof parseCIDR> {
  const cidr = parseCIDR(value);
  if (!cidr) {
    e.add(path, invalid(value, 'must be a valid CIDR value (e.g. 198.18.0.0/16 or fd00::/64)'));
    return undefined;
  }
  if (mode === 'create') {
    const slash = value.indexOf('/');
    const ip = parseIP(value.slice(0, slash));
    if (hasLeadingZeros(value.slice(0, slash)) || /^0[0-9]/.test(value.slice(slash + 1)))
      e.add(path, invalid(value, 'must not have leading 0s in IP or prefix length'));
    else if (ip && isIPv4Mapped(ip)) e.add(path, invalid(value, 'must not have an IPv4-mapped IPv6 address'));
    else if (ip && ip.text !== cidr.network.text)
      e.add(path, invalid(value, `must not have bits set beyond the prefix length (use "${cidr.text}")`));
    else if (canonical && value !== cidr.text)
      e.add(path, invalid(value, `must be in canonical form ("${cidr.text}")`));
  }
  return cidr;
}

// ---- Service -----------------------------------------------------------------------------------

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'] as const;
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'] as const;
const IP_FAMILIES = ['IPv4', 'IPv6'] as const;
const IP_FAMILY_POLICIES = ['PreferDualStack', 'RequireDualStack', 'SingleStack'] as const;
const AFFINITIES = ['ClientIP', 'None'] as const;
const TRAFFIC_POLICIES = ['Cluster', 'Local'] as const;
const TRAFFIC_DISTRIBUTIONS = ['PreferClose', 'PreferSameNode', 'PreferSameZone'] as const;
const IP_MODES = ['Proxy', 'VIP'] as const;
const MAX_AFFINITY_SECONDS = 86400;

function checkClusterIPs(e: Errors, svc: Service, mode: ValidationMode): void {
  const spec = svc.spec ?? {};
  const clusterIP = spec.clusterIP ?? '';
  const given = spec.clusterIPs ?? [];
  const families = spec.ipFamilies ?? [];
  const seen = new Set<string>();
  families.forEach((f, i) => {
    const path = ['spec', 'ipFamilies', i];
    oneOf(e, path, f, IP_FAMILIES);
    if (seen.has(f)) e.add(path, duplicate(f));
    seen.add(f);
  });
  const policy = spec.ipFamilyPolicy;
  if (policy !== undefined) oneOf(e, ['spec', 'ipFamilyPolicy'], policy, IP_FAMILY_POLICIES);

  // kube-apiserver fills clusterIPs from a lone clusterIP; the error then points at what was written.
  let ips: { value: string; path: FieldPath }[];
  if (clusterIP === '') {
    if (given.length > 0)
      e.add(['spec', 'clusterIPs'], invalid(given, 'must be empty when `clusterIP` is not specified'));
    return;
  }
  if (given.length === 0) ips = [{ value: clusterIP, path: ['spec', 'clusterIP'] }];
  else {
    if (given[0] !== clusterIP)
      e.add(['spec', 'clusterIPs'], invalid(given, 'first value must match `clusterIP`'));
    ips = given.map((value, i) => ({ value, path: ['spec', 'clusterIPs', i] }));
  }
  const before = e.list.length;
  const parsed: IP[] = [];
  ips.forEach(({ value, path }, i) => {
    if (i === 0 && value === 'None') {
      if (ips.length > 1)
        e.add(['spec', 'clusterIPs'], invalid(given, "'None' must be the first and only value"));
      return;
    }
    const ip = checkIP(e, path, value, mode);
    if (ip) parsed.push(ip);
  });
  if (ips.length > 2) e.add(['spec', 'clusterIPs'], invalid(given, 'may only hold up to 2 values'));
  if (e.list.length > before || clusterIP === 'None') return;
  if (parsed.length === 2 && parsed[0]?.family === parsed[1]?.family)
    e.add(['spec', 'clusterIPs'], invalid(given, 'may specify no more than one IP for each IP family'));
  parsed.forEach((ip, i) => {
    const want = families[i];
    if (want !== undefined && (want === 'IPv4' || want === 'IPv6') && ip.family !== want)
      e.add(
        ips[i]!.path,
        invalid(ips[i]!.value, `expected an ${want} value as indicated by \`ipFamilies[${i}]\``),
      );
  });
  if (policy === 'SingleStack') {
    if (parsed.length === 2)
      e.add(
        ['spec', 'ipFamilyPolicy'],
        invalid(
          policy,
          "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
        ),
      );
    if (families.length === 2)
      e.add(
        ['spec', 'ipFamilyPolicy'],
        invalid(
          policy,
          "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
        ),
      );
  }
}

function checkServicePorts(e: Errors, svc: Service, type: string, headless: boolean): void {
  const ports = svc.spec?.ports ?? [];
  if (ports.length === 0 && !headless && type !== 'ExternalName') e.add(['spec', 'ports'], required());
  const names = new Set<string>();
  const portKeys = new Set<string>();
  const nodePortKeys = new Set<string>();
  ports.forEach((p, i) => {
    const path = ['spec', 'ports', i];
    const name = p.name ?? '';
    if (name === '') {
      if (ports.length > 1)
        e.add([...path, 'name'], required('a name is required when a Service has more than one port'));
    } else if (!isDNSLabel(name)) e.add([...path, 'name'], invalid(name, DNS_LABEL));
    else if (names.has(name)) e.add([...path, 'name'], duplicate(name));
    else names.add(name);
    const port = p.port ?? 0;
    if (!isPortNumber(port)) e.add([...path, 'port'], invalid(port, PORT_RANGE));
    const protocol = p.protocol === undefined || p.protocol === '' ? 'TCP' : p.protocol;
    oneOf(e, [...path, 'protocol'], protocol, PROTOCOLS);
    const nodePort = p.nodePort ?? 0;
    if (nodePort !== 0) {
      if (type === 'ClusterIP')
        e.add([...path, 'nodePort'], forbidden("may not be used when `type` is 'ClusterIP'"));
      else if (!isPortNumber(nodePort)) e.add([...path, 'nodePort'], invalid(nodePort, PORT_RANGE));
      else {
        const key = `${protocol}/${nodePort}`;
        if (nodePortKeys.has(key)) e.add([...path, 'nodePort'], duplicate(nodePort));
        nodePortKeys.add(key);
      }
    }
    const key = `${protocol}/${port}`;
    if (portKeys.has(key)) e.add(path, duplicate({ protocol, port }));
    portKeys.add(key);
  });
}

/** kube-apiserver's Service validation, for the fields kube-proxy reads. */
export function validateService(svc: Service, mode: ValidationMode): FieldError[] {
  const e = new Errors();
  checkName(e, svc.metadata?.name, false);
  checkNamespace(e, svc.metadata?.namespace, mode);
  const spec = svc.spec ?? {};
  const type = spec.type === undefined || spec.type === '' ? 'ClusterIP' : spec.type;
  oneOf(e, ['spec', 'type'], type, SERVICE_TYPES);
  const headless = spec.clusterIP === 'None';

  if (type === 'ExternalName') {
    if ((spec.clusterIP ?? '') !== '' || (spec.clusterIPs?.length ?? 0) > 0)
      e.add(
        ['spec', spec.clusterIP ? 'clusterIP' : 'clusterIPs'],
        forbidden('may not be set for ExternalName services'),
      );
    if ((spec.ipFamilies?.length ?? 0) > 0)
      e.add(['spec', 'ipFamilies'], forbidden('may not be set for ExternalName services'));
    if (spec.ipFamilyPolicy !== undefined)
      e.add(['spec', 'ipFamilyPolicy'], forbidden('may not be set for ExternalName services'));
    const cname = (spec.externalName ?? '').replace(/\.$/, '');
    if (cname === '') e.add(['spec', 'externalName'], required());
    else if (!isDNSSubdomain(cname)) e.add(['spec', 'externalName'], invalid(cname, DNS_SUBDOMAIN));
  } else {
    checkClusterIPs(e, svc, mode);
    if (headless && (type === 'LoadBalancer' || type === 'NodePort'))
      e.add(['spec', 'clusterIP'], invalid('None', `may not be set to 'None' for ${type} services`));
  }

  checkServicePorts(e, svc, type, headless);

  const affinity =
    spec.sessionAffinity === undefined || spec.sessionAffinity === '' ? 'None' : spec.sessionAffinity;
  oneOf(e, ['spec', 'sessionAffinity'], affinity, AFFINITIES);
  const timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
  if (affinity === 'ClientIP' && timeout !== undefined && !(timeout > 0 && timeout <= MAX_AFFINITY_SECONDS))
    e.add(
      ['spec', 'sessionAffinityConfig', 'clientIP', 'timeoutSeconds'],
      invalid(timeout, `must be greater than 0 and at most ${MAX_AFFINITY_SECONDS}`),
    );

  const externalIPs = spec.externalIPs ?? [];
  externalIPs.forEach((value, i) => {
    const path = ['spec', 'externalIPs', i];
    const ip = checkIP(e, path, value, mode);
    if (ip && mode === 'create') checkSpecialIP(e, path, value, ip);
  });

  const ranges = spec.loadBalancerSourceRanges ?? [];
  if (ranges.length > 0 && type !== 'LoadBalancer')
    e.add(['spec', 'loadBalancerSourceRanges'], forbidden("may only be used when `type` is 'LoadBalancer'"));
  ranges.forEach((value, i) => {
    // Surrounding spaces are part of the API (a leftover of the annotation this field replaced).
    checkCIDR(e, ['spec', 'loadBalancerSourceRanges', i], value.trim(), mode);
  });

  const externallyAccessible =
    type === 'LoadBalancer' || type === 'NodePort' || (type === 'ClusterIP' && externalIPs.length > 0);
  const eTP = spec.externalTrafficPolicy ?? '';
  if (!externallyAccessible) {
    if (eTP !== '')
      e.add(
        ['spec', 'externalTrafficPolicy'],
        invalid(eTP, 'may only be set for externally-accessible services'),
      );
  } else if (eTP !== '') oneOf(e, ['spec', 'externalTrafficPolicy'], eTP, TRAFFIC_POLICIES);
  const needsHealthCheck = type === 'LoadBalancer' && eTP === 'Local';
  const hcnp = spec.healthCheckNodePort ?? 0;
  if (!needsHealthCheck && hcnp !== 0)
    e.add(
      ['spec', 'healthCheckNodePort'],
      invalid(hcnp, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"),
    );
  else if (hcnp !== 0 && !isPortNumber(hcnp))
    e.add(['spec', 'healthCheckNodePort'], invalid(hcnp, PORT_RANGE));
  if (spec.internalTrafficPolicy !== undefined)
    oneOf(e, ['spec', 'internalTrafficPolicy'], spec.internalTrafficPolicy, TRAFFIC_POLICIES);
  if (spec.trafficDistribution !== undefined)
    oneOf(e, ['spec', 'trafficDistribution'], spec.trafficDistribution, TRAFFIC_DISTRIBUTIONS);

  const ingress = svc.status?.loadBalancer?.ingress ?? [];
  // kube-apiserver checks this on status updates only: a Service that stopped being a LoadBalancer
  // may still be served with the ingress its controller has not cleared yet.
  if (ingress.length > 0 && type !== 'LoadBalancer') {
    if (mode === 'create')
      e.add(
        ['status', 'loadBalancer', 'ingress'],
        forbidden("may only be used when `spec.type` is 'LoadBalancer'"),
      );
  } else
    ingress.forEach((ing, i) => {
      const path = ['status', 'loadBalancer', 'ingress', i];
      const ip = ing.ip ?? '';
      if (ip !== '') checkIP(e, [...path, 'ip'], ip, mode);
      if (ing.ipMode !== undefined) {
        if (ip === '') e.add([...path, 'ipMode'], forbidden('may not be specified when `ip` is not set'));
        else oneOf(e, [...path, 'ipMode'], ing.ipMode, IP_MODES);
      }
    });
  return e.list;
}

// ---- EndpointSlice -----------------------------------------------------------------------------

const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'] as const;
const MAX_ENDPOINTS = 1000;
const MAX_ADDRESSES = 100;
const MAX_SLICE_PORTS = 20000;
const MAX_HINTS = 8;

function checkEndpointAddress(
  e: Errors,
  path: FieldPath,
  value: string,
  addressType: string,
  mode: ValidationMode,
): void {
  if (addressType !== 'IPv4' && addressType !== 'IPv6') return; // FQDN slices are not kube-proxy's
  const before = e.list.length;
  const ip = checkIP(e, path, value, mode);
  if (!ip || e.list.length > before) return;
  // A v4 slice takes an IPv4-mapped address as v4 only in served mode; create mode refused it above.
  const family = ipv4Octets(ip) && addressType === 'IPv4' ? 'IPv4' : ip.family;
  if (family !== addressType) {
    e.add(path, invalid(value, `must be an ${addressType} address`));
    return;
  }
  if (mode === 'create') {
    if (addressType === 'IPv6' && value !== ip.text)
      e.add(path, invalid(value, `must be in canonical form ("${ip.text}")`));
    checkSpecialIP(e, path, value, ip);
  }
}

/** kube-apiserver's EndpointSlice validation, plus the service-name label kube-proxy needs. */
export function validateEndpointSlice(slice: EndpointSlice, mode: ValidationMode): FieldError[] {
  const e = new Errors();
  checkName(e, slice.metadata?.name, true);
  checkNamespace(e, slice.metadata?.namespace, mode);
  const service = slice.metadata?.labels?.[LABEL_SERVICE_NAME];
  const labelPath = ['metadata', 'labels', { key: LABEL_SERVICE_NAME }];
  // kube-apiserver takes a slice without it, but kube-proxy cannot tell which Service it serves.
  if (service === undefined || service === '')
    e.add(labelPath, required('kube-proxy ties an EndpointSlice to its Service by this label'));
  else if (!isDNSLabel(service)) e.add(labelPath, invalid(service, `must be a Service name: ${DNS_LABEL}`));

  const addressType = slice.addressType ?? '';
  if (addressType === '') e.add(['addressType'], required());
  else oneOf(e, ['addressType'], addressType, ADDRESS_TYPES);

  const endpoints = slice.endpoints ?? [];
  if (endpoints.length > MAX_ENDPOINTS) e.add(['endpoints'], tooMany(endpoints.length, MAX_ENDPOINTS));
  else
    endpoints.forEach((ep, i) => {
      const path = ['endpoints', i];
      const addresses = ep.addresses ?? [];
      if (addresses.length === 0) e.add([...path, 'addresses'], required('must contain at least 1 address'));
      else if (addresses.length > MAX_ADDRESSES)
        e.add([...path, 'addresses'], tooMany(addresses.length, MAX_ADDRESSES));
      addresses.forEach((a, j) => {
        checkEndpointAddress(e, [...path, 'addresses', j], a, addressType, mode);
      });
      if (ep.nodeName !== undefined && !isDNSSubdomain(ep.nodeName))
        e.add([...path, 'nodeName'], invalid(ep.nodeName, DNS_SUBDOMAIN));
      const zones = ep.hints?.forZones ?? [];
      if (zones.length > MAX_HINTS) e.add([...path, 'hints', 'forZones'], tooMany(zones.length, MAX_HINTS));
      else {
        const seen = new Set<string>();
        zones.forEach((z, j) => {
          const zp = [...path, 'hints', 'forZones', j, 'name'];
          const name = z.name ?? '';
          if (seen.has(name)) e.add(zp, duplicate(name));
          seen.add(name);
          if (!isLabelValue(name)) e.add(zp, invalid(name, LABEL_VALUE));
        });
      }
      const nodes = ep.hints?.forNodes ?? [];
      if (nodes.length > MAX_HINTS) e.add([...path, 'hints', 'forNodes'], tooMany(nodes.length, MAX_HINTS));
      else {
        const seen = new Set<string>();
        nodes.forEach((n, j) => {
          const np = [...path, 'hints', 'forNodes', j, 'name'];
          const name = n.name ?? '';
          if (seen.has(name)) e.add(np, duplicate(name));
          seen.add(name);
          if (!isDNSSubdomain(name)) e.add(np, invalid(name, DNS_SUBDOMAIN));
        });
      }
    });

  const ports = slice.ports ?? [];
  if (ports.length > MAX_SLICE_PORTS) e.add(['ports'], tooMany(ports.length, MAX_SLICE_PORTS));
  else {
    const names = new Set<string>();
    ports.forEach((p, i) => {
      const path = ['ports', i];
      const name = p.name ?? '';
      if (name !== '' && !isDNSLabel(name)) e.add([...path, 'name'], invalid(name, DNS_LABEL));
      if (names.has(name)) e.add([...path, 'name'], duplicate(name));
      names.add(name);
      oneOf(e, [...path, 'protocol'], p.protocol ?? 'TCP', PROTOCOLS);
      // kube-apiserver leaves the number alone (absent means "all ports"; kube-proxy skips those
      // and 0). A number no TCP, UDP or SCTP port can have is refused here rather than dropped.
      const port = p.port ?? 0;
      if (mode === 'create' && port !== 0 && !isPortNumber(port))
        e.add([...path, 'port'], invalid(port, PORT_RANGE));
    });
  }
  return e.list;
}

// ---- Node and ServiceCIDR ----------------------------------------------------------------------

const TAINT_EFFECTS = ['NoExecute', 'NoSchedule', 'PreferNoSchedule'] as const;

/** kube-apiserver's Node validation, for the fields kube-proxy reads. */
export function validateNode(node: Node, mode: ValidationMode): FieldError[] {
  const e = new Errors();
  checkName(e, node.metadata?.name, true);
  const zone = node.metadata?.labels?.[LABEL_TOPOLOGY_ZONE];
  if (zone !== undefined && !isLabelValue(zone))
    e.add(['metadata', 'labels', { key: LABEL_TOPOLOGY_ZONE }], invalid(zone, LABEL_VALUE));
  const spec = node.spec ?? {};
  if (spec.podCIDR !== undefined && spec.podCIDR !== '')
    checkCIDR(e, ['spec', 'podCIDR'], spec.podCIDR, mode);
  const podCIDRs = spec.podCIDRs ?? [];
  const families: string[] = [];
  podCIDRs.forEach((value, i) => {
    const cidr = checkCIDR(e, ['spec', 'podCIDRs', i], value, mode);
    if (cidr) families.push(cidr.family);
  });
  if (podCIDRs.length > 2 || (families.length === 2 && families[0] === families[1]))
    e.add(['spec', 'podCIDRs'], invalid(podCIDRs, 'may specify no more than one CIDR for each IP family'));
  const taintKeys = new Set<string>();
  (spec.taints ?? []).forEach((t, i) => {
    const path = ['spec', 'taints', i];
    const key = t.key ?? '';
    if (!isQualifiedName(key)) e.add([...path, 'key'], invalid(key, QUALIFIED_NAME));
    const value = t.value ?? '';
    if (!isLabelValue(value)) e.add([...path, 'value'], invalid(value, LABEL_VALUE));
    const effect = t.effect ?? '';
    if (effect === '') e.add([...path, 'effect'], required());
    else oneOf(e, [...path, 'effect'], effect, TAINT_EFFECTS);
    const id = `${key}\0${effect}`;
    if (taintKeys.has(id))
      e.add(path, `${duplicate({ key, effect })}: taints must be unique by key and effect pair`);
    taintKeys.add(id);
  });
  const addresses = new Set<string>();
  (node.status?.addresses ?? []).forEach((a, i) => {
    const id = `${a.type ?? ''}\0${a.address ?? ''}`;
    if (addresses.has(id)) e.add(['status', 'addresses', i], duplicate(a));
    addresses.add(id);
  });
  return e.list;
}

/** kube-apiserver's ServiceCIDR validation. */
export function validateServiceCIDR(obj: ServiceCIDR, mode: ValidationMode): FieldError[] {
  const e = new Errors();
  checkName(e, obj.metadata?.name, true);
  const cidrs = obj.spec?.cidrs ?? [];
  const path = ['spec', 'cidrs'];
  if (cidrs.length === 0) e.add(path, required('at least one CIDR required'));
  else if (cidrs.length > 2) e.add(path, invalid(cidrs, 'may only hold up to 2 values'));
  else {
    const parsed = cidrs.map((c, i) => checkCIDR(e, [...path, i], c, mode, true));
    if (parsed.length === 2 && parsed[0] && parsed[1] && parsed[0].family === parsed[1].family)
      e.add(path, invalid(cidrs, 'may specify no more than one CIDR for each IP family'));
  }
  return e.list;
}

/** The field errors of an object of a kind kube-proxy reads; empty when it is valid. */
export function validateObject(
  kind: ValidatedKind,
  object: Service | EndpointSlice | Node | ServiceCIDR,
  mode: ValidationMode,
): FieldError[] {
  switch (kind) {
    case 'Service':
      return validateService(object as Service, mode);
    case 'EndpointSlice':
      return validateEndpointSlice(object as EndpointSlice, mode);
    case 'Node':
      return validateNode(object as Node, mode);
    case 'ServiceCIDR':
      return validateServiceCIDR(object as ServiceCIDR, mode);
  }
}
