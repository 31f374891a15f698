// The probes of one round: for every Service port and family, its ClusterIP, NodePort on each node
// address (and 127.0.0.1), external IPs and load balancer IPs, from random senders (a pod, the node,
// the external client, the client outside the source ranges, an endpoint itself for hairpin);
// unknown ports; unallocated addresses of both ServiceCIDRs; an unused external IP; and a node port
// no Service has (the node's own echo server, "host", answers what no rule rewrote).

import type { FlowCase } from '../differential.ts';
import { BLOCKED_CLIENT_IP, backendName, EXT_CLIENT_IP, POD_CLIENT_IP, type Source } from '../topology.ts';
import {
  addr,
  BACKENDS,
  type ClusterModel,
  type Family,
  hasClusterIP,
  hasNodePorts,
  NODE_IPS,
  type PortModel,
  SECONDARY_NODE_IPS,
  type ServiceModel,
  serviceIP,
} from './cluster.ts';
import type { Allocations } from './generator.ts';
import type { Prng } from './prng.ts';

export type Sender = 'pod' | 'node' | 'ext' | 'blk' | { backend: number };

export interface ProbeFlow extends FlowCase {
  family: Family;
  /** "ns/name" of the Service the destination belongs to, if any. */
  service?: string;
  /** The Service uses ClientIP affinity: one backend is picked (at random) and kept. */
  affinity?: boolean;
  /** Affinity flows: the echo names ("ip:port") the pick may be (every endpoint that may serve). */
  candidates?: string[];
  /** The sending pod's echo name prefix (its IPv4 address), for hairpin classification. */
  senderPod?: string;
  what: string;
}

/** A node port no Service uses: what answers is the node's own echo server (or nothing). */
export const HOST_PORT = { protocol: 'TCP', port: 8002 } as const;

export function senderSource(s: Sender, family: Family): Source {
  if (s === 'pod') return { where: 'pod', src: addr(POD_CLIENT_IP, family) };
  if (s === 'node') return { where: 'node', src: NODE_IPS[family] };
  if (s === 'ext') return { where: 'client', src: addr(EXT_CLIENT_IP, family) };
  if (s === 'blk') return { where: 'client', src: addr(BLOCKED_CLIENT_IP, family) };
  const b = BACKENDS[s.backend]!;
  return { where: backendName(b.ip4), src: addr(b.ip4, family) };
}

function senderLabel(s: Sender): string {
  return typeof s === 'string' ? s : `ep-${BACKENDS[s.backend]!.ip4}`;
}

function serves(c: { ready?: boolean; serving?: boolean }): boolean {
  // Unset serving means "same as ready"; unset ready means ready.
  return (c.ready ?? true) || (c.serving ?? c.ready ?? true);
}

/** Every endpoint of the Service port in `family` that could ever be picked (affinity checks). */
export function candidatesOf(s: ServiceModel, p: PortModel, family: Family): string[] {
  const out = new Set<string>();
  for (const sl of s.slices) {
    if (sl.family !== family || !sl.ports.includes(p.name)) continue;
    for (const e of sl.endpoints)
      if (serves(e.conditions)) out.add(`${BACKENDS[e.backend]!.ip4}:${p.targetPort}`);
  }
  return [...out].sort();
}

/** What a probe is, but for its id. */
type ProbeArgs = [
  family: Family,
  sender: Sender,
  proto: 'tcp' | 'udp',
  dst: string,
  port: number,
  what: string,
  svc?: { s: ServiceModel; p: PortModel },
];

/** One probe of a Service port (or of anything, without `svc`): what regression plans are made of. */
export function probeFlow(
  id: string,
  ...[family, sender, proto, dst, port, what, svc]: ProbeArgs
): ProbeFlow {
  const affinity = svc?.s.affinity !== undefined;
  return {
    id,
    name: `${what} from ${senderLabel(sender)}`,
    from: senderSource(sender, family),
    proto,
    dst,
    port,
    family,
    what,
    ...(svc ? { service: `${svc.s.ns}/${svc.s.name}` } : {}),
    ...(svc && affinity ? { affinity, candidates: candidatesOf(svc.s, svc.p, family) } : {}),
    ...(typeof sender === 'object' ? { senderPod: BACKENDS[sender.backend]!.ip4 } : {}),
  };
}

export function probesFor(r: Prng, c: ClusterModel, a: Allocations, round: number): ProbeFlow[] {
  const flows: ProbeFlow[] = [];
  let n = 0;
  const add = (...args: ProbeArgs): void => {
    flows.push(probeFlow(`r${round}.${n++}`, ...args));
  };
  const families = new Set<Family>();
  for (const s of c.services) {
    if (!s.present || !hasClusterIP(s)) continue;
    for (const family of s.families) {
      families.add(family);
      const cip = serviceIP(s.clusterIPs[0]!, family);
      const endpoints = s.slices.filter((sl) => sl.family === family).flatMap((sl) => sl.endpoints);
      const inside = (): Sender => {
        const k = r.weighted({ pod: 3, node: 1, hairpin: endpoints.length ? 3 : 0, other: 1 });
        let sender: Sender = k === 'pod' || k === 'node' ? k : 'pod';
        if (k === 'hairpin') sender = { backend: r.pick(endpoints).backend };
        if (k === 'other') sender = { backend: r.int(0, BACKENDS.length - 1) };
        // A pod on the other node gets its answer only from some picks (another pod there replies
        // around this node; upstream's nftables mode does not masquerade it reaching itself): with
        // affinity its one random pick would decide the outcome, so affinity is probed from here.
        if (
          s.affinity !== undefined &&
          typeof sender === 'object' &&
          BACKENDS[sender.backend]!.where === 'remote'
        )
          return 'pod';
        return sender;
      };
      const outside = (): Sender => r.pick<Sender>(['ext', 'ext', 'blk', 'pod', 'node', inside()]);
      for (const p of s.ports) {
        const proto = p.protocol === 'UDP' ? 'udp' : 'tcp';
        const svc = { s, p };
        const label = `${s.ns}/${s.name}:${p.name || p.port}`;
        for (let i = r.int(1, 2); i > 0; i--)
          add(family, inside(), proto, cip, p.port, `${label} cluster IP`, svc);
        if (r.chance(0.15)) add(family, 'ext', proto, cip, p.port, `${label} cluster IP`, svc);
        if (hasNodePorts(s) && p.nodePort !== undefined) {
          add(family, outside(), proto, NODE_IPS[family], p.nodePort, `${label} NodePort`, svc);
          if (r.chance(0.3))
            add(
              family,
              outside(),
              proto,
              SECONDARY_NODE_IPS[family],
              p.nodePort,
              `${label} NodePort (2nd node IP)`,
              svc,
            );
          if (family === 'IPv4' && r.chance(0.2))
            flows.push({
              id: `r${round}.${n++}`,
              name: `${label} NodePort on localhost from node`,
              from: { where: 'node', src: '127.0.0.1' },
              proto,
              dst: '127.0.0.1',
              port: p.nodePort,
              family,
              what: `${label} NodePort (localhost)`,
              service: `${s.ns}/${s.name}`,
              ...(s.affinity !== undefined ? { affinity: true, candidates: candidatesOf(s, p, family) } : {}),
            });
        }
        for (const e of s.externalIPs)
          add(family, outside(), proto, addr(e, family), p.port, `${label} external IP`, svc);
        if (s.type === 'LoadBalancer')
          for (const lb of s.lbIPs)
            for (let i = r.int(1, 2); i > 0; i--)
              add(family, outside(), proto, addr(lb, family), p.port, `${label} LB IP`, svc);
      }
      // A port the Service does not have, on its ClusterIP (and maybe an external or LB IP).
      const unknown = unusedPort(r, s);
      add(family, inside(), 'tcp', cip, unknown, `${s.ns}/${s.name} cluster IP, unknown port`);
      const outer = [...s.externalIPs, ...(s.type === 'LoadBalancer' ? s.lbIPs : [])];
      if (outer.length && r.chance(0.4))
        add(
          family,
          'ext',
          'tcp',
          addr(r.pick(outer), family),
          unknown,
          `${s.ns}/${s.name} external/LB IP, unknown port`,
        );
    }
  }
  if (!families.size) families.add(c.family === 'ipv6' ? 'IPv6' : 'IPv4');
  for (const family of families) {
    const free = (draw: () => string): string => {
      for (;;) {
        const ip = draw();
        if (!a.clusterIPs.has(ip)) return ip;
      }
    };
    const primary = free(() => `198.19.${r.int(16, 30)}.${r.int(2, 254)}`);
    const extra = free(() => `198.19.64.${r.int(2, 254)}`);
    add(family, 'pod', 'tcp', serviceIP(primary, family), 80, 'unallocated ClusterIP');
    add(
      family,
      r.pick<Sender>(['pod', 'node']),
      'tcp',
      serviceIP(extra, family),
      80,
      'unallocated ClusterIP (extra ServiceCIDR)',
    );
    let ext = '';
    do ext = `198.19.99.${r.int(1, 254)}`;
    while (a.externalIPs.has(ext));
    add(family, 'ext', 'tcp', addr(ext, family), 80, 'unused external IP');
    add(
      family,
      r.pick<Sender>(['ext', 'pod']),
      'tcp',
      NODE_IPS[family],
      HOST_PORT.port,
      'node IP, no Service port',
    );
  }
  return flows;
}

function unusedPort(r: Prng, s: ServiceModel): number {
  for (;;) {
    const port = r.pick([80, 81, 443, 8080, r.int(1, 65535)]);
    if (!s.ports.some((p) => p.port === port && p.protocol === 'TCP')) return port;
  }
}
