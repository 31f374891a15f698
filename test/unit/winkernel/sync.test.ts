// The winkernel backend's sync beyond upstream's cases: failures and their retry, the network going
// away, the full sync's sweep of stale load balancers, deletions, and the service annotations.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoadBalancerOwnership } from '../../../src/backends/winkernel/ownership.ts';
import type { EndpointSlice, Service, SliceEndpoint } from '../../../src/model/k8s.ts';
import {
  exists,
  type FakeProxier,
  key,
  makeTestEndpointSlice,
  makeTestService,
  NETWORK_TYPE_L2BRIDGE,
  NETWORK_TYPE_OVERLAY,
  NODE_IP,
  networkId,
  newFakeProxier,
  type ServiceParts,
  start,
  testHnsNetwork,
  testNodeName,
  view,
} from './fixtures.ts';

const SVC1 = key('ns1', 'svc1');
const service = (f: (s: ServiceParts) => void = () => {}) =>
  makeTestService('ns1', 'svc1', (s) => {
    s.spec.type = 'NodePort';
    s.spec.clusterIP = '198.19.16.41';
    s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3001 }];
    f(s);
  });
const slice = (endpoints: SliceEndpoint[]): EndpointSlice =>
  makeTestEndpointSlice('ns1', 'svc1', 1, endpoints, [{ name: 'p80', port: 8080 }]);
const remote = (ip: string): SliceEndpoint => ({ addresses: [ip], nodeName: 'node-b' });

async function l2bridge(
  services: Service[],
  slices: EndpointSlice[],
  o: { ownership?: LoadBalancerOwnership } = {},
) {
  const fp = await newFakeProxier({ networkType: NETWORK_TYPE_L2BRIDGE, enableDSR: false, ...o });
  start(fp, services, slices);
  await fp.sync();
  return fp;
}

const lbIDs = (fp: FakeProxier) => fp.hcn.loadBalancers().map((l) => l.ID);

describe('winkernel sync', () => {
  it('a service without endpoints gets no load balancer, and one as soon as endpoints come', async () => {
    const fp = await l2bridge([service()], []);
    assert.deepEqual(fp.hcn.loadBalancers(), []);
    assert.equal(view(fp, SVC1).policyApplied, false);
    fp.proxier.onEndpointSliceAdd(slice([remote('198.18.102.3')]));
    await fp.sync();
    assert.equal(fp.hcn.loadBalancers().length, 2);
    assert.equal(view(fp, SVC1).policyApplied, true);
    assert.deepEqual(fp.failures, []);
  });

  it('deleting a service deletes its load balancers and the remote endpoints only it used', async () => {
    const svc = service();
    const s = slice([remote('198.18.102.3')]);
    const fp = await l2bridge([svc], [s]);
    assert.equal(fp.hcn.endpoints().length, 1);
    fp.proxier.onServiceDelete(svc);
    fp.proxier.onEndpointSliceDelete(s);
    await fp.sync();
    assert.deepEqual(fp.hcn.loadBalancers(), []);
    assert.deepEqual(fp.hcn.endpoints(), []);
    assert.deepEqual(fp.failures, []);
  });

  it('a failed delete leaves a stale load balancer, retried at every sync until it goes', async () => {
    const svc = service();
    const fp = await l2bridge([svc], [slice([remote('198.18.102.3')])]);
    const ids = lbIDs(fp);
    fp.hcn.failDeleteLoadBalancer = true;
    fp.proxier.onServiceDelete(svc);
    await fp.sync();
    assert.deepEqual([...fp.backend.staleLoadBalancers().keys()].sort(), [...ids].sort());
    fp.hcn.failDeleteLoadBalancer = false;
    fp.proxier.sync();
    await fp.sync();
    assert.equal(fp.backend.staleLoadBalancers().size, 0);
    assert.deepEqual(fp.hcn.loadBalancers(), []);
  });

  it('a load balancer HNS refuses fails the sync; the retry creates it', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_L2BRIDGE, enableDSR: false });
    fp.hcn.createLoadBalancerError = new Error('injected');
    start(fp, [service()], [slice([remote('198.18.102.3')])]);
    await fp.sync();
    assert.equal(fp.failures.length, 1);
    assert.match(
      String(fp.failures[0]),
      /policies of 1 service port\(s\) could not be applied: ns1\/svc1:p80\/TCP/,
    );
    assert.equal(view(fp, SVC1).policyApplied, false);
    fp.hcn.createLoadBalancerError = undefined;
    await fp.sync();
    assert.equal(fp.failures.length, 1);
    assert.equal(fp.hcn.loadBalancers().length, 2);
    // The retry counted the remote endpoint once, not once per attempt.
    const e = view(fp, SVC1).endpoints[0]!;
    assert.equal(e.refCount, 1);
  });

  it('HNS not running fails the sync with the reason', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_L2BRIDGE, enableDSR: false });
    start(fp, [service()], [slice([remote('198.18.102.3')])]);
    const real = fp.hcn.getNetworkByName.bind(fp.hcn);
    fp.hcn.getNetworkByName = async () => {
      throw new Error('hcnEnumerateNetworks failed in Win32: The interface is unknown. (0x6b5)');
    };
    await fp.sync();
    assert.match(String(fp.failures[0]), /HNS is not running/);
    assert.deepEqual(fp.hcn.loadBalancers(), []);
    fp.hcn.getNetworkByName = real;
    await fp.sync();
    assert.equal(fp.hcn.loadBalancers().length, 2);
  });

  it('a re-created network (new ID) removes every policy, then the next sync applies them on it', async () => {
    const fp = await l2bridge([service()], [slice([remote('198.18.102.3')])]);
    assert.equal(fp.hcn.loadBalancers().length, 2);
    fp.hcn.setNetwork({ ...testHnsNetwork(NETWORK_TYPE_L2BRIDGE), ID: 'NEW-NETWORK' });
    fp.proxier.sync();
    await fp.sync();
    assert.match(String(fp.failures[0]), /changed: its policies were removed/);
    assert.deepEqual(fp.hcn.loadBalancers(), []);
    assert.deepEqual(fp.hcn.endpoints(), [], 'the remote endpoint went with the last reference');
    await fp.sync();
    assert.equal(fp.hcn.loadBalancers().length, 2);
    assert.equal(fp.hcn.endpoints()[0]?.HostComputeNetwork, 'NEW-NETWORK');
  });

  it('a full sync recreates what HNS lost and sweeps load balancers nobody references', async () => {
    const ownership = new LoadBalancerOwnership();
    const fp = await l2bridge([service()], [slice([remote('198.18.102.3')])], { ownership });
    const [clusterIP] = [view(fp, SVC1).hnsID];
    // Someone deletes our ClusterIP load balancer; an unknown IPv4 one and an IPv6 one appear.
    await fp.hcn.deleteLoadBalancer({ ID: clusterIP });
    const orphan = {
      PortMappings: [{ Protocol: 6, InternalPort: 1, ExternalPort: 2 }],
      FrontendVIPs: ['198.19.16.99'],
    };
    fp.hcn.populateLoadBalancer({ ID: 'ORPHAN-4', ...orphan });
    fp.hcn.populateLoadBalancer({ ID: 'ORPHAN-6', ...orphan, FrontendVIPs: ['fd00:10:96::99'], Flags: 2 });
    fp.proxier.forceFullSync();
    await fp.sync();
    assert.notEqual(view(fp, SVC1).hnsID, clusterIP, 'a new ClusterIP load balancer');
    assert.ok(await exists(fp.hcn.getLoadBalancerByID(view(fp, SVC1).hnsID)));
    assert.ok(fp.backend.staleLoadBalancers().has('ORPHAN-4'));
    assert.ok(!fp.backend.staleLoadBalancers().has('ORPHAN-6'), "the IPv6 proxier's business");
    fp.proxier.sync();
    await fp.sync();
    assert.equal(await exists(fp.hcn.getLoadBalancerByID('ORPHAN-4')), false);
    assert.ok(await exists(fp.hcn.getLoadBalancerByID('ORPHAN-6')));
    assert.equal(fp.hcn.loadBalancers().length, 3);
    // The full sync left the remote endpoint's count as it was.
    assert.equal(view(fp, SVC1).endpoints[0]!.refCount, 1);
    assert.deepEqual(fp.failures, []);
  });

  it('winProxyOptimization DISABLED: an endpoint change replaces the load balancers', async () => {
    const before = slice([remote('198.18.102.3')]);
    const fp = await l2bridge(
      [service((s) => (s.metadata.annotations = { winProxyOptimization: 'DISABLED' }))],
      [before],
    );
    const old = lbIDs(fp);
    fp.proxier.onEndpointSliceUpdate(before, slice([remote('198.18.102.3'), remote('198.18.102.4')]));
    await fp.sync();
    const now = lbIDs(fp);
    assert.equal(now.length, 2);
    assert.ok(now.every((id) => !old.includes(id)));
  });

  it('preserve-destination: ingress with DSR, MUX and preserved destination; NodePort on local endpoints', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_L2BRIDGE, enableDSR: false });
    fp.hcn.populateEndpoint({ id: 'POD-L', network: networkId, ip: '198.18.104.4' });
    start(
      fp,
      [
        service((s) => {
          s.spec.type = 'LoadBalancer';
          s.metadata.annotations = { 'preserve-destination': 'true' };
          s.status.loadBalancer = { ingress: [{ ip: '198.19.200.41' }] };
        }),
      ],
      [slice([{ addresses: ['198.18.104.4'], nodeName: testNodeName }, remote('198.18.102.3')])],
    );
    await fp.sync();
    const v = view(fp, SVC1);
    assert.equal(v.preserveDIP, true);
    const ingress = await fp.hcn.getLoadBalancerByID(v.ingressIPs[0]!.hnsID);
    assert.equal(ingress.Flags, 1);
    assert.equal(ingress.PortMappings?.[0]?.Flags, 4 | 8 | 16);
    assert.deepEqual(ingress.HostComputeEndpoints, ['POD-L']);
    assert.deepEqual((await fp.hcn.getLoadBalancerByID(v.nodePortHnsID)).HostComputeEndpoints, ['POD-L']);
    assert.equal((await fp.hcn.getLoadBalancerByID(v.hnsID)).HostComputeEndpoints?.length, 2);
  });

  it('overlay: a backend outside every remote subnet makes the node IP the source VIP', async () => {
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_OVERLAY, enableDSR: false });
    start(fp, [service()], [slice([remote('198.19.250.7')])]);
    await fp.sync();
    const lb = await fp.hcn.getLoadBalancerByID(view(fp, SVC1).hnsID);
    assert.equal(lb.SourceVIP, NODE_IP);
    const ep = fp.hcn.endpoints().find((e) => e.IpConfigurations?.[0]?.IpAddress === '198.19.250.7')!;
    assert.deepEqual(ep.Policies, [{ Type: 'ProviderAddress', Settings: { ProviderAddress: NODE_IP } }]);
  });

  it('cleanup() removes the load balancers and remote endpoints the proxier made', async () => {
    const fp = await l2bridge([service()], [slice([remote('198.18.102.3')])]);
    await fp.backend.cleanup();
    assert.deepEqual(fp.hcn.loadBalancers(), []);
    assert.deepEqual(fp.hcn.endpoints(), []);
  });

  it('reports HNS writes as the sync operations', async () => {
    const counts: number[] = [];
    const fp = await newFakeProxier({ networkType: NETWORK_TYPE_L2BRIDGE, enableDSR: false });
    const sync = fp.backend.sync.bind(fp.backend);
    fp.backend.sync = async (req) => {
      const r = await sync(req);
      counts.push(r.operations);
      return r;
    };
    start(fp, [service()], [slice([remote('198.18.102.3')])]);
    await fp.sync();
    fp.proxier.sync();
    await fp.sync();
    // One remote endpoint and two load balancers; nothing the second time.
    assert.deepEqual(counts, [3, 0]);
  });
});

describe('winkernel drift check', () => {
  it('notices a load balancer deleted behind its back; the forced full sync recreates it', async () => {
    const fp = await l2bridge([service()], [slice([remote('198.18.102.3')])]);
    assert.deepEqual(await fp.backend.checkDrift(), []);
    const gone = view(fp, SVC1).nodePortHnsID;
    await fp.hcn.deleteLoadBalancer({ ID: gone });
    assert.deepEqual(await fp.backend.checkDrift(), [`load balancer ${gone} of ${SVC1} is gone`]);
    fp.proxier.driftDetected();
    await fp.sync();
    assert.deepEqual(await fp.backend.checkDrift(), []);
    assert.equal(fp.hcn.loadBalancers().length, 2);
    assert.notEqual(view(fp, SVC1).nodePortHnsID, gone);
  });
});

describe('winkernel service updates', () => {
  it('a port dropped from a service loses its load balancer; the remaining port keeps working', async () => {
    const twoPorts = makeTestService('ns1', 'svc1', (s) => {
      s.spec.clusterIP = '198.19.16.41';
      s.spec.ports = [
        { name: 'p80', port: 80, protocol: 'TCP' },
        { name: 'p443', port: 443, protocol: 'TCP' },
      ];
    });
    const slice2 = makeTestEndpointSlice(
      'ns1',
      'svc1',
      1,
      [remote('198.18.102.3')],
      [
        { name: 'p80', port: 8080 },
        { name: 'p443', port: 8443 },
      ],
    );
    const fp = await l2bridge([twoPorts], [slice2]);
    assert.deepEqual(
      fp.hcn
        .loadBalancers()
        .map((l) => l.PortMappings?.[0]?.ExternalPort)
        .sort(),
      [443, 80],
    );
    assert.equal(fp.backend.refCount('EPID-1'), 2);
    fp.proxier.onServiceUpdate(
      twoPorts,
      makeTestService('ns1', 'svc1', (s) => {
        s.spec.clusterIP = '198.19.16.41';
        s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP' }];
      }),
    );
    await fp.sync();
    assert.deepEqual(
      fp.hcn.loadBalancers().map((l) => l.PortMappings?.[0]?.ExternalPort),
      [80],
    );
    assert.equal(fp.backend.inspect(key('ns1', 'svc1', 'p443')), undefined);
    // The service changed: its remote endpoint was released and, unused, re-created for p80.
    assert.equal(fp.hcn.endpoints().length, 1);
    const e = view(fp, SVC1).endpoints[0]!;
    assert.equal(e.refCount, 1);
    assert.deepEqual(fp.failures, []);
  });
});
