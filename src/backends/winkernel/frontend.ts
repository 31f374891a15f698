// One frontend's load balancer in one sync (the ClusterIP, the NodePort, each external IP, each
// ingress IP and its health check): updated in place when HNS can modify load balancers, else the
// old one deleted (unless HNS already holds one for exactly these backends) and one created or
// found among those HNS holds.
import { isNotImplemented } from '../../kernel/hns/errors.ts';
import type { Logger } from '../../log/logger.ts';
import {
  type HnsEndpoint,
  type HostNetworkService,
  identifierKey,
  type LoadBalancerFlags,
  loadBalancerIdentifier,
  type QueriedLoadBalancers,
} from './hns.ts';
import { classifyLBError, type LoadBalancerType } from './load-balancer-types.ts';

/** What every frontend of one service port shares in a sync. */
export interface FrontendContext {
  readonly hns: HostNetworkService;
  readonly log: Logger;
  /** What HNS held at the start of the sync, plus what this sync created. */
  readonly queriedLBs: QueriedLoadBalancers;
  readonly sourceVip: string;
  /** IANA protocol number. */
  readonly protocol: number;
  readonly isIPv6: boolean;
  readonly winProxyOptimization: boolean;
  readonly servicePort: string;
  /** Whether HNS modifies load balancers in place (it may answer E_NOTIMPL once, then never). */
  canModify(): boolean;
  modifyNotImplemented(): void;
  /** A load balancer that could not be deleted: retried at every sync. */
  markStale(hnsID: string, type: LoadBalancerType): void;
  /** For upstream's winkernel failure counters. */
  failed(operation: 'create' | 'update' | 'delete', type: LoadBalancerType, err: unknown): void;
}

export interface Frontend {
  readonly type: LoadBalancerType;
  /** The load balancer the frontend has now ("" for none). */
  readonly current: string;
  /** Records the ID at each step, so that a failure leaves the state saying what HNS holds. */
  readonly save: (hnsID: string) => void;
  readonly endpoints: readonly HnsEndpoint[];
  readonly flags: LoadBalancerFlags;
  readonly vip: string;
  readonly internalPort: number;
  readonly externalPort: number;
  /** False: leave the load balancer alone unless it must go (all endpoints terminating or none serving). */
  readonly mayCreate: boolean;
}

/** Applies one frontend; returns its load balancer ID ("" for none), or undefined when HNS failed. */
export async function syncFrontend(ctx: FrontendContext, f: Frontend): Promise<string | undefined> {
  const { hns, queriedLBs, sourceVip, protocol } = ctx;
  const requiresUpdate = (id: string) => ctx.canModify() && id !== '' && f.endpoints.length > 0;
  let id = f.current;
  if (requiresUpdate(id) && f.mayCreate) {
    try {
      id = await hns.updateLoadBalancer(
        id,
        sourceVip,
        f.vip,
        f.endpoints,
        f.flags,
        protocol,
        f.internalPort,
        f.externalPort,
        queriedLBs,
      );
    } catch (err) {
      if (!isNotImplemented(err)) {
        ctx.failed('update', f.type, err);
        ctx.log.error('Update loadbalancer policy failed', {
          hnsID: id,
          vip: f.vip,
          errorType: classifyLBError(err),
          err,
        });
        return undefined;
      }
      ctx.log.warn('Update loadbalancer policies is not implemented.', { hnsID: id });
      ctx.modifyNotImplemented();
    }
  }
  if (!requiresUpdate(id)) {
    id = await deleteExistingLoadBalancer(ctx, f, id);
    f.save(id);
    if (f.endpoints.length > 0 && f.mayCreate) {
      try {
        id = await hns.getLoadBalancer(
          f.endpoints,
          f.flags,
          sourceVip,
          f.vip,
          protocol,
          f.internalPort,
          f.externalPort,
          queriedLBs,
        );
      } catch (err) {
        ctx.failed('create', f.type, err);
        ctx.log.error(`${f.type} policy creation failed`, {
          servicePort: ctx.servicePort,
          vip: f.vip,
          errorType: classifyLBError(err),
          err,
        });
        return undefined;
      }
    }
  }
  f.save(id);
  return id;
}

/**
 * With winProxyOptimization the old load balancer survives an endpoint change; it goes here,
 * unless HNS already holds one for exactly these endpoints. Returns the ID the frontend keeps.
 */
async function deleteExistingLoadBalancer(ctx: FrontendContext, f: Frontend, hnsID: string): Promise<string> {
  if (!ctx.winProxyOptimization || hnsID === '') return hnsID;
  const id = loadBalancerIdentifier(
    f.endpoints.map((e) => e.hnsID),
    f.vip,
    ctx.protocol,
    f.internalPort,
    f.externalPort,
    ctx.isIPv6,
  );
  if (ctx.queriedLBs.has(identifierKey(id))) return hnsID;
  try {
    await ctx.hns.deleteLoadBalancer(hnsID);
  } catch (err) {
    ctx.log.error('LoadBalancer deletion failed. Adding to stale loadbalancers.', { hnsID, err });
    ctx.failed('delete', f.type, err);
    ctx.markStale(hnsID, f.type);
  }
  return '';
}
