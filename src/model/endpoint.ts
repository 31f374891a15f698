// Endpoint: one backend address:port of one ServicePort (upstream pkg/proxy/endpoint.go).

export interface Endpoint {
  readonly ip: string;
  readonly port: number;
  /** "ip:port" ("[ip]:port" for IPv6): the identity of the endpoint. */
  readonly key: string;
  readonly isLocal: boolean;
  /** The ready condition (nil means true); the EndpointSlice controller clears it for terminating pods. */
  readonly ready: boolean;
  /** Ready regardless of terminating. */
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly zoneHints: ReadonlySet<string>;
  readonly nodeHints: ReadonlySet<string>;
}

export function endpointsEqual(a: readonly Endpoint[], b: readonly Endpoint[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (
      x.key !== y.key ||
      x.isLocal !== y.isLocal ||
      x.ready !== y.ready ||
      x.serving !== y.serving ||
      x.terminating !== y.terminating ||
      !setsEqual(x.zoneHints, y.zoneHints) ||
      !setsEqual(x.nodeHints, y.nodeHints)
    ) {
      return false;
    }
  }
  return true;
}

function setsEqual(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const v of a) if (!b.has(v)) return false;
  return true;
}
