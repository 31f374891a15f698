// Bookkeeping around the HNS client: which load balancers the proxiers of this process hold (the
// full sync's sweep deletes only those nobody holds), and how many HNS writes a sync made.
import type { HcnClient } from '../../kernel/hns/client.ts';

/** The load balancer IDs each backend of one process references; both families share one. */
export class LoadBalancerOwnership {
  readonly #byOwner = new Map<object, ReadonlySet<string>>();

  set(owner: object, ids: ReadonlySet<string>): void {
    this.#byOwner.set(owner, ids);
  }

  all(): Set<string> {
    const out = new Set<string>();
    for (const ids of this.#byOwner.values()) for (const id of ids) out.add(id);
    return out;
  }
}

const WRITES = new Set<keyof HcnClient>([
  'createEndpoint',
  'createRemoteEndpoint',
  'deleteEndpoint',
  'createLoadBalancer',
  'updateLoadBalancer',
  'deleteLoadBalancer',
]);

/** The same client, counting the calls that change HNS (a sync's "operations"). */
export function countingClient(hcn: HcnClient): { client: HcnClient; counter: { operations: number } } {
  const counter = { operations: 0 };
  const client = new Proxy(hcn, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      if (!WRITES.has(prop as keyof HcnClient)) return v.bind(target);
      return (...args: unknown[]) => {
        counter.operations++;
        return v.apply(target, args);
      };
    },
  });
  return { client, counter };
}
