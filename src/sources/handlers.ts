import type { EndpointSlice, Node, Service } from '../model/k8s.ts';

// The handler interfaces every source drives, modelled on upstream pkg/proxy/config. A source
// calls the *Synced hook once its initial state has been delivered; the proxy does not sync
// rules before both services and endpoint slices are synced.

export interface ServiceHandler {
  onServiceAdd(service: Service): void;
  onServiceUpdate(oldService: Service, service: Service): void;
  onServiceDelete(service: Service): void;
  onServicesSynced(): void;
}

export interface EndpointSliceHandler {
  onEndpointSliceAdd(slice: EndpointSlice): void;
  onEndpointSliceUpdate(oldSlice: EndpointSlice, slice: EndpointSlice): void;
  onEndpointSliceDelete(slice: EndpointSlice): void;
  onEndpointSlicesSynced(): void;
}

export interface NodeHandler {
  onNodeAdd(node: Node): void;
  onNodeUpdate(oldNode: Node, node: Node): void;
  onNodeDelete(node: Node): void;
  onNodeSynced(): void;
}

export interface ServiceCIDRHandler {
  /** The union of spec.cidrs of all ServiceCIDR objects, whenever it changes. */
  onServiceCIDRsChanged(cidrs: string[]): void;
}

export interface ProxyHandlers
  extends ServiceHandler,
    EndpointSliceHandler,
    NodeHandler,
    ServiceCIDRHandler {}

/** A long-lived producer of API objects (manifest files, the Kubernetes API). */
export interface Source {
  /** Delivers the initial state, then keeps delivering changes until close(). */
  start(handlers: ProxyHandlers): Promise<void>;
  close(): Promise<void>;
}
