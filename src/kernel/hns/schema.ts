// The HCN v2 schema objects kube-proxy reads and writes, with the field names, enums and flag bits
// of the `hcn` package of microsoft/hcsshim (and its successor microsoft/hnslib). The TypeScript
// shapes are the JSON documents themselves, so the in-memory model and the FFI client hold the
// very objects computenetwork.dll sends and receives.

export interface SchemaVersion {
  readonly Major: number;
  readonly Minor: number;
}

export const SCHEMA_V2: SchemaVersion = { Major: 2, Minor: 0 };

/** HostComputeNetwork.Type values kube-proxy distinguishes (HNS compares them case-insensitively). */
export const NETWORK_TYPE_OVERLAY = 'Overlay';
export const NETWORK_TYPE_L2BRIDGE = 'L2Bridge';

/** NetworkPolicy.Type of a route to a remote node's pod subnet on overlay networks. */
export const POLICY_REMOTE_SUBNET_ROUTE = 'RemoteSubnetRoute';
/** EndpointPolicy.Type that binds a remote endpoint to the provider address of its node. */
export const POLICY_PROVIDER_ADDRESS = 'ProviderAddress';

export interface Policy {
  readonly Type: string;
  /** Kept as parsed JSON; HCN nests each policy's settings as an object. */
  readonly Settings?: unknown;
}

export interface RemoteSubnetRoutePolicySetting {
  readonly DestinationPrefix?: string;
  readonly IsolationId?: number;
  readonly ProviderAddress?: string;
  readonly DistributedRouterMacAddress?: string;
}

export interface HostComputeNetwork {
  readonly ID: string;
  readonly Name?: string;
  readonly Type?: string;
  readonly Policies?: readonly Policy[];
  readonly SchemaVersion?: SchemaVersion;
}

export interface IpConfig {
  readonly IpAddress?: string;
  readonly PrefixLength?: number;
}

/** EndpointFlags: the endpoint lives on another host. */
export const ENDPOINT_FLAGS_REMOTE = 1;

export interface HostComputeEndpoint {
  readonly ID?: string;
  readonly Name?: string;
  readonly HostComputeNetwork?: string;
  readonly Policies?: readonly Policy[];
  readonly IpConfigurations?: readonly IpConfig[];
  readonly MacAddress?: string;
  readonly Flags?: number;
  readonly SchemaVersion?: SchemaVersion;
}

/** The endpoint marked as one of another host (what createRemoteEndpoint creates). */
export function remoteEndpoint(endpoint: HostComputeEndpoint): HostComputeEndpoint {
  return { ...endpoint, Flags: (endpoint.Flags ?? 0) | ENDPOINT_FLAGS_REMOTE };
}

/** LoadBalancerFlags. */
export const LB_FLAGS_NONE = 0;
export const LB_FLAGS_DSR = 1;
/** Not named in hcsshim; upstream kube-proxy defines it (the load balancer is IPv6). */
export const LB_FLAGS_IPV6 = 2;

/** LoadBalancerPortMappingFlags. */
export const PORT_MAPPING_FLAGS_NONE = 0;
export const PORT_MAPPING_FLAGS_ILB = 1;
export const PORT_MAPPING_FLAGS_LOCAL_ROUTED_VIP = 2;
export const PORT_MAPPING_FLAGS_USE_MUX = 4;
export const PORT_MAPPING_FLAGS_PRESERVE_DIP = 8;
/** Not named in hcsshim; upstream kube-proxy defines it (the frontend is an external IP). */
export const PORT_MAPPING_FLAGS_VIP_EXTERNAL_IP = 16;

/** LoadBalancerDistribution. */
export const DISTRIBUTION_NONE = 0;
export const DISTRIBUTION_SOURCE_IP_PROTOCOL = 1;
export const DISTRIBUTION_SOURCE_IP = 2;

export interface LoadBalancerPortMapping {
  /** IANA protocol number: TCP 6, UDP 17, SCTP 132. */
  readonly Protocol?: number;
  readonly InternalPort?: number;
  readonly ExternalPort?: number;
  readonly DistributionType?: number;
  readonly Flags?: number;
}

export interface HostComputeLoadBalancer {
  readonly ID?: string;
  readonly HostComputeEndpoints?: readonly string[];
  readonly SourceVIP?: string;
  readonly FrontendVIPs?: readonly string[];
  readonly PortMappings?: readonly LoadBalancerPortMapping[];
  readonly SchemaVersion?: SchemaVersion;
  readonly Flags?: number;
}

/** What this HNS can do, as hcn.GetSupportedFeatures derives it from the HNS version. */
export interface SupportedFeatures {
  readonly apiV2: boolean;
  readonly remoteSubnet: boolean;
  readonly dsr: boolean;
  readonly sessionAffinity: boolean;
  readonly ipv6DualStack: boolean;
  readonly modifyLoadBalancer: boolean;
}

export const ALL_FEATURES: SupportedFeatures = {
  apiV2: true,
  remoteSubnet: true,
  dsr: true,
  sessionAffinity: true,
  ipv6DualStack: true,
  modifyLoadBalancer: true,
};
