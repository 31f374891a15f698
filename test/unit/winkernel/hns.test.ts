// upstream pkg/proxy/winkernel/hns_test.go, case by case (same names). Upstream runs most of them
// against the real HNS of a Windows host (and skips them there as flaky); here they run against the
// in-memory model through the same HostNetworkService.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  findExistingLBIdByFrontend,
  HostNetworkService,
  hashEndpoints,
  identifierKey,
  type LoadBalancerIdentifier,
  type QueriedLoadBalancers,
} from '../../../src/backends/winkernel/hns.ts';
import { isHnsNotRunning, isPolicyAlreadyExists } from '../../../src/kernel/hns/errors.ts';
import { ENDPOINT_FLAGS_REMOTE, LB_FLAGS_IPV6, SCHEMA_V2 } from '../../../src/kernel/hns/schema.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import {
  epIpAddress,
  epIpAddressB,
  epIpAddressRemote,
  epIpv6Address,
  epMacAddress,
  epPaAddress,
  exists,
  externalPort,
  getHcnMock,
  internalPort,
  networkId,
  protocol,
  serviceVip,
  sourceVip,
  testNetwork,
} from './fixtures.ts';

const setup = () => {
  const hcn = getHcnMock('L2Bridge');
  return { hcn, hns: new HostNetworkService(hcn, silentLogger) };
};

/** hns.getLoadBalancer of upstream's test frontend (sourceVip, serviceVip, protocol and ports), no flags. */
const getTestLoadBalancer = (
  hns: HostNetworkService,
  endpoints: Parameters<HostNetworkService['getLoadBalancer']>[0],
  lbs: QueriedLoadBalancers,
) => hns.getLoadBalancer(endpoints, {}, sourceVip, serviceVip, protocol, internalPort, externalPort, lbs);

const queried = (...entries: [Partial<LoadBalancerIdentifier>, string][]): QueriedLoadBalancers =>
  new Map(
    entries.map(([partial, hnsID]) => {
      const id: LoadBalancerIdentifier = {
        protocol: 0,
        internalPort: 0,
        externalPort: 0,
        vip: '',
        endpointsHash: '0'.repeat(40),
        isIPv6: false,
        ...partial,
      };
      return [identifierKey(id), { hnsID, id }];
    }),
  );

const proposed = (vip: string[], flags = 0) => ({
  FrontendVIPs: vip,
  PortMappings: [{ Protocol: protocol, InternalPort: internalPort, ExternalPort: externalPort }],
  Flags: flags,
});

describe('winkernel HNS (upstream hns_test.go)', () => {
  it('TestGetNetworkByName', async () => {
    const { hns } = setup();
    const network = await hns.getNetworkByName(testNetwork);
    assert.equal(network.id.toLowerCase(), networkId.toLowerCase());
    assert.equal(network.networkType, 'L2Bridge');
    assert.equal(network.remoteSubnets.length, 1);
    await assert.rejects(hns.getNetworkByName('NoSuchNetwork'), /Network name "NoSuchNetwork" not found/);
  });

  it('TestGetAllEndpointsByNetwork', async () => {
    const { hcn, hns } = setup();
    const network = await hcn.getNetworkByName(testNetwork);
    await hcn.createEndpoint(network, {
      IpConfigurations: [{ IpAddress: epIpAddress }, { IpAddress: epIpv6Address }],
      MacAddress: epMacAddress,
      SchemaVersion: SCHEMA_V2,
    });
    const { endpoints } = await hns.getAllEndpointsByNetwork(testNetwork);
    assert.equal(endpoints.get(epIpAddress)?.ip, epIpAddress, 'IPv4 IP is missing in dual-stack mode');
    assert.equal(endpoints.get(epIpv6Address)?.ip, epIpv6Address, 'IPv6 IP is missing in dual-stack mode');
  });

  it('TestGetAllEndpointsByNetworkWithDupEP', async () => {
    const { hcn, hns } = setup();
    const network = await hcn.getNetworkByName(testNetwork);
    const ipConfigs = [{ IpAddress: epIpAddress }, { IpAddress: epIpv6Address }];
    const remote = await hcn.createEndpoint(network, {
      IpConfigurations: ipConfigs,
      MacAddress: epMacAddress,
      SchemaVersion: SCHEMA_V2,
      Flags: ENDPOINT_FLAGS_REMOTE,
    });
    const local = await hcn.createEndpoint(network, {
      IpConfigurations: ipConfigs,
      MacAddress: epMacAddress,
      SchemaVersion: SCHEMA_V2,
    });
    const { endpoints, remoteDuplicates } = await hns.getAllEndpointsByNetwork(testNetwork);
    await hns.deleteAllRemoteEndpointsWithDupIP(remoteDuplicates);
    assert.equal(endpoints.get(epIpAddress)?.hnsID, local.ID, 'the local endpoint wins');
    assert.equal(endpoints.get(epIpv6Address)?.hnsID, local.ID);
    assert.equal(
      await exists(hcn.getEndpointByID(remote.ID!)),
      false,
      'the duplicate remote endpoint is deleted',
    );
    await hcn.deleteEndpoint(local);
  });

  it('TestGetEndpointByID', async () => {
    const { hcn, hns } = setup();
    const created = await hcn.createEndpoint(await hcn.getNetworkByName(testNetwork), {
      IpConfigurations: [{ IpAddress: epIpAddress }],
      MacAddress: epMacAddress,
      SchemaVersion: SCHEMA_V2,
    });
    const ep = await hns.getEndpointByID(created.ID!);
    assert.equal(ep.hnsID, created.ID);
    assert.equal(ep.isLocal, true);
  });

  it('TestGetEndpointByIpAddressAndName', async () => {
    const { hcn, hns } = setup();
    const created = await hcn.createEndpoint(await hcn.getNetworkByName(testNetwork), {
      IpConfigurations: [{ IpAddress: epIpAddress }],
      MacAddress: epMacAddress,
      SchemaVersion: SCHEMA_V2,
    });
    const byIP = await hns.getEndpointByIpAddress(epIpAddress, testNetwork);
    assert.equal(byIP.hnsID, created.ID);
    assert.equal(byIP.ip, epIpAddress);
    assert.deepEqual(await hns.getEndpointByName(created.Name!), byIP);
    await assert.rejects(hns.getEndpointByIpAddress(epIpAddressB, testNetwork), /not found on network/);
  });

  it('TestCreateEndpointLocal', async () => {
    const { hcn, hns } = setup();
    const ep = await hns.createEndpoint(
      { ip: epIpAddress, macAddress: epMacAddress, isLocal: true, providerAddress: '' },
      testNetwork,
    );
    const stored = await hcn.getEndpointByID(ep.hnsID);
    assert.equal(ep.ip, stored.IpConfigurations?.[0]?.IpAddress);
    assert.equal(ep.macAddress, stored.MacAddress);
    assert.equal(ep.isLocal, true);
    assert.equal(stored.Flags ?? 0, 0);
    assert.equal(stored.Policies, undefined);
  });

  it('TestCreateEndpointRemote', async () => {
    const { hcn, hns } = setup();
    const ep = await hns.createEndpoint(
      { ip: epIpAddressRemote, macAddress: epMacAddress, isLocal: false, providerAddress: epPaAddress },
      testNetwork,
    );
    const stored = await hcn.getEndpointByID(ep.hnsID);
    assert.equal(ep.ip, stored.IpConfigurations?.[0]?.IpAddress);
    assert.equal(ep.macAddress, stored.MacAddress);
    assert.equal(ep.providerAddress, epPaAddress);
    assert.equal(ep.isLocal, false);
    assert.equal(stored.Flags, ENDPOINT_FLAGS_REMOTE);
    assert.deepEqual(stored.Policies, [
      { Type: 'ProviderAddress', Settings: { ProviderAddress: epPaAddress } },
    ]);
  });

  it('TestDeleteEndpoint', async () => {
    const { hcn, hns } = setup();
    const created = await hcn.createEndpoint(await hcn.getNetworkByName(testNetwork), {
      IpConfigurations: [{ IpAddress: epIpAddress }],
      MacAddress: epMacAddress,
    });
    await hns.deleteEndpoint(created.ID!);
    assert.equal(await exists(hcn.getEndpointByID(created.ID!)), false);
  });

  it('TestGetLoadBalancerExisting', async () => {
    const { hcn, hns } = setup();
    const ep = await hns.createEndpoint(
      { ip: epIpAddress, macAddress: epMacAddress, isLocal: true, providerAddress: '' },
      testNetwork,
    );
    const lb = await hcn.createLoadBalancer({
      HostComputeEndpoints: [ep.hnsID],
      SourceVIP: sourceVip,
      FrontendVIPs: [serviceVip],
      PortMappings: [{ Protocol: protocol, InternalPort: internalPort, ExternalPort: externalPort }],
    });
    const lbs = queried([
      { protocol, internalPort, externalPort, vip: serviceVip, endpointsHash: hashEndpoints([ep.hnsID]) },
      lb.ID!,
    ]);
    const before = hcn.calls.length;
    const id = await getTestLoadBalancer(hns, [ep], lbs);
    assert.equal(id, lb.ID);
    assert.equal(hcn.calls.length, before, 'found among the queried load balancers, nothing created');
  });

  it('TestGetLoadBalancerNew', async () => {
    const { hcn, hns } = setup();
    const ep = await hns.createEndpoint(
      { ip: epIpAddress, macAddress: epMacAddress, isLocal: true, providerAddress: '' },
      testNetwork,
    );
    const lbs: QueriedLoadBalancers = new Map();
    const id = await getTestLoadBalancer(hns, [ep], lbs);
    const lb = await hcn.getLoadBalancerByID(id);
    assert.equal(lb.ID, id);
    assert.deepEqual(lb.HostComputeEndpoints, [ep.hnsID]);
    assert.equal(lbs.size, 1, 'the new load balancer is remembered for this sync');
  });

  it('TestDeleteLoadBalancer', async () => {
    const { hcn, hns } = setup();
    const lb = await hcn.createLoadBalancer({
      SourceVIP: sourceVip,
      FrontendVIPs: [serviceVip],
      PortMappings: [{ Protocol: protocol, InternalPort: internalPort, ExternalPort: externalPort }],
    });
    await hns.deleteLoadBalancer(lb.ID!);
    assert.equal(await exists(hcn.getLoadBalancerByID(lb.ID!)), false);
  });

  it('TestHashEndpoints', () => {
    const h1 = hashEndpoints(['EPID-A', 'EPID-B']);
    const h2 = hashEndpoints(['EPID-B', 'EPID-A']);
    assert.equal(h1.length, 40);
    assert.equal(h1, h2, 'the hash does not depend on the order');
    assert.equal(hashEndpoints(['epid-a', 'epid-b']), h1, 'IDs compare case-insensitively');
    assert.notEqual(hashEndpoints(['EPID-A']), h1);
    assert.equal(hashEndpoints([]), '0'.repeat(40));
  });

  it('TestIsHnsNotRunningError', () => {
    const cases: [unknown, boolean][] = [
      [undefined, false],
      [new Error('hcnEnumerateEndpoints failed in Win32: The interface is unknown. (0x6b5)'), true],
      [new Error('hcnEnumerateNetworks failed in Win32: The interface is unknown. (0x6b5)'), true],
      [new Error('some other error'), false],
      [new Error('file already exists: 0xb7'), false],
    ];
    for (const [err, want] of cases) assert.equal(isHnsNotRunning(err), want, String(err));
  });

  it('TestIsPolicyAlreadyExists', () => {
    const cases: [unknown, boolean][] = [
      [undefined, false],
      [new Error('HNS error: 0xb7 - The specified port already exists.'), true],
      [new Error('some other error'), false],
      [new Error('HNS call failed: 0x6b5'), false],
    ];
    for (const [err, want] of cases) assert.equal(isPolicyAlreadyExists(err), want, String(err));
  });

  it('TestFindExistingLBIdByFrontend', () => {
    const base = { vip: serviceVip, protocol, internalPort, externalPort, isIPv6: false };
    assert.equal(findExistingLBIdByFrontend(proposed([serviceVip]), queried([base, 'lb-123'])), 'lb-123');
    assert.equal(
      findExistingLBIdByFrontend(
        proposed([serviceVip]),
        queried([{ ...base, vip: '198.19.16.99' }, 'lb-999']),
      ),
      '',
    );
    assert.equal(
      findExistingLBIdByFrontend(
        proposed([serviceVip]),
        queried([base, 'lb-1'], [{ ...base, endpointsHash: `01${'0'.repeat(38)}` }, 'lb-2']),
      ),
      '',
      'ambiguous',
    );
    assert.equal(findExistingLBIdByFrontend(proposed([serviceVip]), new Map()), '');
    assert.equal(
      findExistingLBIdByFrontend(
        proposed(['fd00:19:200::1'], LB_FLAGS_IPV6),
        queried(
          [{ ...base, vip: 'fd00:19:200::1', isIPv6: true }, 'lb-v6'],
          [{ ...base, vip: 'fd00:19:200::1', isIPv6: false }, 'lb-v4'],
        ),
      ),
      'lb-v6',
    );
    assert.equal(
      findExistingLBIdByFrontend(proposed([]), queried([{ ...base, vip: '' }, 'lb-nodeport'])),
      'lb-nodeport',
    );
  });

  it('TestCreateOrReplaceLoadbalancer_Success', async () => {
    const { hns } = setup();
    const lb = await hns.createOrReplaceLoadBalancer(proposed([serviceVip]), new Map());
    assert.ok(lb.ID);
  });

  it('TestCreateOrReplaceLoadbalancer_FileAlreadyExistsAndRetrySucceeds', async () => {
    const { hcn, hns } = setup();
    const created = await hcn.createLoadBalancer(proposed([serviceVip]));
    const existing = queried([
      { vip: serviceVip, protocol, internalPort, externalPort, isIPv6: false },
      created.ID!,
    ]);
    const lb = await hns.createOrReplaceLoadBalancer(proposed([serviceVip]), existing);
    assert.notEqual(lb.ID, created.ID, 'a new load balancer after deleting the old one');
    assert.equal(await exists(hcn.getLoadBalancerByID(created.ID!)), false);
  });

  it('TestCreateOrReplaceLoadbalancer_FileAlreadyExistsNoMatchingLB', async () => {
    const { hcn, hns } = setup();
    await hcn.createLoadBalancer(proposed([serviceVip]));
    await assert.rejects(hns.createOrReplaceLoadBalancer(proposed([serviceVip]), new Map()), (err) =>
      isPolicyAlreadyExists(err),
    );
  });

  for (const [name, portMappings] of [
    ['nil port mappings', undefined],
    ['empty port mappings', []],
  ] as const) {
    it(`TestGetAllLoadBalancers_SkipsLoadBalancersWithoutPortMappings/${name}`, async () => {
      const { hcn, hns } = setup();
      hcn.populateLoadBalancer({
        ID: 'LBID-malformed',
        FrontendVIPs: [serviceVip],
        ...(portMappings && { PortMappings: portMappings }),
      });
      hcn.populateLoadBalancer({
        ID: 'LBID-valid',
        HostComputeEndpoints: ['EPID-1'],
        FrontendVIPs: [serviceVip],
        PortMappings: [{ Protocol: protocol, InternalPort: internalPort, ExternalPort: externalPort }],
      });
      const lbs = await hns.getAllLoadBalancers();
      assert.deepEqual(
        [...lbs.values()].map((l) => l.hnsID),
        ['LBID-valid'],
      );
    });
  }

  it('TestGetAllLoadBalancers_AllLoadBalancersWithoutPortMappings', async () => {
    const { hcn, hns } = setup();
    hcn.populateLoadBalancer({ ID: 'LBID-malformed' });
    assert.equal((await hns.getAllLoadBalancers()).size, 0);
  });

  it('TestDeleteLoadBalancer_NotFound', async () => {
    const { hns } = setup();
    await hns.deleteLoadBalancer('non-existent-lb-id');
  });

  it('TestDeleteLoadBalancer_HnsNotRunning', async () => {
    const { hcn, hns } = setup();
    hcn.hnsNotRunning = true;
    await assert.rejects(hns.deleteLoadBalancer('any-lb-id'), (err) => isHnsNotRunning(err));
  });

  it('TestDeleteLoadBalancer_Success', async () => {
    const { hcn, hns } = setup();
    const created = await hcn.createLoadBalancer(proposed([serviceVip]));
    await hns.deleteLoadBalancer(created.ID!);
    assert.equal(await exists(hcn.getLoadBalancerByID(created.ID!)), false);
  });
});

describe('HNS model (upstream testing/hcnutils_mock.go semantics)', () => {
  it('refuses a second load balancer with the same frontend unless the family differs on a local-routed one', async () => {
    const { hcn } = setup();
    const nodePort = (flags: number, pmFlags: number) => ({
      FrontendVIPs: [serviceVip],
      PortMappings: [{ Protocol: 6, InternalPort: 80, ExternalPort: 3001, Flags: pmFlags }],
      Flags: flags,
    });
    await hcn.createLoadBalancer(nodePort(0, 2));
    await assert.rejects(hcn.createLoadBalancer(nodePort(0, 2)), (err) => isPolicyAlreadyExists(err));
    // Same VIP and ports, other family, the existing one local-routed: accepted.
    await hcn.createLoadBalancer(nodePort(LB_FLAGS_IPV6, 2));
    // Different protocol: no conflict.
    await hcn.createLoadBalancer({
      FrontendVIPs: [serviceVip],
      PortMappings: [{ Protocol: 17, InternalPort: 80, ExternalPort: 3001 }],
    });
    assert.deepEqual(
      hcn.loadBalancers().map((l) => l.ID),
      ['LBID-1', 'LBID-2', 'LBID-3'],
    );
  });

  it('gives sequential IDs and names, and finds endpoints by either', async () => {
    const { hcn } = setup();
    const network = await hcn.getNetworkByName(testNetwork);
    const a = await hcn.createEndpoint(network, { IpConfigurations: [{ IpAddress: epIpAddress }] });
    const b = await hcn.createRemoteEndpoint(network, { IpConfigurations: [{ IpAddress: epIpAddressB }] });
    assert.deepEqual([a.ID, a.Name, b.ID, b.Name], ['EPID-1', 'EPName-1', 'EPID-2', 'EPName-2']);
    assert.equal(b.Flags, ENDPOINT_FLAGS_REMOTE);
    assert.equal((await hcn.getEndpointByName('EPName-2')).ID, 'EPID-2');
    assert.equal(a.HostComputeNetwork, networkId);
    await assert.rejects(hcn.getEndpointByID('EPID-9'), /Endpoint ID "EPID-9" not found/);
    await assert.rejects(hcn.deleteEndpoint({ ID: 'EPID-9' }), /not found/);
  });

  it('updates a load balancer in place only when HNS supports it', async () => {
    const { hcn } = setup();
    const lb = await hcn.createLoadBalancer(proposed([serviceVip]));
    await assert.rejects(hcn.updateLoadBalancer(proposed([serviceVip]), lb.ID!), /0x80004001/);
    hcn.features = { ...hcn.features, modifyLoadBalancer: true };
    const updated = await hcn.updateLoadBalancer(
      { ...proposed([serviceVip]), HostComputeEndpoints: ['X'] },
      lb.ID!,
    );
    assert.equal(updated.ID, lb.ID);
    assert.deepEqual((await hcn.getLoadBalancerByID(lb.ID!)).HostComputeEndpoints, ['X']);
  });
});
