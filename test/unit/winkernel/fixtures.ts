// The fake winkernel proxier of upstream's proxier_test.go (NewFakeProxier, getHcnMock), on the
// in-memory HNS model, re-addressed into the test ranges (test/README.md):
//
// | upstream                         | here                          | meaning                              |
// | -------------------------------- | ----------------------------- | ------------------------------------ |
// | 10.0.0.1 / 10::1                 | 198.19.0.1 / fd00:19::1       | this node (provider address)         |
// | 10.0.0.3                         | 198.19.0.3                    | another node's provider address      |
// | 192.168.X.Y (X = 1..5)           | 198.18.10X.Y                  | pods; 198.18.102.0/24 a remote subnet |
// | 192::X:Y                         | fd00:10::X:Y                  | IPv6 pods                            |
// | 10.20.30.4x, 172.20.1.1          | 198.19.16.4x, 198.19.17.1     | ClusterIPs                           |
// | 11.0.0.1                         | 198.19.16.1                   | a service VIP (hns_test.go)          |
// | fd00::21                         | fd00:10:96::21                | IPv6 ClusterIP                       |
// | 50.60.70.81                      | 198.19.99.81                  | external IP                          |
// | 11.21.31.41, 14.0.0.14, fd00::1  | 198.19.200.41, .14, fd00:19:200::1 | load balancer IPs               |
import assert from 'node:assert/strict';
import type { WinkernelBackend } from '../../../src/backends/winkernel/backend.ts';
import { LoadBalancerOwnership } from '../../../src/backends/winkernel/ownership.ts';
import { WinkernelProxier } from '../../../src/backends/winkernel/proxier.ts';
import { prepareWinkernel, type SetupOptions } from '../../../src/backends/winkernel/setup.ts';
import type { HcnClient } from '../../../src/kernel/hns/client.ts';
import { HnsModel } from '../../../src/kernel/hns/model.ts';
import type {
  HostComputeLoadBalancer,
  HostComputeNetwork,
  SupportedFeatures,
} from '../../../src/kernel/hns/schema.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import type { EndpointSlice, Service, SliceEndpoint } from '../../../src/model/k8s.ts';
import type { SyncObserver } from '../../../src/proxy/types.ts';
import type { IPFamily } from '../../../src/util/ip.ts';
import { fakeCoreOptions } from '../../support/fake-proxier.ts';

export const testNodeName = 'test-node';
export const testNetwork = 'TestNetwork';
export const networkId = '123ABC';
export const prefixLen = 24;
export const macAddress = '00-11-22-33-44-55';
export const macAddressLocal1 = '00-11-22-33-44-56';
export const macAddressLocal2 = '00-11-22-33-44-57';
export const destinationPrefix = '198.18.102.0/24';
export const providerAddress = '198.19.0.3';
export const endpointGuid1 = 'EPID-1';
export const loadbalancerGuid1 = 'LBID-1';
export const loadbalancerGuid2 = 'LBID-2';
export const endpointLocal1 = 'EP-LOCAL-1';
export const endpointLocal2 = 'EP-LOCAL-2';
export const endpointGw = 'EP-GW';
export const epIpAddressGw = '198.18.102.1';
export const epIpAddressGwv6 = 'fd00:10::1';
export const epMacAddressGw = '00-11-22-33-44-66';

// hns_test.go's constants.
export const sourceVip = '198.18.101.2';
export const serviceVip = '198.19.16.1';
export const epMacAddress = '00-11-22-33-44-55';
export const epIpAddress = '198.18.101.3';
export const epIpv6Address = 'fd00:10::3';
export const epIpAddressB = '198.18.101.4';
export const epIpAddressLocal = '198.18.105.3';
export const epIpAddressLocalv6 = 'fd00:10::5:3';
export const epIpAddressRemote = '198.18.102.3';
export const epIpAddressRemotev6 = 'fd00:10::2:3';
export const epIpAddressLocal1 = '198.18.104.4';
export const epIpAddressLocal2 = '198.18.104.5';
export const epPaAddress = '198.19.0.3';
export const protocol = 6;
export const internalPort = 80;
export const externalPort = 32440;

export const NODE_IP = '198.19.0.1';
export const NODE_IP_V6 = 'fd00:19::1';

export const NETWORK_TYPE_OVERLAY = 'overlay';
export const NETWORK_TYPE_L2BRIDGE = 'L2Bridge';

/** The HNS features of upstream's mock: no session affinity, no in-place load balancer update. */
export const MOCK_FEATURES: SupportedFeatures = {
  apiV2: true,
  remoteSubnet: true,
  dsr: true,
  sessionAffinity: false,
  ipv6DualStack: true,
  modifyLoadBalancer: false,
};

export function testHnsNetwork(networkType: string): HostComputeNetwork {
  return {
    ID: networkId,
    Name: testNetwork,
    Type: networkType,
    Policies: [
      {
        Type: 'RemoteSubnetRoute',
        Settings: {
          DestinationPrefix: destinationPrefix,
          IsolationId: 4096,
          ProviderAddress: providerAddress,
          DistributedRouterMacAddress: macAddress,
        },
      },
    ],
  };
}

/** prepareWinkernel's options for an IPv4 node on the test network, without DSR or health-check VIP. */
export function plainSetupOptions(
  hcn: HcnClient,
  config: Partial<SetupOptions['config']> = {},
): SetupOptions {
  return {
    hcn,
    config: {
      networkName: testNetwork,
      sourceVip: '',
      enableDSR: false,
      rootHnsEndpointName: '',
      forwardHealthCheckVip: false,
      ...config,
    },
    family: 'IPv4',
    nodeIP: '198.19.0.1',
    healthzPort: 10256,
    logger: silentLogger,
    networkAttempts: 1,
  };
}

/** upstream getHcnMock. */
export function getHcnMock(networkType: string, features: Partial<SupportedFeatures> = {}): HnsModel {
  return new HnsModel({
    networks: [testHnsNetwork(networkType)],
    features: { ...MOCK_FEATURES, ...features },
  });
}

export interface FakeProxierOptions {
  readonly nodeName?: string;
  readonly nodeIP?: string;
  readonly networkType: string;
  readonly enableDSR: boolean;
  readonly family?: IPFamily;
  /** Share one HNS between proxiers (dual-stack), as upstream's tests share the mock's maps. */
  readonly model?: HnsModel;
  readonly ownership?: LoadBalancerOwnership;
  readonly rootHnsEndpointName?: string;
  readonly features?: Partial<SupportedFeatures>;
  /** Also told of everything (metrics); failures are collected in any case. */
  readonly observer?: SyncObserver;
}

export interface FakeProxier {
  readonly proxier: WinkernelProxier;
  readonly backend: WinkernelBackend;
  readonly hcn: HnsModel;
  /** Sync failures the core caught (each sync is one attempt). */
  readonly failures: unknown[];
  sync(): Promise<void>;
}

/** upstream NewFakeProxier: source VIP 192.168.1.2 (192::1:2), --forward-healthcheck-vip on, the test network. */
export async function newFakeProxier(o: FakeProxierOptions): Promise<FakeProxier> {
  const family = o.family ?? 'IPv4';
  const hcn = o.model ?? getHcnMock(o.networkType, o.features);
  if (o.model && o.features) hcn.features = { ...hcn.features, ...o.features };
  const nodeIP = o.nodeIP ?? (family === 'IPv4' ? NODE_IP : NODE_IP_V6);
  const prepared = await prepareWinkernel({
    hcn,
    config: {
      networkName: testNetwork,
      sourceVip: family === 'IPv4' ? sourceVip : 'fd00:10::1:2',
      enableDSR: o.enableDSR,
      rootHnsEndpointName: o.rootHnsEndpointName ?? '',
      forwardHealthCheckVip: true,
    },
    family,
    nodeIP,
    healthzPort: 0,
    logger: silentLogger,
    hostMac: () => macAddress,
    overlaySettleMs: 0,
    networkAttempts: 1,
  });
  const failures: unknown[] = [];
  const proxier = new WinkernelProxier({
    ...fakeCoreOptions(family, null),
    hostname: o.nodeName ?? testNodeName,
    observer: {
      ...o.observer,
      failed: (f, err, ms, sync) => {
        failures.push(err);
        o.observer?.failed?.(f, err, ms, sync);
      },
    },
    backend: {
      ...prepared,
      // upstream's NewFakeProxier leaves the root endpoint name empty unless a test sets it.
      rootHnsEndpointName: o.rootHnsEndpointName ?? '',
      hcn,
      ownership: o.ownership ?? new LoadBalancerOwnership(),
    },
  });
  return { proxier, backend: proxier.backend, hcn, failures, sync: () => proxier.syncProxyRules() };
}

/** upstream makeServiceMap + populateEndpointSlices + setInitialized(true). */
export function start(fp: FakeProxier, services: Service[], slices: EndpointSlice[] = []): void {
  for (const s of services) fp.proxier.onServiceAdd(s);
  fp.proxier.onServicesSynced();
  for (const s of slices) fp.proxier.onEndpointSliceAdd(s);
  fp.proxier.onEndpointSlicesSynced();
}

export interface ServiceParts {
  spec: NonNullable<Service['spec']>;
  status: NonNullable<Service['status']>;
  metadata: NonNullable<Service['metadata']>;
}

export function makeTestService(ns: string, name: string, fn: (svc: ServiceParts) => void): Service {
  const svc = {
    spec: {} as NonNullable<Service['spec']>,
    status: {} as NonNullable<Service['status']>,
    metadata: { name, namespace: ns, annotations: {} },
  };
  fn(svc);
  return { apiVersion: 'v1', kind: 'Service', ...svc };
}

export function makeTestEndpointSlice(
  ns: string,
  svcName: string,
  sliceNum: number,
  endpoints: SliceEndpoint[],
  ports: { name?: string; port: number; protocol?: string }[],
  addressType = 'IPv4',
): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: ns,
      name: `${svcName}-${sliceNum}`,
      labels: { 'kubernetes.io/service-name': svcName },
    },
    addressType,
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    endpoints,
  };
}

/** The service port key of ns/name:port/TCP. */
export function key(ns: string, name: string, port = 'p80', proto = 'TCP'): string {
  return `${ns}/${name}${port === '' ? '' : `:${port}`}/${proto}`;
}

export function view(fp: FakeProxier, spKey: string) {
  const v = fp.backend.inspect(spKey);
  assert.ok(v, `no state for ${spKey}`);
  return v;
}

export async function lbByID(fp: FakeProxier, id: string): Promise<HostComputeLoadBalancer> {
  return fp.hcn.getLoadBalancerByID(id);
}

export async function exists(p: Promise<unknown>): Promise<boolean> {
  return p.then(
    () => true,
    () => false,
  );
}
