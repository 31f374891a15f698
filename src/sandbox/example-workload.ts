// Derives a sandbox workload from a manifest directory: one echo pod per EndpointSlice address
// (listening on the slice's ports) and one traffic target per Service port. This is how the demo
// turns examples/ into something that can answer.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { type EndpointSlice, LABEL_SERVICE_NAME, type Service } from '../model/k8s.ts';
import type { Flow } from './flows.ts';
import type { PodPort, PodSpec } from './topology.ts';

export interface Target {
  /** "namespace/name:port-name", as shown in the table. */
  label: string;
  flow: Flow;
  /** Pods that should answer; empty when the service has no ready endpoints. */
  endpoints: string[];
}

export interface Workload {
  pods: PodSpec[];
  targets: Target[];
}

export async function readObjects(dir: string): Promise<object[]> {
  const objects: object[] = [];
  for (const file of (await readdir(dir)).filter((f) => /\.(ya?ml|json)$/.test(f)).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(dir, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
      const value: unknown = doc.toJS();
      if (value && typeof value === 'object') objects.push(value);
    }
  }
  return objects;
}

function protocolOf(p: string | null | undefined): 'TCP' | 'UDP' | undefined {
  const proto = p ?? 'TCP';
  return proto === 'TCP' || proto === 'UDP' ? proto : undefined;
}

export function workloadFrom(objects: readonly object[]): Workload {
  const kind = (o: object): unknown => (o as { kind?: unknown }).kind;
  const services = objects.filter((o): o is Service => kind(o) === 'Service');
  const slices = objects.filter((o): o is EndpointSlice => kind(o) === 'EndpointSlice');

  const pods = new Map<string, PodSpec & { ports: PodPort[] }>();
  for (const slice of slices) {
    const ports = (slice.ports ?? []).flatMap((p) => {
      const protocol = protocolOf(p.protocol);
      return protocol && p.port ? [{ protocol, port: p.port }] : [];
    });
    for (const ep of slice.endpoints ?? []) {
      const ip = ep.addresses?.[0];
      if (!ip) continue;
      const ref = (ep as { targetRef?: { name?: string } }).targetRef?.name;
      const pod = pods.get(ip) ?? {
        name: ref ?? ep.hostname ?? `pod-${ip.replaceAll(/[.:]/g, '-')}`,
        ip,
        ports: [],
      };
      for (const p of ports) {
        if (!pod.ports.some((q) => q.protocol === p.protocol && q.port === p.port)) pod.ports.push(p);
      }
      pods.set(ip, pod);
    }
  }

  const targets: Target[] = [];
  for (const svc of services) {
    const ns = svc.metadata?.namespace ?? 'default';
    const name = svc.metadata?.name ?? '?';
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === 'None') continue;
    const own = slices.filter(
      (s) => s.metadata?.labels?.[LABEL_SERVICE_NAME] === name && (s.metadata?.namespace ?? 'default') === ns,
    );
    for (const port of svc.spec?.ports ?? []) {
      const protocol = protocolOf(port.protocol);
      if (!protocol || !port.port) continue;
      const portName = port.name ?? '';
      const endpoints = own
        .filter((s) =>
          (s.ports ?? []).some((p) => (p.name ?? '') === portName && protocolOf(p.protocol) === protocol),
        )
        .flatMap((s) => (s.endpoints ?? []).filter((ep) => ep.conditions?.ready !== false))
        .flatMap((ep) => (ep.addresses?.[0] ? [pods.get(ep.addresses[0])?.name ?? ep.addresses[0]] : []));
      targets.push({
        label: `${ns}/${name}:${portName || port.port}`,
        flow: { proto: protocol === 'TCP' ? 'tcp' : 'udp', dst: ip, port: port.port },
        endpoints: [...new Set(endpoints)].sort(),
      });
    }
  }
  return { pods: [...pods.values()], targets };
}
