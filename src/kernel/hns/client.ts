// What the winkernel proxier asks of the Host Networking Service (upstream's HcnService): the
// computenetwork.dll client on Windows (ffi-client.ts) and the in-memory model (model.ts) both
// implement it. Methods are async because the real calls cross into the HNS service.
import type {
  HostComputeEndpoint,
  HostComputeLoadBalancer,
  HostComputeNetwork,
  SupportedFeatures,
} from './schema.ts';

export interface HcnClient {
  getNetworkByName(name: string): Promise<HostComputeNetwork>;
  getNetworkByID(id: string): Promise<HostComputeNetwork>;
  listEndpoints(): Promise<HostComputeEndpoint[]>;
  listEndpointsOfNetwork(networkID: string): Promise<HostComputeEndpoint[]>;
  getEndpointByID(id: string): Promise<HostComputeEndpoint>;
  getEndpointByName(name: string): Promise<HostComputeEndpoint>;
  /** A local endpoint on `network`; HNS assigns ID and Name. */
  createEndpoint(network: HostComputeNetwork, endpoint: HostComputeEndpoint): Promise<HostComputeEndpoint>;
  /** An endpoint of another host (Flags has ENDPOINT_FLAGS_REMOTE set). */
  createRemoteEndpoint(
    network: HostComputeNetwork,
    endpoint: HostComputeEndpoint,
  ): Promise<HostComputeEndpoint>;
  deleteEndpoint(endpoint: HostComputeEndpoint): Promise<void>;
  listLoadBalancers(): Promise<HostComputeLoadBalancer[]>;
  getLoadBalancerByID(id: string): Promise<HostComputeLoadBalancer>;
  createLoadBalancer(lb: HostComputeLoadBalancer): Promise<HostComputeLoadBalancer>;
  /** Replaces load balancer `id` in place (HNS 15.5+/16.0+: features.modifyLoadBalancer). */
  updateLoadBalancer(lb: HostComputeLoadBalancer, id: string): Promise<HostComputeLoadBalancer>;
  deleteLoadBalancer(lb: HostComputeLoadBalancer): Promise<void>;
  supportedFeatures(): Promise<SupportedFeatures>;
  close?(): void;
}

/** upstream's DeleteAllHnsLoadBalancerPolicy: every load balancer of the host, best effort. */
export async function deleteAllLoadBalancers(
  hcn: HcnClient,
  onError: (err: unknown, lb: HostComputeLoadBalancer) => void,
): Promise<number> {
  let deleted = 0;
  for (const lb of await hcn.listLoadBalancers()) {
    try {
      await hcn.deleteLoadBalancer(lb);
      deleted++;
    } catch (err) {
      onError(err, lb);
    }
  }
  return deleted;
}
