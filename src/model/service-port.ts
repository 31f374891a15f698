// ServicePort: one port of one Service as one IP family's proxier sees it (upstream pkg/proxy/serviceport.go).
import { InvalidObjectError } from '../errors.ts';
import { type IPFamily, parseCIDR, parseIP } from '../util/ip.ts';
import type { Service } from './k8s.ts';
import { isDNSLabel, isPortNumber, type Protocol, parseProtocol } from './names.ts';

export interface ServicePortName {
  readonly namespace: string;
  readonly name: string;
  /** The port's name; "" for a single unnamed port. */
  readonly port: string;
  readonly protocol: Protocol;
}

/** "ns/name:port", or "ns/name" for an unnamed port, as upstream prints a ServicePortName. */
export function servicePortNameString(n: ServicePortName): string {
  return n.port === '' ? `${n.namespace}/${n.name}` : `${n.namespace}/${n.name}:${n.port}`;
}

export interface ServicePort {
  readonly name: ServicePortName;
  /** Unique key of the port: "ns/name:port/PROTOCOL". */
  readonly key: string;
  readonly clusterIP: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** 0 when the port has no node port. */
  readonly nodePort: number;
  readonly sessionAffinityClientIP: boolean;
  readonly stickyMaxAgeSeconds: number;
  readonly externalIPs: readonly string[];
  readonly loadBalancerVIPs: readonly string[];
  readonly loadBalancerSourceRanges: readonly string[];
  /** 0 unless the service needs a health check (LoadBalancer with externalTrafficPolicy Local). */
  readonly healthCheckNodePort: number;
  readonly externalPolicyLocal: boolean;
  readonly internalPolicyLocal: boolean;
  /** Only kernelspace (Windows) mode reads these annotations; absent when the service has neither. */
  readonly winkernel?: WinkernelAnnotations;
}

export interface WinkernelAnnotations {
  /** `preserve-destination: "true"`: NodePort and LB traffic keep the VIP as destination (DSR). */
  readonly preserveDestination: boolean;
  /** `winProxyOptimization` is not "DISABLED": endpoint changes update load balancers in place. */
  readonly proxyOptimization: boolean;
}

function winkernelAnnotations(service: Service): WinkernelAnnotations | undefined {
  const a = service.metadata?.annotations ?? {};
  const preserve = a['preserve-destination'];
  const optimization = a.winProxyOptimization;
  if (preserve === undefined && optimization === undefined) return undefined;
  return {
    preserveDestination: preserve === 'true',
    proxyOptimization: String(optimization ?? '').toUpperCase() !== 'DISABLED',
  };
}

export function servicePortKey(name: ServicePortName): string {
  return `${servicePortNameString(name)}/${name.protocol}`;
}

export function externallyAccessible(sp: ServicePort): boolean {
  return sp.nodePort !== 0 || sp.loadBalancerVIPs.length > 0 || sp.externalIPs.length > 0;
}

/** Whether some traffic to this port is routed to endpoints anywhere in the cluster. */
export function usesClusterEndpoints(sp: ServicePort): boolean {
  return !sp.internalPolicyLocal || externallyAccessible(sp);
}

/** Whether some traffic to this port is routed only to endpoints on this node. */
export function usesLocalEndpoints(sp: ServicePort): boolean {
  return sp.internalPolicyLocal || (sp.externalPolicyLocal && externallyAccessible(sp));
}

/** The namespaced name of a service, "ns/name". */
export function serviceKeyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

const DEFAULT_STICKY_MAX_AGE_SECONDS = 10800;

function clusterIPForFamily(service: Service, family: IPFamily): string | undefined {
  const spec = service.spec ?? {};
  const families = spec.ipFamilies ?? [];
  if (families.length === 0) {
    // Objects written before dual-stack (and hand-written manifests) only have spec.clusterIP.
    const ip = spec.clusterIP;
    if (!ip || ip === 'None') return undefined;
    return ip;
  }
  const idx = families.indexOf(family);
  if (idx < 0) return undefined;
  return spec.clusterIPs?.[idx] ?? (idx === 0 ? spec.clusterIP : undefined);
}

/** Services kube-proxy does not program: headless and ExternalName ones. */
export function shouldSkipService(service: Service): boolean {
  const spec = service.spec ?? {};
  if (spec.type === 'ExternalName') return true;
  return !spec.clusterIP || spec.clusterIP === 'None';
}

export interface ServicePortsResult {
  readonly ports: ServicePort[];
  /** Values that were dropped (e.g. an unparsable external IP); the rest of the service still applies. */
  readonly warnings: string[];
}

function familyIPs(
  values: readonly unknown[] | undefined,
  family: IPFamily,
  what: string,
  warnings: string[],
) {
  const out: string[] = [];
  for (const v of values ?? []) {
    const ip = typeof v === 'string' ? parseIP(v.trim()) : undefined;
    if (!ip) {
      warnings.push(`ignoring invalid ${what} ${JSON.stringify(v)}`);
      continue;
    }
    if (ip.family === family && !out.includes(ip.text)) out.push(ip.text);
  }
  return out;
}

/**
 * The ServicePorts of a Service for one IP family. Returns no ports for services of the other family
 * and for skipped services; throws InvalidObjectError for a service whose names, cluster IP or ports
 * are not valid, so that nothing from it reaches a rule.
 */
export function servicePortsFromService(service: Service, family: IPFamily): ServicePortsResult {
  const ns = service.metadata?.namespace ?? 'default';
  const name = service.metadata?.name;
  const label = `Service ${ns}/${String(name)}`;
  if (!isDNSLabel(ns)) throw new InvalidObjectError(label, `invalid namespace ${JSON.stringify(ns)}`);
  if (!isDNSLabel(name)) throw new InvalidObjectError(label, `invalid name ${JSON.stringify(name)}`);
  const warnings: string[] = [];
  if (shouldSkipService(service)) return { ports: [], warnings };
  const spec = service.spec ?? {};
  const rawClusterIP = clusterIPForFamily(service, family);
  if (rawClusterIP === undefined) return { ports: [], warnings };
  const clusterIP = parseIP(rawClusterIP);
  if (!clusterIP) throw new InvalidObjectError(label, `invalid clusterIP ${JSON.stringify(rawClusterIP)}`);
  if (clusterIP.family !== family) return { ports: [], warnings };

  const externalIPs = familyIPs(spec.externalIPs, family, 'externalIP', warnings);
  const ingress = service.status?.loadBalancer?.ingress ?? [];
  const lbIPs = familyIPs(
    // ipMode Proxy means the load balancer delivers to the node itself; no VIP rules then.
    ingress
      .filter((i) => i.ip !== undefined && (i.ipMode === undefined || i.ipMode === 'VIP'))
      .map((i) => i.ip),
    family,
    'load balancer ingress IP',
    warnings,
  );
  const sourceRanges: string[] = [];
  for (const r of spec.loadBalancerSourceRanges ?? []) {
    const cidr = typeof r === 'string' ? parseCIDR(r.trim()) : undefined;
    if (!cidr) warnings.push(`ignoring invalid loadBalancerSourceRange ${JSON.stringify(r)}`);
    else if (cidr.family === family && !sourceRanges.includes(cidr.text)) sourceRanges.push(cidr.text);
  }

  // "" is what kube-apiserver defaults to ClusterIP.
  const type = spec.type || 'ClusterIP';
  const isExternallyAccessibleType =
    type === 'LoadBalancer' ||
    type === 'NodePort' ||
    (type === 'ClusterIP' && (spec.externalIPs?.length ?? 0) > 0);
  const externalPolicyLocal = isExternallyAccessibleType && spec.externalTrafficPolicy === 'Local';
  const internalPolicyLocal = spec.internalTrafficPolicy === 'Local';
  const needsHealthCheck = type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
  const affinity = spec.sessionAffinity === 'ClientIP';
  const timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
  if (affinity && timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0 && timeout <= 86400)) {
    throw new InvalidObjectError(label, `invalid sessionAffinityConfig.clientIP.timeoutSeconds ${timeout}`);
  }
  const hcnp = spec.healthCheckNodePort;
  if (needsHealthCheck && hcnp !== undefined && hcnp !== 0 && !isPortNumber(hcnp)) {
    throw new InvalidObjectError(label, `invalid healthCheckNodePort ${JSON.stringify(hcnp)}`);
  }

  const winkernel = winkernelAnnotations(service);
  const rawPorts = spec.ports ?? [];
  const seen = new Set<string>();
  const ports: ServicePort[] = [];
  for (const [i, p] of rawPorts.entries()) {
    const portName = p.name ?? '';
    if (portName !== '' && !isDNSLabel(portName)) {
      throw new InvalidObjectError(
        label,
        `spec.ports[${i}].name: invalid port name ${JSON.stringify(portName)}`,
      );
    }
    const protocol = parseProtocol(p.protocol);
    if (!protocol) {
      throw new InvalidObjectError(
        label,
        `spec.ports[${i}].protocol: unsupported ${JSON.stringify(p.protocol)}`,
      );
    }
    if (!isPortNumber(p.port)) {
      throw new InvalidObjectError(label, `spec.ports[${i}].port: invalid port ${JSON.stringify(p.port)}`);
    }
    const nodePort = p.nodePort ?? 0;
    if (nodePort !== 0 && !isPortNumber(nodePort)) {
      throw new InvalidObjectError(
        label,
        `spec.ports[${i}].nodePort: invalid port ${JSON.stringify(nodePort)}`,
      );
    }
    const spn: ServicePortName = { namespace: ns, name, port: portName, protocol };
    const key = servicePortKey(spn);
    if (seen.has(key)) throw new InvalidObjectError(label, `spec.ports[${i}]: duplicate port ${key}`);
    seen.add(key);
    ports.push({
      name: spn,
      key,
      clusterIP: clusterIP.text,
      port: p.port,
      protocol,
      nodePort,
      sessionAffinityClientIP: affinity,
      stickyMaxAgeSeconds: affinity ? (timeout ?? DEFAULT_STICKY_MAX_AGE_SECONDS) : 0,
      externalIPs,
      loadBalancerVIPs: lbIPs,
      loadBalancerSourceRanges: sourceRanges,
      healthCheckNodePort: needsHealthCheck && isPortNumber(hcnp) ? hcnp : 0,
      externalPolicyLocal,
      internalPolicyLocal,
      ...(winkernel && { winkernel }),
    });
  }
  return { ports, warnings };
}
