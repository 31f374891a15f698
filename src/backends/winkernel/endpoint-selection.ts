// Which endpoints of a service port go into its load balancers, as upstream's winkernel decides
// (not the shared categorizeEndpoints: no topology hints, and the terminating fallback is decided
// once per service, only for services with load balancer ingress IPs). Pure.
import type { Endpoint } from '../../model/endpoint.ts';

export interface SelectionInput {
  readonly internalTrafficLocal: boolean;
  /** eTP Local (with DSR support): remote endpoints do not count for the fallback decision. */
  readonly localTrafficDSR: boolean;
  readonly hasIngressIPs: boolean;
}

export interface Selection<T> {
  /** The endpoints to resolve in HNS, in slice order. */
  readonly candidates: T[];
  readonly allTerminating: boolean;
  readonly allNonServing: boolean;
}

/** Every considered endpoint that is ready or serving is terminating (not-ready, not-terminating ones are ignored). */
export function allEndpointsTerminating(eps: readonly Endpoint[], localOnly: boolean): boolean {
  for (const ep of eps) {
    if (localOnly && !ep.isLocal) continue;
    if (!ep.ready && !ep.terminating) continue;
    if (!ep.terminating) return false;
  }
  return true;
}

export function allEndpointsNonServing(eps: readonly Endpoint[], localOnly: boolean): boolean {
  for (const ep of eps) {
    if (localOnly && !ep.isLocal) continue;
    if (ep.serving) return false;
  }
  return true;
}

export function selectEndpoints<T extends { readonly ep: Endpoint }>(
  records: readonly T[],
  s: SelectionInput,
): Selection<T> {
  let allTerminating = false;
  let allNonServing = false;
  if (s.hasIngressIPs) {
    const eps = records.map((r) => r.ep);
    allTerminating = allEndpointsTerminating(eps, s.localTrafficDSR);
    allNonServing = allEndpointsNonServing(eps, s.localTrafficDSR);
  }
  // When nothing serves at all, upstream stops filtering.
  const someServing = !allNonServing;
  const candidates = records.filter(({ ep }) => {
    if (s.internalTrafficLocal && s.localTrafficDSR && !ep.isLocal) return false;
    if (someServing) {
      if (!allTerminating && !ep.ready) return false;
      if (!ep.serving) return false;
    }
    return true;
  });
  return { candidates, allTerminating, allNonServing };
}
