// The kinds of HNS load balancers a service gets, and the classes of errors HNS answers with
// (upstream's loadBalancerType and lbErrorType, the labels of its winkernel failure metrics).
import {
  HnsNotFoundError,
  isInvalidIP,
  isNetworkNotFound,
  isNotImplemented,
  isPortAlreadyExists,
} from '../../kernel/hns/errors.ts';

export const LB_TYPES = ['clusterip', 'nodeport', 'externalip', 'ingressip', 'healthcheck'] as const;
export type LoadBalancerType = (typeof LB_TYPES)[number];

export const LB_ERROR_TYPES = [
  'network_not_found',
  'port_already_exists',
  'not_implemented',
  'invalid_ip',
  'other',
  'none',
] as const;
export type LBErrorType = (typeof LB_ERROR_TYPES)[number];

/** A finite class for an HNS error: by its HRESULT only (the shim's not-found errors are "other"). */
export function classifyLBError(err: unknown): LBErrorType {
  if (err === undefined || err === null) return 'none';
  if (err instanceof HnsNotFoundError) return 'other';
  if (isPortAlreadyExists(err)) return 'port_already_exists';
  if (isNetworkNotFound(err)) return 'network_not_found';
  if (isNotImplemented(err)) return 'not_implemented';
  if (isInvalidIP(err)) return 'invalid_ip';
  return 'other';
}
