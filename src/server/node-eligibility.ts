// Whether load balancers should send traffic to this node (upstream ProxyHealthServer.SyncNode):
// eligible while starting up and while the Node exists with no deletionTimestamp and no
// ToBeDeletedByClusterAutoscaler taint.

import type { Node } from '../model/k8s.ts';

export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';

interface NodeLike {
  metadata?: { name?: string; deletionTimestamp?: string | null };
  spec?: { taints?: { key?: string }[] | null };
}

export class NodeEligibility {
  readonly #nodeName: string;
  #eligible = true;

  constructor(nodeName: string) {
    this.#nodeName = nodeName;
  }

  /** A Node was added or updated. Other nodes are ignored. */
  onNode(node: Node): void {
    const n = node as NodeLike;
    if (n.metadata?.name !== this.#nodeName) return;
    if (n.metadata?.deletionTimestamp) this.#eligible = false;
    else this.#eligible = !(n.spec?.taints ?? []).some((t) => t.key === TO_BE_DELETED_TAINT);
  }

  onNodeDelete(node: Node): void {
    if ((node as NodeLike).metadata?.name === this.#nodeName) this.#eligible = false;
  }

  get eligible(): boolean {
    return this.#eligible;
  }
}
