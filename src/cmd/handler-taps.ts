// Lets health and metrics watch the events a source delivers, without the proxier knowing: a
// ProxyHandlers that calls the taps, then forwards every event unchanged.

import type { EndpointSlice, Node, Service } from '../model/k8s.ts';
import type { ProxyHandlers } from '../sources/handlers.ts';

export interface HandlerTaps {
  service?(svc: Service): void;
  endpointSlice?(slice: EndpointSlice): void;
  node?(node: Node): void;
  nodeDeleted?(node: Node): void;
}

export function tapHandlers(inner: ProxyHandlers, taps: HandlerTaps): ProxyHandlers {
  return {
    onServiceAdd: (s) => {
      taps.service?.(s);
      inner.onServiceAdd(s);
    },
    onServiceUpdate: (o, s) => {
      taps.service?.(s);
      inner.onServiceUpdate(o, s);
    },
    onServiceDelete: (s) => {
      taps.service?.(s);
      inner.onServiceDelete(s);
    },
    onServicesSynced: () => inner.onServicesSynced(),
    onEndpointSliceAdd: (e) => {
      taps.endpointSlice?.(e);
      inner.onEndpointSliceAdd(e);
    },
    onEndpointSliceUpdate: (o, e) => {
      taps.endpointSlice?.(e);
      inner.onEndpointSliceUpdate(o, e);
    },
    onEndpointSliceDelete: (e) => {
      taps.endpointSlice?.(e);
      inner.onEndpointSliceDelete(e);
    },
    onEndpointSlicesSynced: () => inner.onEndpointSlicesSynced(),
    onNodeAdd: (n) => {
      taps.node?.(n);
      inner.onNodeAdd(n);
    },
    onNodeUpdate: (o, n) => {
      taps.node?.(n);
      inner.onNodeUpdate(o, n);
    },
    onNodeDelete: (n) => {
      taps.nodeDeleted?.(n);
      inner.onNodeDelete(n);
    },
    onNodeSynced: () => inner.onNodeSynced(),
    onServiceCIDRsChanged: (c) => inner.onServiceCIDRsChanged(c),
  };
}
