// The HNS client of Windows: the HCN v2 JSON API of computenetwork.dll (and HNSCall of vmcompute.dll
// for the version), called in the order hcsshim's hcn package calls them. The calls go through a
// ComputeNetworkApi: on Windows the koffi bindings of computenetwork-binding.ts, loaded by dynamic
// import only there; in tests a fake, so that the order of calls, the JSON documents and the
// closing of handles are checked on any platform.
import { KubeProxyError } from '../../errors.ts';
import type { HcnClient } from './client.ts';
import {
  encodeEndpoint,
  encodeLoadBalancer,
  encodeQuery,
  featuresFromVersion,
  parseEndpoint,
  parseGuidList,
  parseHnsCallResponse,
  parseLoadBalancer,
  parseNetwork,
} from './documents.ts';
import { HnsNotFoundError, type HnsObjectKind } from './errors.ts';
import {
  type HostComputeEndpoint,
  type HostComputeLoadBalancer,
  type HostComputeNetwork,
  remoteEndpoint,
  type SupportedFeatures,
} from './schema.ts';

/** An open HCN object (HCN_NETWORK, HCN_ENDPOINT, HCN_LOADBALANCER): opaque to the client. */
export type HcnHandle = unknown;

export type HcnObjectType = 'Network' | 'Endpoint' | 'LoadBalancer';

/**
 * computenetwork.dll's functions with the result documents already read and CoTaskMemFree'd.
 * Each throws HcnError when the HRESULT fails or an error record comes back. IDs are GUID strings.
 */
export interface ComputeNetworkApi {
  enumerate(type: HcnObjectType, query: string): Promise<string>;
  open(type: HcnObjectType, id: string): Promise<HcnHandle>;
  queryProperties(type: HcnObjectType, handle: HcnHandle, query: string): Promise<string>;
  close(type: HcnObjectType, handle: HcnHandle): Promise<void>;
  createEndpoint(network: HcnHandle, settings: string): Promise<HcnHandle>;
  createLoadBalancer(settings: string): Promise<HcnHandle>;
  modifyLoadBalancer(handle: HcnHandle, settings: string): Promise<void>;
  delete(type: 'Endpoint' | 'LoadBalancer', id: string): Promise<void>;
  /** vmcompute.dll HNSCall (the v1 API), used for GET /globals/version. */
  hnsCall(method: string, path: string, request: string): Promise<string>;
  unload?(): void;
}

const KIND: Record<HcnObjectType, HnsObjectKind> = {
  Network: 'network',
  Endpoint: 'endpoint',
  LoadBalancer: 'loadBalancer',
};

export class FfiHcnClient implements HcnClient {
  readonly #api: ComputeNetworkApi;
  #features: SupportedFeatures | undefined;

  constructor(api: ComputeNetworkApi) {
    this.#api = api;
  }

  /** Opens, queries and closes one object; the handle is closed whatever happens. */
  async #properties(type: HcnObjectType, id: string, query: string): Promise<string> {
    const h = await this.#api.open(type, id);
    try {
      return await this.#api.queryProperties(type, h, query);
    } finally {
      await this.#api.close(type, h);
    }
  }

  async #list<T>(
    type: HcnObjectType,
    filter: Record<string, string> | undefined,
    parse: (s: string) => T,
  ): Promise<T[]> {
    const query = encodeQuery(filter);
    const out: T[] = [];
    for (const id of parseGuidList(await this.#api.enumerate(type, query)))
      out.push(parse(await this.#properties(type, id, query)));
    return out;
  }

  async #one<T>(type: HcnObjectType, by: 'ID' | 'Name', key: string, parse: (s: string) => T): Promise<T> {
    const found = await this.#list(type, { [by]: key }, parse);
    if (found.length === 0) throw new HnsNotFoundError(KIND[type], by === 'ID' ? 'ID' : 'name', key);
    return found[0]!;
  }

  /** Reads back a created or modified object through its handle (the default query), then closes it. */
  async #readBack<T>(type: HcnObjectType, h: HcnHandle, parse: (s: string) => T): Promise<T> {
    try {
      return parse(await this.#api.queryProperties(type, h, encodeQuery()));
    } finally {
      await this.#api.close(type, h);
    }
  }

  getNetworkByName(name: string): Promise<HostComputeNetwork> {
    return this.#one('Network', 'Name', name, parseNetwork);
  }

  getNetworkByID(id: string): Promise<HostComputeNetwork> {
    return this.#one('Network', 'ID', id, parseNetwork);
  }

  listEndpoints(): Promise<HostComputeEndpoint[]> {
    return this.#list('Endpoint', undefined, parseEndpoint);
  }

  listEndpointsOfNetwork(networkID: string): Promise<HostComputeEndpoint[]> {
    // HNS filters endpoints by the v1 field name.
    return this.#list('Endpoint', { VirtualNetwork: networkID }, parseEndpoint);
  }

  getEndpointByID(id: string): Promise<HostComputeEndpoint> {
    return this.#one('Endpoint', 'ID', id, parseEndpoint);
  }

  getEndpointByName(name: string): Promise<HostComputeEndpoint> {
    return this.#one('Endpoint', 'Name', name, parseEndpoint);
  }

  async createEndpoint(
    network: HostComputeNetwork,
    endpoint: HostComputeEndpoint,
  ): Promise<HostComputeEndpoint> {
    const settings = encodeEndpoint({ ...endpoint, HostComputeNetwork: network.ID });
    const nh = await this.#api.open('Network', network.ID);
    try {
      const eh = await this.#api.createEndpoint(nh, settings);
      return await this.#readBack('Endpoint', eh, parseEndpoint);
    } finally {
      await this.#api.close('Network', nh);
    }
  }

  createRemoteEndpoint(
    network: HostComputeNetwork,
    endpoint: HostComputeEndpoint,
  ): Promise<HostComputeEndpoint> {
    return this.createEndpoint(network, remoteEndpoint(endpoint));
  }

  deleteEndpoint(endpoint: HostComputeEndpoint): Promise<void> {
    return this.#api.delete('Endpoint', requireID(endpoint.ID, 'endpoint'));
  }

  listLoadBalancers(): Promise<HostComputeLoadBalancer[]> {
    return this.#list('LoadBalancer', undefined, parseLoadBalancer);
  }

  getLoadBalancerByID(id: string): Promise<HostComputeLoadBalancer> {
    return this.#one('LoadBalancer', 'ID', id, parseLoadBalancer);
  }

  async createLoadBalancer(lb: HostComputeLoadBalancer): Promise<HostComputeLoadBalancer> {
    const h = await this.#api.createLoadBalancer(encodeLoadBalancer(lb));
    return this.#readBack('LoadBalancer', h, parseLoadBalancer);
  }

  async updateLoadBalancer(lb: HostComputeLoadBalancer, id: string): Promise<HostComputeLoadBalancer> {
    const h = await this.#api.open('LoadBalancer', id);
    try {
      await this.#api.modifyLoadBalancer(h, encodeLoadBalancer(lb));
    } catch (err) {
      await this.#api.close('LoadBalancer', h);
      throw err;
    }
    return this.#readBack('LoadBalancer', h, parseLoadBalancer);
  }

  async deleteLoadBalancer(lb: HostComputeLoadBalancer): Promise<void> {
    await this.#api.delete('LoadBalancer', requireID(lb.ID, 'load balancer'));
  }

  async supportedFeatures(): Promise<SupportedFeatures> {
    this.#features ??= featuresFromVersion(
      parseHnsCallResponse(await this.#api.hnsCall('GET', '/globals/version', '')),
    );
    return this.#features;
  }

  close(): void {
    this.#api.unload?.();
  }
}

function requireID(id: string | undefined, what: string): string {
  if (id === undefined || id === '')
    throw new KubeProxyError('KP_ERR_HNS', `cannot delete a ${what} without an ID`);
  return id;
}

/**
 * The HNS client of this machine. Only Windows has one; the native bindings are imported here and
 * nowhere else, so that no other platform ever loads them.
 */
export async function openWindowsHcn(): Promise<HcnClient> {
  if (process.platform !== 'win32')
    throw new KubeProxyError(
      'KP_ERR_NOT_IMPLEMENTED',
      `the Host Networking Service exists on Windows only, not on ${process.platform}`,
    );
  const { bindComputeNetwork } = await import('./computenetwork-binding.ts');
  return new FfiHcnClient(await bindComputeNetwork());
}
