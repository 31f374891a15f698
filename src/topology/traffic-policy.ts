// Which policy chains one service port needs and where its internal and external traffic goes,
// given its categorised endpoints (upstream writes this decision out in every backend's sync loop;
// here the backends share it and only name the chains).
import {
  externallyAccessible,
  type ServicePort,
  usesClusterEndpoints,
  usesLocalEndpoints,
} from '../model/service-port.ts';
import type { CategorizedEndpoints } from './categorize-endpoints.ts';

export type PolicyChain = 'cluster' | 'local';

export interface TrafficPolicy {
  /** The Cluster-policy chain (all cluster endpoints) exists. */
  readonly usesClusterPolicyChain: boolean;
  /** The Local-policy chain (endpoints on this node) exists. */
  readonly usesLocalPolicyChain: boolean;
  /** Where ClusterIP traffic goes, and whether any endpoint can take it. */
  readonly internal: PolicyChain;
  readonly hasInternalEndpoints: boolean;
  /** Where NodePort / external IP / LB traffic goes after the external chain. */
  readonly external: PolicyChain;
  readonly hasExternalEndpoints: boolean;
  /** The external chain exists; even without usable external endpoints it short-circuits local traffic. */
  readonly usesExternalTrafficChain: boolean;
}

export function trafficPolicy(sp: ServicePort, cat: CategorizedEndpoints): TrafficPolicy {
  const { clusterEndpoints, localEndpoints, hasAnyEndpoints } = cat;
  const noLocal = localEndpoints.length === 0;
  return {
    usesClusterPolicyChain: clusterEndpoints.length > 0 && usesClusterEndpoints(sp),
    usesLocalPolicyChain: !noLocal && usesLocalEndpoints(sp),
    internal: sp.internalPolicyLocal ? 'local' : 'cluster',
    hasInternalEndpoints: hasAnyEndpoints && !(sp.internalPolicyLocal && noLocal),
    external: sp.externalPolicyLocal ? 'local' : 'cluster',
    hasExternalEndpoints: hasAnyEndpoints && !(sp.externalPolicyLocal && noLocal),
    usesExternalTrafficChain: hasAnyEndpoints && externallyAccessible(sp),
  };
}
