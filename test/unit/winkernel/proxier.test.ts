// upstream pkg/proxy/winkernel/proxier_test.go, case by case (same names), on the in-memory HNS
// model: after each sync, the load balancers and endpoints the proxier asked HNS for, and the state
// it keeps (upstream reads serviceInfo/endpointInfo; here WinkernelBackend.inspect()).
// Addresses are re-mapped as fixtures.ts says. Where a case had to change, the comment says why.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findRemoteSubnetProviderAddress } from '../../../src/backends/winkernel/hns.ts';
import {
  classifyLBError,
  LB_ERROR_TYPES,
  LB_TYPES,
} from '../../../src/backends/winkernel/load-balancer-types.ts';
import { LoadBalancerOwnership } from '../../../src/backends/winkernel/ownership.ts';
import { HcnError, HnsNotFoundError, HRESULT } from '../../../src/kernel/hns/errors.ts';
import { LB_FLAGS_DSR, LB_FLAGS_IPV6 } from '../../../src/kernel/hns/schema.ts';
import { ProxyMetrics } from '../../../src/metrics/metrics.ts';
import { newSyncObserver } from '../../../src/metrics/sync-observer.ts';
import type { EndpointSlice, SliceEndpoint } from '../../../src/model/k8s.ts';
import {
  endpointGuid1,
  endpointGw,
  endpointLocal1,
  endpointLocal2,
  epIpAddressGw,
  epIpAddressGwv6,
  epIpAddressLocal,
  epIpAddressLocal1,
  epIpAddressLocal2,
  epIpAddressLocalv6,
  epIpAddressRemote,
  epIpAddressRemotev6,
  epMacAddressGw,
  epPaAddress,
  exists,
  type getHcnMock,
  key,
  lbByID,
  loadbalancerGuid1,
  loadbalancerGuid2,
  macAddress,
  macAddressLocal1,
  macAddressLocal2,
  makeTestEndpointSlice,
  makeTestService,
  NETWORK_TYPE_L2BRIDGE,
  NETWORK_TYPE_OVERLAY,
  NODE_IP_V6,
  networkId,
  newFakeProxier,
  prefixLen,
  providerAddress,
  type ServiceParts,
  serviceVip,
  start,
  testNetwork,
  testNodeName,
  view,
} from './fixtures.ts';

const svcIP = '198.19.16.41';
const svcPort = 80;
const svcNodePort = 3001;
const P80 = [{ name: 'p80', port: svcPort }];
const SVC1 = key('ns1', 'svc1');

const nodePortService = (
  name: string,
  clusterIP: string,
  nodePort: number,
  extra: (s: ServiceParts) => void = () => {},
) =>
  makeTestService('ns1', name, (svc) => {
    svc.spec.type = 'NodePort';
    svc.spec.clusterIP = clusterIP;
    svc.spec.ports = [{ name: 'p80', port: svcPort, protocol: 'TCP', nodePort }];
    extra(svc);
  });

const slice = (name: string, endpoints: SliceEndpoint[], ports = P80) =>
  makeTestEndpointSlice('ns1', name, 1, endpoints, ports);

/** svc1, a ClusterIP service on port 80 (`extra` sets more of its spec). */
const clusterIPService = (extra: (s: ServiceParts) => void = () => {}) =>
  makeTestService('ns1', 'svc1', (svc) => {
    svc.spec.type = 'ClusterIP';
    svc.spec.clusterIP = svcIP;
    extra(svc);
    svc.spec.ports = [{ name: 'p80', port: svcPort, protocol: 'TCP' }];
  });

/** svc1 of upstream's TestEndpointSlice cases: ClusterIP 198.19.17.1, port 80 to target port 80. */
const endpointSliceCaseService = () =>
  makeTestService('ns1', 'svc1', (svc) => {
    svc.spec.clusterIP = '198.19.17.1';
    svc.spec.ports = [{ name: 'p80', port: 80, targetPort: 80, protocol: 'TCP' }];
  });

/** svc1 as a NodePort with one remote endpoint, synced: where many of upstream's cases start. */
const startNodePortRemote = async (fp: Awaited<ReturnType<typeof newFakeProxier>>) => {
  start(
    fp,
    [nodePortService('svc1', svcIP, svcNodePort)],
    [slice('svc1', [{ addresses: [epIpAddressRemote] }])],
  );
  await fp.sync();
};

const populate = (fp: { hcn: ReturnType<typeof getHcnMock> }, id: string, ip: string, mac: string) =>
  fp.hcn.populateEndpoint({ id, network: networkId, ip, mac, prefixLength: prefixLen });

/**
 * svc1 and svc2, NodePorts 3001 and 3002 with the same endpoints (the local pod at
 * epIpAddressLocal1 populated in HNS), synced; their slices.
 */
const startTwoNodePorts = async (
  fp: Awaited<ReturnType<typeof newFakeProxier>>,
  endpoints: SliceEndpoint[],
): Promise<[EndpointSlice, EndpointSlice]> => {
  const s1 = slice('svc1', endpoints);
  const s2 = slice('svc2', endpoints);
  start(fp, [nodePortService('svc1', svcIP, 3001), nodePortService('svc2', '198.19.16.42', 3002)], [s1, s2]);
  populate(fp, endpointLocal1, epIpAddressLocal1, macAddressLocal1);
  await fp.sync();
  return [s1, s2];
};

describe('winkernel proxier (upstream proxier_test.go)', () => {
  it('TestCreateServiceVip', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_OVERLAY, enableDSR: true });
    start(fp, [
      nodePortService('svc1', svcIP, svcNodePort, (svc) => {
        svc.spec.externalIPs = ['198.19.99.81'];
        svc.spec.sessionAffinity = 'ClientIP';
        svc.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
      }),
    ]);
    await fp.sync();
    const v = view(fp, SVC1);
    assert.ok(v.remoteEndpoint, 'the ClusterIP has a remote endpoint on the overlay');
    assert.equal(v.remoteEndpoint.ip, svcIP);
    // The service VIP endpoint is remote, on this node's provider address.
    const ep = await fp.hcn.getEndpointByID(v.remoteEndpoint.hnsID);
    assert.equal(ep.Flags, 1);
    assert.deepEqual(ep.Policies, [{ Type: 'ProviderAddress', Settings: { ProviderAddress: '198.19.0.1' } }]);
  });

  it('TestCreateRemoteEndpointOverlay', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_OVERLAY, enableDSR: false });
    await startNodePortRemote(fp);
    // EPID-1 is the source VIP, EPID-2 the ClusterIP's endpoint, EPID-3 the remote pod.
    const e = view(fp, SVC1).endpoints[0]!;
    assert.equal(e.hnsID, 'EPID-3');
    assert.ok((fp.backend.refCount('EPID-3') ?? 0) > 0, 'RefCount not incremented');
    assert.equal(fp.backend.refCount('EPID-3'), e.refCount);
    const remote = await fp.hcn.getEndpointByID('EPID-3');
    // The pod is in the remote subnet: its node's provider address, and a MAC made from its IP.
    assert.deepEqual(remote.Policies, [
      { Type: 'ProviderAddress', Settings: { ProviderAddress: providerAddress } },
    ]);
    assert.equal(remote.MacAddress, '02-11-c6-12-66-03');
  });

  it('TestCreateRemoteEndpointL2Bridge', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_L2BRIDGE, enableDSR: false });
    await startNodePortRemote(fp);
    const e = view(fp, SVC1).endpoints[0]!;
    assert.equal(e.hnsID, endpointGuid1);
    assert.ok((fp.backend.refCount(endpointGuid1) ?? 0) > 0);
    assert.equal(fp.backend.refCount(endpointGuid1), e.refCount);
    // l2bridge: no provider address policy.
    assert.equal((await fp.hcn.getEndpointByID(endpointGuid1)).Policies, undefined);
  });

  it('TestDsrEndpointsAreCreatedCorrectly', async () => {
    const fp = await newFakeProxier({
      nodeName: 'testhost',
      networkType: NETWORK_TYPE_OVERLAY,
      enableDSR: true,
    });
    start(fp, [clusterIPService()], [slice('svc1', [{ addresses: [epIpAddressRemote] }])]);
    await fp.sync();
    assert.notEqual(view(fp, SVC1).endpoints[0]!.hnsID, '');
  });

  it('TestDsrNotAppliedToClusterTrafficPolicy', async () => {
    const fp = await newFakeProxier({
      nodeName: 'testhost',
      networkType: NETWORK_TYPE_OVERLAY,
      enableDSR: true,
    });
    start(fp, [
      clusterIPService((s) => {
        s.spec.externalTrafficPolicy = 'Cluster';
      }),
    ]);
    await fp.sync();
    assert.equal(view(fp, SVC1).localTrafficDSR, false);
  });

  it('TestClusterIPSvcWithITPLocal', async () => {
    const fp = await newFakeProxier({
      nodeName: 'testhost',
      networkType: NETWORK_TYPE_L2BRIDGE,
      enableDSR: true,
    });
    const svc = clusterIPService((s) => {
      s.spec.internalTrafficPolicy = 'Local';
    });
    const one = slice('svc1', [{ addresses: [epIpAddressLocal1] }]);
    start(fp, [svc], [one]);
    populate(fp, endpointLocal1, epIpAddressLocal1, macAddressLocal1);
    await fp.sync();
    // 1. The local endpoint (local to HNS) gets a load balancer.
    assert.notEqual(view(fp, SVC1).endpoints[0]!.hnsID, '');
    assert.equal(view(fp, SVC1).hnsID, loadbalancerGuid1);
    assert.ok(await exists(fp.hcn.getLoadBalancerByID(loadbalancerGuid1)));

    // 2. A second local endpoint: the old load balancer goes, a new one holds both.
    const two = slice('svc1', [{ addresses: [epIpAddressLocal1] }, { addresses: [epIpAddressLocal2] }]);
    fp.proxier.onEndpointSliceUpdate(one, two);
    populate(fp, endpointLocal2, epIpAddressLocal2, macAddressLocal2);
    await fp.sync();
    assert.equal(view(fp, SVC1).hnsID, loadbalancerGuid2);
    assert.ok(await exists(fp.hcn.getLoadBalancerByID(loadbalancerGuid2)));
    assert.equal(await exists(fp.hcn.getLoadBalancerByID(loadbalancerGuid1)), false);

    // 3. A remote endpoint: iTP Local keeps the ClusterIP on the local ones, the same load balancer.
    const three = slice('svc1', [
      { addresses: [epIpAddressLocal1] },
      { addresses: [epIpAddressLocal2] },
      { addresses: [epIpAddressRemote] },
    ]);
    fp.proxier.onEndpointSliceUpdate(two, three);
    await fp.sync();
    assert.equal(view(fp, SVC1).hnsID, loadbalancerGuid2);
    const lb = await lbByID(fp, loadbalancerGuid2);
    assert.deepEqual([...(lb.HostComputeEndpoints ?? [])].sort(), [endpointLocal1, endpointLocal2]);
    assert.deepEqual(fp.failures, []);
  });

  it('TestSharedRemoteEndpointDelete', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_L2BRIDGE, enableDSR: true });
    const svc2 = nodePortService('svc2', '198.19.16.42', 3002);
    const slice2 = slice('svc2', [{ addresses: [epIpAddressRemote] }]);
    start(
      fp,
      [nodePortService('svc1', svcIP, svcNodePort), svc2],
      [slice('svc1', [{ addresses: [epIpAddressRemote] }]), slice2],
    );
    await fp.sync();
    let e = view(fp, SVC1).endpoints[0]!;
    assert.equal(e.hnsID, endpointGuid1);
    assert.equal(fp.backend.refCount(endpointGuid1), 2);
    assert.equal(e.refCount, 2);

    fp.proxier.onServiceDelete(svc2);
    fp.proxier.onEndpointSliceDelete(slice2);
    await fp.sync();
    e = view(fp, SVC1).endpoints[0]!;
    assert.equal(e.hnsID, endpointGuid1);
    assert.equal(e.refCount, 1);
    assert.equal(fp.backend.refCount(endpointGuid1), 1);
    // The shared endpoint stays in HNS; svc2's load balancers are gone.
    assert.ok(await exists(fp.hcn.getEndpointByID(endpointGuid1)));
    assert.equal(fp.backend.inspect(key('ns1', 'svc2')), undefined);
    assert.equal(fp.hcn.loadBalancers().filter((lb) => lb.FrontendVIPs?.[0] === '198.19.16.42').length, 0);
  });

  it('TestSharedRemoteEndpointUpdate', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_L2BRIDGE, enableDSR: true });
    const svc1 = nodePortService('svc1', svcIP, svcNodePort);
    const slice1 = slice('svc1', [{ addresses: [epIpAddressRemote] }]);
    start(
      fp,
      [svc1, nodePortService('svc2', '198.19.16.42', 3002)],
      [slice1, slice('svc2', [{ addresses: [epIpAddressRemote] }])],
    );
    await fp.sync();
    assert.equal(view(fp, SVC1).endpoints[0]!.hnsID, endpointGuid1);
    assert.equal(fp.backend.refCount(endpointGuid1), 2);

    fp.proxier.onServiceUpdate(svc1, nodePortService('svc1', svcIP, 3003));
    fp.proxier.onEndpointSliceUpdate(
      slice1,
      slice('svc1', [{ addresses: [epIpAddressRemote] }], [...P80, { name: 'p443', port: 443 }]),
    );
    await fp.sync();
    const e = view(fp, SVC1).endpoints[0]!;
    assert.equal(e.hnsID, endpointGuid1);
    assert.equal(e.refCount, 2);
    assert.equal(fp.backend.refCount(endpointGuid1), 2);
    // The node port moved: a load balancer on 3003, none left on 3001.
    const nodePorts = fp.hcn.loadBalancers().map((lb) => lb.PortMappings?.[0]?.ExternalPort);
    assert.ok(nodePorts.includes(3003));
    assert.ok(!nodePorts.includes(3001));
  });

  it('TestCreateLoadBalancerWithoutDSR', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_OVERLAY, enableDSR: false });
    await startNodePortRemote(fp);
    assert.equal(view(fp, SVC1).hnsID, loadbalancerGuid1);
    const lb = await lbByID(fp, loadbalancerGuid1);
    assert.equal(lb.Flags ?? 0, 0);
  });

  it('TestCreateLoadBalancerWithDSR', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_OVERLAY, enableDSR: true });
    await startNodePortRemote(fp);
    assert.equal(view(fp, SVC1).hnsID, loadbalancerGuid1);
    assert.equal((await lbByID(fp, loadbalancerGuid1)).Flags, LB_FLAGS_DSR);
  });

  for (const supported of [true, false]) {
    it(
      supported ? 'TestUpdateLoadBalancerWhenSupported' : 'TestUpdateLoadBalancerWhenUnsupported',
      async () => {
        const fp = await newFakeProxier({
          networkType: NETWORK_TYPE_OVERLAY,
          enableDSR: true,
          features: { modifyLoadBalancer: supported },
        });
        const before = slice('svc1', [{ addresses: [epIpAddressRemote] }]);
        start(fp, [nodePortService('svc1', svcIP, svcNodePort)], [before]);
        await fp.sync();
        assert.equal(view(fp, SVC1).hnsID, loadbalancerGuid1);

        fp.proxier.onEndpointSliceUpdate(before, slice('svc1', [{ addresses: [epPaAddress] }]));
        assert.ok(await exists(fp.hcn.getEndpointByID('EPID-3')));
        await fp.sync();
        // The old remote endpoint is gone; the ClusterIP's endpoint was re-created (EPID-4), the new one is EPID-5.
        assert.equal(await exists(fp.hcn.getEndpointByID('EPID-3')), false);
        assert.ok(await exists(fp.hcn.getEndpointByID('EPID-5')));
        const e = view(fp, SVC1).endpoints[0]!;
        assert.equal(e.hnsID, 'EPID-5');
        assert.equal(e.refCount, 1);
        assert.equal(fp.backend.refCount('EPID-5'), 1);
        // In place when HNS can modify load balancers; otherwise deleted and created anew (LBID-2 was the NodePort's).
        assert.equal(view(fp, SVC1).hnsID, supported ? loadbalancerGuid1 : 'LBID-3');
        assert.deepEqual((await lbByID(fp, view(fp, SVC1).hnsID)).HostComputeEndpoints, ['EPID-5']);
        assert.deepEqual(fp.failures, []);
      },
    );
  }

  it('TestCreateDsrLoadBalancer', async () => {
    const fp = await newFakeProxier({
      networkType: NETWORK_TYPE_OVERLAY,
      enableDSR: true,
      rootHnsEndpointName: endpointGw,
    });
    start(
      fp,
      [
        nodePortService('svc1', svcIP, svcNodePort, (svc) => {
          svc.spec.externalTrafficPolicy = 'Local';
          svc.status.loadBalancer = { ingress: [{ ip: '198.19.200.41' }] };
        }),
      ],
      [slice('svc1', [{ addresses: [epIpAddressRemote], nodeName: testNodeName }])],
    );
    populate(fp, endpointLocal1, epIpAddressRemote, macAddress);
    populate(fp, endpointGw, epIpAddressGw, epMacAddressGw);
    await fp.sync();
    const v = view(fp, SVC1);
    assert.equal(v.hnsID, loadbalancerGuid1);
    assert.equal(v.localTrafficDSR, true);
    assert.equal(v.ingressIPs.length, 1);
    // ClusterIP, NodePort, ingress, then the ingress IP's health check load balancer.
    assert.equal(v.ingressIPs[0]!.healthCheckHnsID, 'LBID-4');
    const hc = await lbByID(fp, 'LBID-4');
    assert.deepEqual(hc.HostComputeEndpoints, [endpointGw]);
    assert.deepEqual(hc.FrontendVIPs, ['198.19.200.41']);
    const ingress = await lbByID(fp, v.ingressIPs[0]!.hnsID);
    assert.equal(ingress.Flags, LB_FLAGS_DSR);
  });

  it('TestClusterIPLBInCreateDsrLoadBalancer', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_OVERLAY, enableDSR: false });
    start(
      fp,
      [
        nodePortService('svc1', svcIP, svcNodePort, (svc) => {
          svc.spec.externalTrafficPolicy = 'Local';
          svc.status.loadBalancer = { ingress: [{ ip: '198.19.200.41' }] };
        }),
      ],
      // A remote endpoint only: eTP Local leaves NodePort and ingress without a load balancer.
      [slice('svc1', [{ addresses: [epIpAddressRemote], nodeName: 'testhost2' }])],
    );
    await fp.sync();
    const v = view(fp, SVC1);
    assert.equal(v.hnsID, loadbalancerGuid1);
    assert.equal(v.nodePortHnsID, '');
    for (const e of v.externalIPs) assert.equal(e.hnsID, '');
    for (const i of v.ingressIPs) assert.equal(i.hnsID, '');
  });

  it('TestEndpointSliceWithInternalPortDifferentFromServicePort', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_OVERLAY, enableDSR: true });
    start(
      fp,
      [endpointSliceCaseService()],
      [
        slice(
          'svc1',
          [{ addresses: [epIpAddressRemote], conditions: { ready: true }, nodeName: 'testhost2' }],
          [{ name: 'p80', port: 8080 }],
        ),
      ],
    );
    await fp.sync();
    assert.equal(view(fp, SVC1).hnsID, loadbalancerGuid1);
    const lb = await lbByID(fp, loadbalancerGuid1);
    assert.equal(lb.PortMappings?.length, 1);
    assert.equal(lb.PortMappings![0]!.InternalPort, 8080);
    assert.equal(lb.PortMappings![0]!.ExternalPort, 80);
    assert.equal(view(fp, SVC1).endpoints[0]!.hnsID, 'EPID-3');
  });

  it('TestEndpointSlice', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_OVERLAY, enableDSR: true });
    // Upstream's service has no port number (0); kube-apiserver refuses that and so does the
    // service model here, so the port is 80.
    start(
      fp,
      [endpointSliceCaseService()],
      [
        slice('svc1', [
          { addresses: [epIpAddressRemote], conditions: { ready: true }, nodeName: 'testhost2' },
        ]),
      ],
    );
    await fp.sync();
    assert.equal(view(fp, SVC1).hnsID, loadbalancerGuid1);
    assert.equal(view(fp, SVC1).endpoints[0]!.hnsID, 'EPID-3');
  });

  it('TestNoopEndpointSlice', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_L2BRIDGE, enableDSR: false });
    const empty = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' } as const;
    fp.proxier.onEndpointSliceAdd(empty);
    fp.proxier.onEndpointSliceUpdate(empty, empty);
    fp.proxier.onEndpointSliceDelete(empty);
    fp.proxier.onEndpointSlicesSynced();
    fp.proxier.onServicesSynced();
    await fp.sync();
    assert.deepEqual(fp.failures, []);
    assert.deepEqual(fp.hcn.loadBalancers(), []);
  });

  it('TestFindRemoteSubnetProviderAddress', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_OVERLAY, enableDSR: true });
    const network = await fp.backend.hns.getNetworkByName(testNetwork);
    assert.equal(findRemoteSubnetProviderAddress(network, providerAddress), providerAddress);
    assert.equal(findRemoteSubnetProviderAddress(network, epIpAddressRemote), providerAddress);
    assert.equal(findRemoteSubnetProviderAddress(network, serviceVip), '');
  });

  it('TestWinDSRWithOverlayEnabled', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_OVERLAY, enableDSR: true });
    // Upstream sets eTP Local on a ClusterIP service, which kube-apiserver refuses (eTP is for
    // externally reachable services) and the service model ignores: a NodePort service here.
    start(fp, [
      nodePortService('svc1', svcIP, svcNodePort, (svc) => (svc.spec.externalTrafficPolicy = 'Local')),
    ]);
    await fp.sync();
    assert.equal(view(fp, SVC1).localTrafficDSR, true);
  });

  const dualStack = (name: string, enableDsr: boolean, policy: string, trafficPolicy: 'Local' | 'Cluster') =>
    it(name, async () => {
      const baseFlag = trafficPolicy === 'Local' ? LB_FLAGS_DSR : 0;
      const ownership = new LoadBalancerOwnership();
      const v4 = await newFakeProxier({
        networkType: NETWORK_TYPE_OVERLAY,
        enableDSR: enableDsr,
        rootHnsEndpointName: endpointGw,
        ownership,
      });
      const v6 = await newFakeProxier({
        networkType: NETWORK_TYPE_OVERLAY,
        enableDSR: enableDsr,
        family: 'IPv6',
        nodeIP: NODE_IP_V6,
        model: v4.hcn,
        rootHnsEndpointName: endpointGw,
        ownership,
      });
      const service = makeTestService('ns1', 'svc1', (svc) => {
        svc.spec.type = 'LoadBalancer';
        svc.spec.clusterIP = svcIP;
        svc.spec.clusterIPs = [svcIP, 'fd00:10:96::21'];
        svc.spec.ipFamilyPolicy = policy;
        svc.spec.ipFamilies = ['IPv4', 'IPv6'];
        svc.spec.externalTrafficPolicy = trafficPolicy;
        svc.spec.ports = [{ name: 'p80', port: svcPort, protocol: 'TCP', nodePort: svcNodePort }];
        svc.status.loadBalancer = { ingress: [{ ip: '198.19.200.41' }, { ip: 'fd00:19:200::1' }] };
      });
      const v4eps: SliceEndpoint[] = [{ addresses: [epIpAddressLocal], nodeName: testNodeName }];
      const v6eps: SliceEndpoint[] = [{ addresses: [epIpAddressLocalv6], nodeName: testNodeName }];
      if (trafficPolicy === 'Cluster') {
        v4eps.push({ addresses: [epIpAddressRemote] });
        v6eps.push({ addresses: [epIpAddressRemotev6] });
      }
      start(v4, [service], [makeTestEndpointSlice('ns1', 'svc1', 1, v4eps, P80)]);
      start(v6, [service], [makeTestEndpointSlice('ns1', 'svc1', 1, v6eps, P80, 'IPv6')]);
      const hcn = v4.hcn;
      hcn.populateEndpoint({ id: endpointLocal1, network: networkId, ip: epIpAddressLocal, mac: macAddress });
      hcn.populateEndpoint({
        id: endpointLocal1,
        network: networkId,
        ip: epIpAddressLocalv6,
        mac: macAddress,
      });
      hcn.populateEndpoint({ id: endpointGw, network: networkId, ip: epIpAddressGw, mac: epMacAddressGw });
      hcn.populateEndpoint({ id: endpointGw, network: networkId, ip: epIpAddressGwv6, mac: epMacAddressGw });

      await v4.sync();
      const s4 = view(v4, SVC1);
      assert.equal(s4.hnsID, 'LBID-1');
      assert.equal(s4.ingressIPs[0]!.ip, '198.19.200.41');
      assert.equal(s4.nodePortHnsID, 'LBID-2');
      assert.equal(s4.ingressIPs.length, 1);
      assert.equal(s4.ingressIPs[0]!.hnsID, 'LBID-3');
      assert.equal(s4.ingressIPs[0]!.healthCheckHnsID, 'LBID-4');
      const count = trafficPolicy === 'Local' ? 1 : 2;
      for (const id of [s4.hnsID, s4.nodePortHnsID, s4.ingressIPs[0]!.hnsID]) {
        const lb = await lbByID(v4, id);
        assert.equal(lb.Flags ?? 0, baseFlag, `flags of ${id}`);
        assert.equal(lb.HostComputeEndpoints?.length, count, `endpoints of ${id}`);
      }

      await v6.sync();
      const s6 = view(v6, SVC1);
      assert.equal(s6.hnsID, 'LBID-5');
      assert.equal(s6.nodePortHnsID, 'LBID-6');
      assert.equal(s6.ingressIPs.length, 1);
      assert.equal(s6.ingressIPs[0]!.ip, 'fd00:19:200::1');
      assert.equal(s6.ingressIPs[0]!.hnsID, 'LBID-7');
      assert.equal(s6.ingressIPs[0]!.healthCheckHnsID, 'LBID-8');
      for (const id of [s6.hnsID, s6.nodePortHnsID, s6.ingressIPs[0]!.hnsID]) {
        const lb = await lbByID(v6, id);
        assert.equal(lb.Flags, baseFlag | LB_FLAGS_IPV6, `flags of ${id}`);
        assert.equal(lb.HostComputeEndpoints?.length, count, `endpoints of ${id}`);
      }
      // Upstream's mock lists every endpoint twice (by ID and by name) and counts 10 and 14: the
      // same endpoints are 2 populated (each with both families' IPs), 2 source VIPs and 2
      // ClusterIP endpoints, plus 2 remote pods with eTP Cluster.
      assert.equal(hcn.endpoints().length, trafficPolicy === 'Local' ? 6 : 8);
      assert.deepEqual([...v4.failures, ...v6.failures], []);
    });
  dualStack('TestETPLocalIngressIPServiceWithPreferDualStack', true, 'PreferDualStack', 'Local');
  dualStack('TestETPLocalIngressIPServiceWithRequireDualStack', true, 'RequireDualStack', 'Local');
  dualStack('TestETPClusterIngressIPServiceWithPreferDualStack', false, 'PreferDualStack', 'Cluster');
  dualStack('TestETPClusterIngressIPServiceWithRequireDualStack', false, 'RequireDualStack', 'Cluster');

  it('TestRemoteAndLocalEndpointsSameIP', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_L2BRIDGE, enableDSR: false });
    const clusterIPService = (name: string, ip: string) =>
      makeTestService('ns1', name, (svc) => {
        svc.spec.type = 'ClusterIP';
        svc.spec.clusterIP = ip;
        svc.spec.ports = [{ name: 'p80', port: svcPort, protocol: 'TCP' }];
      });
    start(
      fp,
      [clusterIPService('svc1', svcIP), clusterIPService('svc2', '198.19.16.42')],
      [
        slice('svc1', [{ addresses: [epIpAddressLocal1], nodeName: testNodeName }]),
        slice('svc2', [{ addresses: [epIpAddressLocal1], nodeName: 'testhost2' }]),
      ],
    );
    populate(fp, endpointLocal1, epIpAddressLocal1, macAddressLocal1);
    await fp.sync();
    const local = view(fp, SVC1).endpoints.find((e) => e.ip === epIpAddressLocal1)!;
    const remote = view(fp, key('ns1', 'svc2')).endpoints.find((e) => e.ip === epIpAddressLocal1)!;
    // Both resolve to the one local HNS endpoint.
    assert.equal(local.hnsID, endpointLocal1);
    assert.equal(remote.hnsID, endpointLocal1);
    // A local HNS endpoint is never reference-counted, whatever the slice says of the pod.
    assert.equal(remote.refCount, undefined);
    assert.equal(fp.backend.refCount(endpointLocal1) ?? 0, 0);
    assert.equal(fp.hcn.endpoints().length, 1, 'no remote endpoint was created for the local IP');
  });

  it('TestRemoteEndpointDeleteDoesNotAffectLocalEndpointWithSameIP', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_L2BRIDGE, enableDSR: false });
    const localIP = epIpAddressLocal1;
    const remoteIP = epIpAddressRemote;
    const both: SliceEndpoint[] = [
      { addresses: [localIP], nodeName: testNodeName },
      { addresses: [remoteIP] },
    ];
    const [s1, s2] = await startTwoNodePorts(fp, both);
    const remote = view(fp, SVC1).endpoints.find((e) => e.ip === remoteIP)!;
    assert.notEqual(remote.hnsID, '');
    assert.equal(remote.refCount, 2);
    assert.equal(fp.backend.refCount(remote.hnsID), 2);

    // svc3: a local pod at the remote pod's IP.
    fp.proxier.onServiceAdd(
      makeTestService('ns1', 'svc3', (svc) => {
        svc.spec.type = 'ClusterIP';
        svc.spec.clusterIP = '198.19.16.43';
        svc.spec.ports = [{ name: 'p80', port: svcPort, protocol: 'TCP' }];
      }),
    );
    fp.proxier.onEndpointSliceAdd(slice('svc3', [{ addresses: [remoteIP], nodeName: testNodeName }]));
    populate(fp, endpointLocal2, remoteIP, macAddressLocal2);
    await fp.sync();
    assert.equal(view(fp, SVC1).endpoints.find((e) => e.ip === remoteIP)!.refCount, 2);
    const svc3 = view(fp, key('ns1', 'svc3')).endpoints.find((e) => e.ip === remoteIP)!;
    assert.equal(svc3.hnsID, endpointLocal2);
    assert.equal(svc3.refCount, undefined, 'local endpoints are not ref-counted');

    fp.proxier.onEndpointSliceDelete(s1);
    fp.proxier.onEndpointSliceDelete(s2);
    await fp.sync();
    assert.deepEqual(view(fp, SVC1).endpoints, []);
    assert.deepEqual(view(fp, key('ns1', 'svc2')).endpoints, []);
    const after = view(fp, key('ns1', 'svc3')).endpoints.find((e) => e.ip === remoteIP)!;
    assert.notEqual(after.hnsID, '');
    assert.ok(await exists(fp.hcn.getEndpointByID(after.hnsID)), 'the local HNS endpoint at IP-B survives');
  });

  it('TestEndpointTransitionWithLBFailures', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_L2BRIDGE, enableDSR: false });
    const localIP = epIpAddressLocal1;
    const [B, C, D] = [epIpAddressRemote, '198.18.102.4', '198.18.102.5'];
    const all: SliceEndpoint[] = [
      { addresses: [localIP], nodeName: testNodeName },
      { addresses: [B] },
      { addresses: [C] },
      { addresses: [D] },
    ];
    const two: SliceEndpoint[] = all.slice(0, 2);
    const [old1, old2] = await startTwoNodePorts(fp, all);
    const find = (svc: string, ip: string) => view(fp, key('ns1', svc)).endpoints.find((e) => e.ip === ip)!;
    const [idB, idC, idD] = [find('svc1', B).hnsID, find('svc1', C).hnsID, find('svc1', D).hnsID];
    assert.deepEqual([idB, idC, idD], ['EPID-1', 'EPID-2', 'EPID-3']);
    for (const id of [idB, idC, idD]) assert.equal(fp.backend.refCount(id), 2);
    const oldLB1 = view(fp, SVC1).hnsID;
    const oldLB2 = view(fp, key('ns1', 'svc2')).hnsID;
    assert.notEqual(oldLB1, '');
    assert.notEqual(oldLB2, '');

    fp.hcn.failDeleteLoadBalancer = true;
    fp.proxier.onEndpointSliceUpdate(old1, slice('svc1', two));
    fp.proxier.onEndpointSliceUpdate(old2, slice('svc2', two));
    await fp.sync();
    // The old load balancers could not be deleted, so the new ones could not be created.
    assert.equal(view(fp, SVC1).hnsID, '');
    assert.equal(view(fp, key('ns1', 'svc2')).hnsID, '');
    assert.ok(await exists(fp.hcn.getLoadBalancerByID(oldLB1)));
    assert.ok(await exists(fp.hcn.getLoadBalancerByID(oldLB2)));
    assert.equal(fp.backend.staleLoadBalancers().has(oldLB1), true);
    assert.equal(fp.backend.refCount(idB), 2);
    assert.equal(fp.backend.refCount(idC) ?? 0, 0);
    assert.equal(fp.backend.refCount(idD) ?? 0, 0);
    assert.equal(await exists(fp.hcn.getEndpointByID(idC)), false);
    assert.equal(await exists(fp.hcn.getEndpointByID(idD)), false);
    assert.equal(find('svc1', B).hnsID, idB);
    assert.ok(find('svc1', localIP), 'local endpoint A is still there');
    // Such a sync is a failure for the core (it retries after syncPeriod).
    assert.equal(fp.failures.length, 1);
  });

  it('TestClassifyLBError', () => {
    assert.equal(classifyLBError(undefined), 'none');
    assert.equal(classifyLBError(new Error('something went wrong')), 'other');
    // The shim's not-found errors are not HNS error codes.
    assert.equal(classifyLBError(new HnsNotFoundError('network', 'name', 'testnet')), 'other');
    assert.equal(classifyLBError(new HnsNotFoundError('loadBalancer', 'ID', 'lb-123')), 'other');
    assert.equal(classifyLBError(new HnsNotFoundError('endpoint', 'ID', 'ep-123')), 'other');
    assert.equal(classifyLBError(new Error('wrapped', { cause: new Error('inner error') })), 'other');
    // Unlike upstream's test, HNS errors with codes can be made here.
    assert.equal(
      classifyLBError(new HcnError('x', HRESULT.HCN_E_PORT_ALREADY_EXISTS)),
      'port_already_exists',
    );
    assert.equal(classifyLBError(new HcnError('x', HRESULT.HCN_E_NETWORK_NOT_FOUND)), 'network_not_found');
    assert.equal(classifyLBError(new HcnError('x', HRESULT.E_NOTIMPL)), 'not_implemented');
    assert.equal(classifyLBError(new HcnError('x', HRESULT.HCN_E_INVALID_IP)), 'invalid_ip');
  });

  it('TestLoadBalancerTypeConstants', () => {
    assert.equal(new Set(LB_TYPES).size, LB_TYPES.length);
    for (const t of LB_TYPES) assert.notEqual(t, '');
    assert.deepEqual([...LB_TYPES], ['clusterip', 'nodeport', 'externalip', 'ingressip', 'healthcheck']);
  });

  it('TestLBErrorTypeConstants', () => {
    assert.equal(new Set(LB_ERROR_TYPES).size, LB_ERROR_TYPES.length);
    assert.deepEqual(
      [...LB_ERROR_TYPES],
      ['network_not_found', 'port_already_exists', 'not_implemented', 'invalid_ip', 'other', 'none'],
    );
  });

  it('TestLBMetricEmission', async () => {
    // Upstream increments its counters by hand; here the failures come from HNS through a sync.
    const metrics = new ProxyMetrics({ mode: 'kernelspace' });
    const fp = await newFakeProxier({
      networkType: NETWORK_TYPE_L2BRIDGE,
      enableDSR: false,
      observer: newSyncObserver({ metrics }),
    });
    fp.hcn.createLoadBalancerError = new HcnError('HcnCreateLoadBalancer', HRESULT.HCN_E_NETWORK_NOT_FOUND);
    await startNodePortRemote(fp);
    const text = await metrics.registry.metrics();
    assert.match(
      text,
      /kubeproxy_sync_proxy_rules_winkernel_lb_create_failures_total\{ip_family="IPv4",lb_type="clusterip",error="network_not_found"\} 1/,
    );
    assert.doesNotMatch(text, /lb_type="healthcheck"/);
    assert.match(text, /# TYPE kubeproxy_sync_proxy_rules_winkernel_lb_update_failures_total counter/);
    assert.match(text, /# TYPE kubeproxy_sync_proxy_rules_winkernel_lb_delete_failures_total counter/);
  });

  it('TestCreateServiceWhereFrontEndSameAsExistingLB', async () => {
    const fp = await newFakeProxier({
      nodeName: 'testhost',
      networkType: NETWORK_TYPE_L2BRIDGE,
      enableDSR: true,
    });
    start(
      fp,
      [
        makeTestService('ns1', 'svc1', (svc) => {
          svc.spec.type = 'LoadBalancer';
          svc.spec.clusterIP = svcIP;
          (svc.spec as Record<string, unknown>).loadBalancerIP = '198.19.200.14';
          svc.spec.ports = [{ name: 'p80', port: svcPort, protocol: 'TCP' }];
        }),
      ],
      [slice('svc1', [{ addresses: [epIpAddressLocal1] }], [{ name: 'p80', port: svcPort }])],
    );
    populate(fp, endpointLocal1, epIpAddressLocal1, macAddressLocal1);
    // A load balancer left with this frontend and other backends: HNS refuses a second one.
    fp.hcn.populateLoadBalancer({
      ID: loadbalancerGuid2,
      HostComputeEndpoints: [endpointLocal2],
      FrontendVIPs: [svcIP],
      PortMappings: [{ Protocol: 6, InternalPort: svcPort, ExternalPort: svcPort }],
    });
    await fp.sync();
    assert.notEqual(view(fp, SVC1).endpoints[0]!.hnsID, '');
    assert.equal(view(fp, SVC1).hnsID, loadbalancerGuid1);
    assert.ok(await exists(fp.hcn.getLoadBalancerByID(loadbalancerGuid1)));
    assert.equal(await exists(fp.hcn.getLoadBalancerByID(loadbalancerGuid2)), false);
  });
});
