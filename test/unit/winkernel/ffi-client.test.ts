// The computenetwork.dll client over a fake of the DLL's functions: which calls it makes in which
// order, the documents it sends, that every handle it opens is closed (also on errors), and the
// winkernel proxier running on it end to end. The koffi bindings themselves only load on Windows.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { WinkernelProxier } from '../../../src/backends/winkernel/proxier.ts';
import { prepareWinkernel } from '../../../src/backends/winkernel/setup.ts';
import { hasCode } from '../../../src/errors.ts';
import { HcnError, HnsNotFoundError, HRESULT } from '../../../src/kernel/hns/errors.ts';
import {
  type ComputeNetworkApi,
  FfiHcnClient,
  type HcnObjectType,
  openWindowsHcn,
} from '../../../src/kernel/hns/ffi-client.ts';
import { fakeCoreOptions } from '../../support/fake-proxier.ts';
import { key, makeTestEndpointSlice, makeTestService, plainSetupOptions, testNetwork } from './fixtures.ts';

interface Handle {
  readonly type: HcnObjectType;
  readonly id: string;
  open: boolean;
}

/** computenetwork.dll as a table of JSON documents by GUID. */
class FakeComputeNetwork implements ComputeNetworkApi {
  readonly objects: Record<HcnObjectType, Map<string, Record<string, unknown>>> = {
    Network: new Map(),
    Endpoint: new Map(),
    LoadBalancer: new Map(),
  };
  readonly calls: string[] = [];
  readonly handles: Handle[] = [];
  failQuery = false;
  version = { Major: 15, Minor: 5 };

  addNetwork(name: string, type: string): string {
    const id = randomUUID().toUpperCase();
    this.objects.Network.set(id, { ID: id, Name: name, Type: type });
    return id;
  }

  openHandles(): number {
    return this.handles.filter((h) => h.open).length;
  }

  #handle(type: HcnObjectType, id: string): Handle {
    const h = { type, id, open: true };
    this.handles.push(h);
    return h;
  }

  async enumerate(type: HcnObjectType, query: string): Promise<string> {
    this.calls.push(`enumerate ${type} ${query}`);
    const q = JSON.parse(query) as { Filter?: string };
    const filter = q.Filter === undefined ? {} : (JSON.parse(q.Filter) as Record<string, string>);
    const ids = [...this.objects[type].values()]
      .filter((o) =>
        Object.entries(filter).every(
          ([k, v]) => (k === 'VirtualNetwork' ? o.HostComputeNetwork : o[k]) === v,
        ),
      )
      .map((o) => o.ID);
    return ids.length === 0 ? 'null' : JSON.stringify(ids);
  }
  async open(type: HcnObjectType, id: string): Promise<unknown> {
    this.calls.push(`open ${type}`);
    if (!this.objects[type].has(id)) throw new HcnError(`HcnOpen${type}`, HRESULT.ERROR_NOT_FOUND);
    return this.#handle(type, id);
  }
  async queryProperties(type: HcnObjectType, handle: unknown, query: string): Promise<string> {
    this.calls.push(`query ${type} ${query}`);
    if (this.failQuery)
      throw new HcnError(`HcnQuery${type}Properties`, HRESULT.E_FAIL, '{"Error":"injected"}');
    const h = handle as Handle;
    assert.ok(h.open, 'query on a closed handle');
    return JSON.stringify(this.objects[type].get(h.id));
  }
  async close(type: HcnObjectType, handle: unknown): Promise<void> {
    this.calls.push(`close ${type}`);
    const h = handle as Handle;
    assert.ok(h.open, 'handle closed twice');
    h.open = false;
  }
  async createEndpoint(network: unknown, settings: string): Promise<unknown> {
    this.calls.push(`createEndpoint ${settings}`);
    assert.ok((network as Handle).open);
    const id = randomUUID().toUpperCase();
    this.objects.Endpoint.set(id, { ...JSON.parse(settings), ID: id, Name: id });
    return this.#handle('Endpoint', id);
  }
  async createLoadBalancer(settings: string): Promise<unknown> {
    this.calls.push(`createLoadBalancer ${settings}`);
    const id = randomUUID().toUpperCase();
    this.objects.LoadBalancer.set(id, { ...JSON.parse(settings), ID: id });
    return this.#handle('LoadBalancer', id);
  }
  async modifyLoadBalancer(handle: unknown, settings: string): Promise<void> {
    this.calls.push(`modifyLoadBalancer ${settings}`);
    const h = handle as Handle;
    this.objects.LoadBalancer.set(h.id, { ...JSON.parse(settings), ID: h.id });
  }
  async delete(type: 'Endpoint' | 'LoadBalancer', id: string): Promise<void> {
    this.calls.push(`delete ${type} ${id}`);
    if (!this.objects[type].delete(id)) throw new HcnError(`HcnDelete${type}`, HRESULT.ERROR_NOT_FOUND);
  }
  async hnsCall(method: string, path: string, request: string): Promise<string> {
    this.calls.push(`hnsCall ${method} ${path} ${request}`);
    return JSON.stringify({ Success: true, Output: this.version });
  }
}

describe('computenetwork.dll client', () => {
  it('creates a load balancer: the settings document, read back through its handle, then closed', async () => {
    const dll = new FakeComputeNetwork();
    const client = new FfiHcnClient(dll);
    const lb = await client.createLoadBalancer({
      HostComputeEndpoints: ['E1'],
      FrontendVIPs: ['198.19.16.41'],
      PortMappings: [{ Protocol: 6, InternalPort: 8080, ExternalPort: 80 }],
      SchemaVersion: { Major: 2, Minor: 0 },
    });
    assert.match(lb.ID ?? '', /^[0-9A-F-]{36}$/);
    assert.deepEqual(lb.FrontendVIPs, ['198.19.16.41']);
    assert.deepEqual(dll.calls, [
      'createLoadBalancer {"HostComputeEndpoints":["E1"],"FrontendVIPs":["198.19.16.41"],"PortMappings":[{"Protocol":6,"InternalPort":8080,"ExternalPort":80}],"SchemaVersion":{"Major":2,"Minor":0}}',
      'query LoadBalancer {"SchemaVersion":{"Major":2,"Minor":0}}',
      'close LoadBalancer',
    ]);
    assert.equal(dll.openHandles(), 0);
  });

  it('finds networks by name with a filtered query; a missing one is a typed not-found error', async () => {
    const dll = new FakeComputeNetwork();
    const id = dll.addNetwork('cbr0', 'L2Bridge');
    const client = new FfiHcnClient(dll);
    assert.equal((await client.getNetworkByName('cbr0')).ID, id);
    assert.equal(
      dll.calls[0],
      'enumerate Network {"SchemaVersion":{"Major":2,"Minor":0},"Filter":"{\\"Name\\":\\"cbr0\\"}"}',
    );
    await assert.rejects(
      client.getNetworkByName('nope'),
      (err) => err instanceof HnsNotFoundError && err.kind === 'network',
    );
    assert.equal(dll.openHandles(), 0);
  });

  it('creates a remote endpoint on the network: flag set, network handle opened and closed', async () => {
    const dll = new FakeComputeNetwork();
    const netID = dll.addNetwork('vxlan0', 'Overlay');
    const client = new FfiHcnClient(dll);
    const network = await client.getNetworkByID(netID);
    dll.calls.length = 0;
    const ep = await client.createRemoteEndpoint(network, {
      IpConfigurations: [{ IpAddress: '198.18.102.3' }],
      MacAddress: '02-11-c6-12-66-03',
      Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: '198.19.0.3' } }],
      SchemaVersion: { Major: 2, Minor: 0 },
    });
    assert.equal(ep.Flags, 1);
    assert.equal(ep.HostComputeNetwork, netID);
    assert.deepEqual(
      dll.calls.map((c) => c.split(' ')[0]),
      ['open', 'createEndpoint', 'query', 'close', 'close'],
    );
    assert.match(dll.calls[1]!, /"HostComputeNetwork":"[0-9A-F-]+","Policies":\[\{"Type":"ProviderAddress"/);
    assert.equal(dll.openHandles(), 0);
    assert.deepEqual(
      (await client.listEndpointsOfNetwork(netID)).map((e) => e.ID),
      [ep.ID],
    );
    assert.ok(dll.calls.some((c) => c.startsWith('enumerate Endpoint') && c.includes('VirtualNetwork')));
  });

  it('updates a load balancer through an opened handle and closes it, also when HNS fails', async () => {
    const dll = new FakeComputeNetwork();
    const client = new FfiHcnClient(dll);
    const lb = await client.createLoadBalancer({ PortMappings: [{ Protocol: 6, ExternalPort: 30080 }] });
    const updated = await client.updateLoadBalancer(
      { PortMappings: [{ Protocol: 6, ExternalPort: 30081 }] },
      lb.ID!,
    );
    assert.equal(updated.PortMappings?.[0]?.ExternalPort, 30081);
    dll.failQuery = true;
    await assert.rejects(
      client.getLoadBalancerByID(lb.ID!),
      (err) => hasCode(err, 'KP_ERR_HNS') && /0x80004005/.test((err as Error).message),
    );
    assert.equal(dll.openHandles(), 0);
    await client.deleteLoadBalancer(lb);
    assert.equal(dll.calls.at(-1), `delete LoadBalancer ${lb.ID}`);
  });

  it('asks HNSCall for the version once and derives the features', async () => {
    const dll = new FakeComputeNetwork();
    dll.version = { Major: 13, Minor: 2 };
    const client = new FfiHcnClient(dll);
    const f = await client.supportedFeatures();
    await client.supportedFeatures();
    assert.deepEqual(f, {
      apiV2: true,
      remoteSubnet: true,
      dsr: true,
      sessionAffinity: true,
      ipv6DualStack: true,
      modifyLoadBalancer: false,
    });
    assert.deepEqual(dll.calls, ['hnsCall GET /globals/version ']);
  });

  it('is only opened on Windows', { skip: process.platform === 'win32' }, async () => {
    await assert.rejects(openWindowsHcn(), (err) => hasCode(err, 'KP_ERR_NOT_IMPLEMENTED'));
  });

  it('carries the winkernel proxier end to end (GUID IDs, every handle closed)', async () => {
    const dll = new FakeComputeNetwork();
    dll.addNetwork(testNetwork, 'L2Bridge');
    const client = new FfiHcnClient(dll);
    const prepared = await prepareWinkernel(plainSetupOptions(client));
    const failures: unknown[] = [];
    const proxier = new WinkernelProxier({
      ...fakeCoreOptions('IPv4', null),
      hostname: 'test-node',
      observer: { failed: (_f, err) => failures.push(err) },
      backend: { ...prepared, hcn: client },
    });
    proxier.onServiceAdd(
      makeTestService('ns1', 'svc1', (svc) => {
        svc.spec.type = 'NodePort';
        svc.spec.clusterIP = '198.19.16.41';
        svc.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3001 }];
      }),
    );
    proxier.onServicesSynced();
    proxier.onEndpointSliceAdd(
      makeTestEndpointSlice(
        'ns1',
        'svc1',
        1,
        [{ addresses: ['198.18.102.3'], nodeName: 'node-b' }],
        [{ name: 'p80', port: 8080 }],
      ),
    );
    proxier.onEndpointSlicesSynced();
    await proxier.syncProxyRules();
    assert.deepEqual(failures, []);
    const v = proxier.backend.inspect(key('ns1', 'svc1'))!;
    assert.match(v.hnsID, /^[0-9A-F-]{36}$/);
    assert.match(v.nodePortHnsID, /^[0-9A-F-]{36}$/);
    const lbs = [...dll.objects.LoadBalancer.values()];
    assert.equal(lbs.length, 2);
    assert.deepEqual(
      lbs.map((lb) => (lb.PortMappings as { ExternalPort: number }[])[0]!.ExternalPort).sort(),
      [3001, 80],
    );
    assert.equal(dll.objects.Endpoint.size, 1, 'one remote endpoint');
    assert.equal(dll.openHandles(), 0);
    await proxier.close();
  });
});

describe('computenetwork.dll prototypes', () => {
  it('koffi parses every declaration (no library is loaded)', async () => {
    const { default: koffi } = await import('koffi');
    const { CO_TASK_MEM_FREE, DECLARATIONS } = await import(
      '../../../src/kernel/hns/computenetwork-binding.ts'
    );
    for (const [name, decl] of Object.entries({ ...DECLARATIONS, CoTaskMemFree: CO_TASK_MEM_FREE })) {
      assert.ok(decl.includes(` ${name}(`), `${name} declares ${name}`);
      assert.doesNotThrow(() => koffi.proto(decl), `${name}: ${decl}`);
    }
    assert.equal(Object.keys(DECLARATIONS).length, 18);
  });
});
