// Which UDP conntrack flows are stale after a sync (upstream pkg/proxy/conntrack/cleanup.go): a flow
// to a service IP:port or a node port whose reply comes from an address that is no longer a serving
// endpoint of that service port. UDP has no connection close, so without this a client that keeps
// sending would stay pinned to a backend that is gone. Pure.
import type { Endpoint } from '../model/endpoint.ts';
import type { ServicePort } from '../model/service-port.ts';

export interface UDPFlow {
  readonly origSrc: string;
  readonly origDst: string;
  readonly origSport: number;
  readonly origDport: number;
  readonly replySrc: string;
  readonly replySport: number;
}

/** A deletion filter: flows to `origDst` (any address for node ports) and `origDport`, answered by `replySrc:replySport`. */
export interface FlowFilter {
  readonly origDst: string | undefined;
  readonly origDport: number;
  readonly replySrc: string;
  readonly replySport: number;
}

export function staleFlowFilters(
  flows: readonly UDPFlow[],
  servicePorts: Iterable<ServicePort>,
  endpointsOf: (servicePortKey: string) => readonly Endpoint[],
): FlowFilter[] {
  // destination ("ip:port", or ":nodePort") → the serving endpoints allowed to answer.
  const allowed = new Map<string, Set<string>>();
  for (const sp of servicePorts) {
    if (sp.protocol !== 'UDP') continue;
    const serving = endpointsOf(sp.key).filter((ep) => ep.serving);
    // Without serving endpoints the traffic is rejected anyway; nothing to redirect.
    if (serving.length === 0) continue;
    const keys = new Set(serving.map((ep) => `${ep.ip}|${ep.port}`));
    for (const ip of [sp.clusterIP, ...sp.externalIPs, ...sp.loadBalancerVIPs])
      allowed.set(`${ip}|${sp.port}`, keys);
    if (sp.nodePort !== 0) allowed.set(`|${sp.nodePort}`, keys);
  }
  const out = new Map<string, FlowFilter>();
  for (const f of flows) {
    // A flow that was never DNATed answers from its own destination: not ours.
    if (f.replySrc === f.origDst && f.replySport === f.origDport) continue;
    const reply = `${f.replySrc}|${f.replySport}`;
    let keys = allowed.get(`${f.origDst}|${f.origDport}`);
    let origDst: string | undefined = f.origDst;
    if (!keys) {
      keys = allowed.get(`|${f.origDport}`);
      origDst = undefined;
    }
    if (!keys || keys.has(reply)) continue;
    const filter: FlowFilter = {
      origDst,
      origDport: f.origDport,
      replySrc: f.replySrc,
      replySport: f.replySport,
    };
    out.set(`${origDst ?? ''}|${f.origDport}|${reply}`, filter);
  }
  return [...out.values()];
}
