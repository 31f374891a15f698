// An in-memory Host Networking Service with the semantics of upstream's test mock
// (pkg/proxy/winkernel/testing/hcnutils_mock.go): sequential IDs (EPID-n, LBID-n), endpoints found
// by ID or name, a load balancer refused when another has the same frontend, failures injected on
// demand. It answers through the same HcnClient interface as the real client, so the proxier cannot
// tell them apart; `--kernelspace-hns=model` runs the proxy against it on any platform.
import type { HcnClient } from './client.ts';
import { HcnError, HnsNotFoundError, HRESULT } from './errors.ts';
import {
  ALL_FEATURES,
  ENDPOINT_FLAGS_REMOTE,
  type HostComputeEndpoint,
  type HostComputeLoadBalancer,
  type HostComputeNetwork,
  LB_FLAGS_IPV6,
  PORT_MAPPING_FLAGS_LOCAL_ROUTED_VIP,
  remoteEndpoint,
  type SupportedFeatures,
} from './schema.ts';

const clone = <T>(v: T): T => structuredClone(v);

export interface HnsModelOptions {
  readonly networks?: readonly HostComputeNetwork[];
  readonly features?: Partial<SupportedFeatures>;
}

export class HnsModel implements HcnClient {
  readonly #networks = new Map<string, HostComputeNetwork>();
  readonly #endpoints = new Map<string, HostComputeEndpoint>();
  readonly #loadBalancers = new Map<string, HostComputeLoadBalancer>();
  #epCounter = 0;
  #lbCounter = 0;
  features: SupportedFeatures;
  /** Failure injection, as the mock's exported fields. */
  failDeleteLoadBalancer = false;
  hnsNotRunning = false;
  createLoadBalancerError: Error | undefined;
  /** Every mutating call, in order: what the proxier asked HNS to do. */
  readonly calls: string[] = [];

  constructor(opts: HnsModelOptions = {}) {
    for (const n of opts.networks ?? []) this.#networks.set(n.ID, clone(n));
    this.features = { ...ALL_FEATURES, ...opts.features };
  }

  /** Adds or replaces a network (a CNI re-creating it gets a new ID). */
  setNetwork(network: HostComputeNetwork): void {
    for (const [id, n] of this.#networks) if (n.Name === network.Name) this.#networks.delete(id);
    this.#networks.set(network.ID, clone(network));
  }

  removeNetwork(name: string): void {
    for (const [id, n] of this.#networks) if (n.Name === name) this.#networks.delete(id);
  }

  /** An endpoint created by someone else (CNI's local pods); a second IP adds an IP configuration. */
  populateEndpoint(ep: {
    id: string;
    network: string;
    ip: string;
    mac?: string;
    prefixLength?: number;
    remote?: boolean;
    name?: string;
  }): void {
    const existing = this.#endpoints.get(ep.id);
    const cfg = { IpAddress: ep.ip, ...(ep.prefixLength !== undefined && { PrefixLength: ep.prefixLength }) };
    if (existing) {
      this.#endpoints.set(ep.id, {
        ...existing,
        IpConfigurations: [...(existing.IpConfigurations ?? []), cfg],
      });
      return;
    }
    this.#endpoints.set(ep.id, {
      ID: ep.id,
      Name: ep.name ?? ep.id,
      HostComputeNetwork: ep.network,
      IpConfigurations: [cfg],
      ...(ep.mac !== undefined && { MacAddress: ep.mac }),
      ...(ep.remote && { Flags: ENDPOINT_FLAGS_REMOTE }),
    });
  }

  /** A load balancer that was there before the proxy started. */
  populateLoadBalancer(lb: HostComputeLoadBalancer & { ID: string }): void {
    this.#loadBalancers.set(lb.ID, clone(lb));
  }

  /** Snapshot of every load balancer (for assertions). */
  loadBalancers(): HostComputeLoadBalancer[] {
    return [...this.#loadBalancers.values()].map(clone);
  }

  endpoints(): HostComputeEndpoint[] {
    return [...this.#endpoints.values()].map(clone);
  }

  #network(id: string): HostComputeNetwork {
    const n = this.#networks.get(id);
    if (!n) throw new HnsNotFoundError('network', 'ID', id);
    return n;
  }

  async getNetworkByName(name: string): Promise<HostComputeNetwork> {
    for (const n of this.#networks.values()) if (n.Name === name) return clone(n);
    throw new HnsNotFoundError('network', 'name', name);
  }

  async getNetworkByID(id: string): Promise<HostComputeNetwork> {
    return clone(this.#network(id));
  }

  async listEndpoints(): Promise<HostComputeEndpoint[]> {
    return this.endpoints();
  }

  async listEndpointsOfNetwork(networkID: string): Promise<HostComputeEndpoint[]> {
    return this.endpoints().filter((e) => e.HostComputeNetwork === networkID);
  }

  async getEndpointByID(id: string): Promise<HostComputeEndpoint> {
    const e = this.#endpoints.get(id);
    if (!e) throw new HnsNotFoundError('endpoint', 'ID', id);
    return clone(e);
  }

  async getEndpointByName(name: string): Promise<HostComputeEndpoint> {
    for (const e of this.#endpoints.values()) if (e.Name === name) return clone(e);
    throw new HnsNotFoundError('endpoint', 'name', name);
  }

  async createEndpoint(
    network: HostComputeNetwork,
    endpoint: HostComputeEndpoint,
  ): Promise<HostComputeEndpoint> {
    this.#network(network.ID);
    if (endpoint.ID !== undefined && this.#endpoints.has(endpoint.ID))
      throw new HcnError('HcnCreateEndpoint', HRESULT.ERROR_ALREADY_EXISTS, `endpoint ID ${endpoint.ID}`);
    this.#epCounter++;
    const created: HostComputeEndpoint = {
      ...clone(endpoint),
      ID: `EPID-${this.#epCounter}`,
      Name: `EPName-${this.#epCounter}`,
      HostComputeNetwork: network.ID,
    };
    this.#endpoints.set(created.ID!, created);
    this.calls.push(`createEndpoint ${created.ID} ${created.IpConfigurations?.[0]?.IpAddress ?? ''}`);
    return clone(created);
  }

  async createRemoteEndpoint(
    network: HostComputeNetwork,
    endpoint: HostComputeEndpoint,
  ): Promise<HostComputeEndpoint> {
    return this.createEndpoint(network, remoteEndpoint(endpoint));
  }

  async deleteEndpoint(endpoint: HostComputeEndpoint): Promise<void> {
    const id = endpoint.ID ?? '';
    if (!this.#endpoints.has(id)) throw new HnsNotFoundError('endpoint', 'ID', id);
    this.#endpoints.delete(id);
    this.calls.push(`deleteEndpoint ${id}`);
  }

  async listLoadBalancers(): Promise<HostComputeLoadBalancer[]> {
    return this.loadBalancers();
  }

  async getLoadBalancerByID(id: string): Promise<HostComputeLoadBalancer> {
    if (this.hnsNotRunning) throw new HcnError('HcnOpenLoadBalancer', HRESULT.RPC_S_UNKNOWN_IF);
    const lb = this.#loadBalancers.get(id);
    if (!lb) throw new HnsNotFoundError('loadBalancer', 'ID', id);
    return clone(lb);
  }

  async createLoadBalancer(lb: HostComputeLoadBalancer): Promise<HostComputeLoadBalancer> {
    if (this.createLoadBalancerError) throw this.createLoadBalancerError;
    if (lb.ID !== undefined && this.#loadBalancers.has(lb.ID))
      throw new HcnError('HcnCreateLoadBalancer', HRESULT.ERROR_ALREADY_EXISTS, `load balancer ID ${lb.ID}`);
    for (const other of this.#loadBalancers.values()) {
      if (sameFrontend(other, lb)) {
        const sameFamily = ((other.Flags ?? 0) & LB_FLAGS_IPV6) === ((lb.Flags ?? 0) & LB_FLAGS_IPV6);
        const localRouted =
          ((other.PortMappings?.[0]?.Flags ?? 0) & PORT_MAPPING_FLAGS_LOCAL_ROUTED_VIP) !== 0;
        if (sameFamily || !localRouted)
          throw new HcnError(
            'HcnCreateLoadBalancer',
            HRESULT.ERROR_ALREADY_EXISTS,
            'The specified port already exists.',
          );
      }
    }
    this.#lbCounter++;
    const created = { ...clone(lb), ID: `LBID-${this.#lbCounter}` };
    this.#loadBalancers.set(created.ID, created);
    this.calls.push(`createLoadBalancer ${created.ID} ${describeFrontend(created)}`);
    return clone(created);
  }

  async updateLoadBalancer(lb: HostComputeLoadBalancer, id: string): Promise<HostComputeLoadBalancer> {
    if (!this.#loadBalancers.has(id))
      throw new HcnError('HcnModifyLoadBalancer', HRESULT.ERROR_NOT_FOUND, `load balancer ID ${id}`);
    if (!this.features.modifyLoadBalancer) throw new HcnError('HcnModifyLoadBalancer', HRESULT.E_NOTIMPL);
    const updated = { ...clone(lb), ID: id };
    this.#loadBalancers.set(id, updated);
    this.calls.push(`updateLoadBalancer ${id} ${describeFrontend(updated)}`);
    return clone(updated);
  }

  async deleteLoadBalancer(lb: HostComputeLoadBalancer): Promise<void> {
    const id = lb.ID ?? '';
    if (!this.#loadBalancers.has(id)) throw new HnsNotFoundError('loadBalancer', 'ID', id);
    if (this.failDeleteLoadBalancer)
      throw new HcnError('HcnDeleteLoadBalancer', HRESULT.E_FAIL, `injected failure for ${id}`);
    this.#loadBalancers.delete(id);
    this.calls.push(`deleteLoadBalancer ${id}`);
  }

  async supportedFeatures(): Promise<SupportedFeatures> {
    return this.features;
  }
}

/** The mock's duplicate check: same first port mapping and the same non-empty first frontend VIP. */
function sameFrontend(a: HostComputeLoadBalancer, b: HostComputeLoadBalancer): boolean {
  const pa = a.PortMappings?.[0];
  const pb = b.PortMappings?.[0];
  if (!pa || !pb) return false;
  const va = a.FrontendVIPs?.[0];
  const vb = b.FrontendVIPs?.[0];
  return (
    pa.ExternalPort === pb.ExternalPort &&
    pa.Protocol === pb.Protocol &&
    pa.InternalPort === pb.InternalPort &&
    va !== undefined &&
    va !== '' &&
    va === vb
  );
}

function describeFrontend(lb: HostComputeLoadBalancer): string {
  const pm = lb.PortMappings?.[0];
  return `${lb.FrontendVIPs?.[0] ?? '*'}:${pm?.ExternalPort ?? 0}/${pm?.Protocol ?? 0}->${pm?.InternalPort ?? 0}`;
}
