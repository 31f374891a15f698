// Dual-stack: one single-family proxier per IP family behind one handler (upstream metaproxier).
// Services go to every family (each tracker keeps its own family's cluster IP); EndpointSlices
// go to every family too, where each cache keeps only its own addressType.
import type { FamilyBeliefs, ServiceBeliefs } from '../explain/service-beliefs.ts';
import type { EndpointSlice, Node, Service } from '../model/k8s.ts';
import type { ProxyHandlers } from '../sources/handlers.ts';

export interface FamilyProxier extends ProxyHandlers {
  sync(): void;
  close(): Promise<void>;
  describeService?(namespace: string, name: string): FamilyBeliefs | undefined;
}

export class MetaProxier implements ProxyHandlers {
  readonly #proxiers: readonly FamilyProxier[];

  constructor(proxiers: readonly FamilyProxier[]) {
    this.#proxiers = proxiers;
  }

  onServiceAdd(s: Service): void {
    for (const p of this.#proxiers) p.onServiceAdd(s);
  }
  onServiceUpdate(o: Service, s: Service): void {
    for (const p of this.#proxiers) p.onServiceUpdate(o, s);
  }
  onServiceDelete(s: Service): void {
    for (const p of this.#proxiers) p.onServiceDelete(s);
  }
  onServicesSynced(): void {
    for (const p of this.#proxiers) p.onServicesSynced();
  }
  onEndpointSliceAdd(e: EndpointSlice): void {
    for (const p of this.#proxiers) p.onEndpointSliceAdd(e);
  }
  onEndpointSliceUpdate(o: EndpointSlice, e: EndpointSlice): void {
    for (const p of this.#proxiers) p.onEndpointSliceUpdate(o, e);
  }
  onEndpointSliceDelete(e: EndpointSlice): void {
    for (const p of this.#proxiers) p.onEndpointSliceDelete(e);
  }
  onEndpointSlicesSynced(): void {
    for (const p of this.#proxiers) p.onEndpointSlicesSynced();
  }
  onNodeAdd(n: Node): void {
    for (const p of this.#proxiers) p.onNodeAdd(n);
  }
  onNodeUpdate(o: Node, n: Node): void {
    for (const p of this.#proxiers) p.onNodeUpdate(o, n);
  }
  onNodeDelete(n: Node): void {
    for (const p of this.#proxiers) p.onNodeDelete(n);
  }
  onNodeSynced(): void {
    for (const p of this.#proxiers) p.onNodeSynced();
  }
  onServiceCIDRsChanged(cidrs: string[]): void {
    for (const p of this.#proxiers) p.onServiceCIDRsChanged(cidrs);
  }

  /** Every family's beliefs about one service; undefined when no family has a port of it. */
  describeService(namespace: string, name: string): ServiceBeliefs | undefined {
    const families = this.#proxiers
      .map((p) => p.describeService?.(namespace, name))
      .filter((f) => f !== undefined);
    return families.length === 0 ? undefined : { service: `${namespace}/${name}`, families };
  }

  async close(): Promise<void> {
    await Promise.all(this.#proxiers.map((p) => p.close()));
  }
}
