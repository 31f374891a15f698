// The HCN JSON documents, against the schema of microsoft/hcsshim's hcn package. The expected
// strings were produced by Go's encoding/json from structs with the hcn package's field names and
// `json` tags (HostComputeLoadBalancer, LoadBalancerPortMapping, HostComputeEndpoint, IpConfig,
// EndpointPolicy, Dns, HostComputeQuery), so the client sends what hcsshim would send, byte for byte.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadBalancerDocument } from '../../../src/backends/winkernel/hns.ts';
import {
  encodeEndpoint,
  encodeLoadBalancer,
  encodeQuery,
  featuresFromVersion,
  guidFromBytes,
  guidToBytes,
  parseEndpoint,
  parseGuidList,
  parseHnsCallResponse,
  parseLoadBalancer,
  parseNetwork,
} from '../../../src/kernel/hns/documents.ts';
import {
  DISTRIBUTION_SOURCE_IP,
  LB_FLAGS_DSR,
  LB_FLAGS_IPV6,
  PORT_MAPPING_FLAGS_LOCAL_ROUTED_VIP,
  PORT_MAPPING_FLAGS_PRESERVE_DIP,
  PORT_MAPPING_FLAGS_USE_MUX,
  PORT_MAPPING_FLAGS_VIP_EXTERNAL_IP,
  SCHEMA_V2,
} from '../../../src/kernel/hns/schema.ts';

const ep = (hnsID: string) => ({ ip: '', isLocal: true, macAddress: '', hnsID, providerAddress: '' });

describe('HCN documents (hcsshim hcn schema)', () => {
  it('encodes an IPv6 DSR ingress load balancer with affinity as hcsshim does', () => {
    const doc = loadBalancerDocument(
      [ep('EPID-1'), ep('EP-LOCAL-1')],
      {
        isVipExternalIP: true,
        isDSR: true,
        useMUX: true,
        preserveDIP: true,
        sessionAffinity: true,
        isIPv6: true,
      },
      'fd00:10::1:2',
      'fd00:19:200::1',
      6,
      8080,
      80,
    );
    assert.equal(
      encodeLoadBalancer(doc),
      '{"HostComputeEndpoints":["EPID-1","EP-LOCAL-1"],"SourceVIP":"fd00:10::1:2","FrontendVIPs":["fd00:19:200::1"],"PortMappings":[{"Protocol":6,"InternalPort":8080,"ExternalPort":80,"DistributionType":2,"Flags":28}],"SchemaVersion":{"Major":2,"Minor":0},"Flags":3}',
    );
  });

  it('encodes a NodePort load balancer: no VIP, no source VIP, zero fields left out', () => {
    const doc = loadBalancerDocument(
      [ep('A')],
      { isVipExternalIP: true, localRoutedVIP: true },
      '',
      '',
      17,
      53,
      30053,
    );
    assert.equal(
      encodeLoadBalancer(doc),
      '{"HostComputeEndpoints":["A"],"PortMappings":[{"Protocol":17,"InternalPort":53,"ExternalPort":30053,"Flags":18}],"SchemaVersion":{"Major":2,"Minor":0}}',
    );
  });

  it('encodes remote and local endpoints, with the Dns struct Go always writes', () => {
    assert.equal(
      encodeEndpoint({
        HostComputeNetwork: '123ABC',
        IpConfigurations: [{ IpAddress: '198.18.102.3' }],
        MacAddress: '02-11-c6-12-66-03',
        Flags: 1,
        SchemaVersion: SCHEMA_V2,
        Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: '198.19.0.3' } }],
      }),
      '{"HostComputeNetwork":"123ABC","Policies":[{"Type":"ProviderAddress","Settings":{"ProviderAddress":"198.19.0.3"}}],"IpConfigurations":[{"IpAddress":"198.18.102.3"}],"Dns":{},"MacAddress":"02-11-c6-12-66-03","Flags":1,"SchemaVersion":{"Major":2,"Minor":0}}',
    );
    assert.equal(
      encodeEndpoint({
        HostComputeNetwork: '123ABC',
        IpConfigurations: [{ IpAddress: '198.18.101.2' }],
        MacAddress: '00-11-22-33-44-55',
        Flags: 0,
        SchemaVersion: SCHEMA_V2,
      }),
      '{"HostComputeNetwork":"123ABC","IpConfigurations":[{"IpAddress":"198.18.101.2"}],"Dns":{},"MacAddress":"00-11-22-33-44-55","SchemaVersion":{"Major":2,"Minor":0}}',
    );
  });

  it('encodes queries: the default one and filters by name and by network', () => {
    assert.equal(encodeQuery(), '{"SchemaVersion":{"Major":2,"Minor":0}}');
    assert.equal(
      encodeQuery({ Name: 'TestNetwork' }),
      '{"SchemaVersion":{"Major":2,"Minor":0},"Filter":"{\\"Name\\":\\"TestNetwork\\"}"}',
    );
    assert.equal(
      encodeQuery({ VirtualNetwork: '5A1E0000-0000-4000-8000-00000000C0DE' }),
      '{"SchemaVersion":{"Major":2,"Minor":0},"Filter":"{\\"VirtualNetwork\\":\\"5A1E0000-0000-4000-8000-00000000C0DE\\"}"}',
    );
  });

  it('has the flag values of hcsshim (and of upstream for IPv6 and VipExternalIP)', () => {
    assert.deepEqual(
      [
        LB_FLAGS_DSR,
        LB_FLAGS_IPV6,
        PORT_MAPPING_FLAGS_LOCAL_ROUTED_VIP,
        PORT_MAPPING_FLAGS_USE_MUX,
        PORT_MAPPING_FLAGS_PRESERVE_DIP,
        PORT_MAPPING_FLAGS_VIP_EXTERNAL_IP,
        DISTRIBUTION_SOURCE_IP,
      ],
      [1, 2, 2, 4, 8, 16, 2],
    );
  });

  it('parses what HNS answers, keeping the fields kube-proxy reads', () => {
    const lb = parseLoadBalancer(
      '{"ID":"0b1e2b8a-0000-4000-8000-000000000001","HostComputeEndpoints":["EPID-1"],"SourceVIP":"198.18.101.2","FrontendVIPs":["198.19.16.41"],"PortMappings":[{"Protocol":6,"InternalPort":8080,"ExternalPort":80,"DistributionType":2,"Flags":0}],"SchemaVersion":{"Major":2,"Minor":0},"Flags":1,"Unknown":true}',
    );
    assert.deepEqual(lb, {
      ID: '0b1e2b8a-0000-4000-8000-000000000001',
      HostComputeEndpoints: ['EPID-1'],
      SourceVIP: '198.18.101.2',
      FrontendVIPs: ['198.19.16.41'],
      PortMappings: [{ Protocol: 6, InternalPort: 8080, ExternalPort: 80, DistributionType: 2, Flags: 0 }],
      SchemaVersion: SCHEMA_V2,
      Flags: 1,
    });
    const endpoint = parseEndpoint(
      '{"ID":"E1","Name":"E1","HostComputeNetwork":"N1","IpConfigurations":[{"IpAddress":"198.18.104.4","PrefixLength":24},{"IpAddress":"fd00:10::4:4","PrefixLength":64}],"Dns":{},"MacAddress":"00-11-22-33-44-56","Flags":0}',
    );
    assert.equal(endpoint.IpConfigurations?.length, 2);
    assert.equal(endpoint.IpConfigurations?.[1]?.PrefixLength, 64);
    const network = parseNetwork(
      '{"ID":"N1","Name":"flannel.4096","Type":"Overlay","Policies":[{"Type":"RemoteSubnetRoute","Settings":{"DestinationPrefix":"198.18.102.0/24","IsolationId":4096,"ProviderAddress":"198.19.0.3","DistributedRouterMacAddress":"00-11-22-33-44-55"}}]}',
    );
    assert.equal(network.Type, 'Overlay');
    assert.deepEqual(network.Policies?.[0]?.Settings, {
      DestinationPrefix: '198.18.102.0/24',
      IsolationId: 4096,
      ProviderAddress: '198.19.0.3',
      DistributedRouterMacAddress: '00-11-22-33-44-55',
    });
  });

  it('refuses documents of the wrong shape with a clear error', () => {
    assert.throws(
      () => parseLoadBalancer('{"PortMappings":[{"ExternalPort":70000}]}'),
      /invalid HNS load balancer: ExternalPort/,
    );
    assert.throws(() => parseEndpoint('[]'), /invalid HNS endpoint: not an object/);
    assert.throws(() => parseNetwork('{"Name":"x"}'), /invalid HNS network: no ID/);
    assert.throws(() => parseLoadBalancer('{'), /invalid HNS load balancer/);
    assert.throws(() => parseGuidList('["not-a-guid"]'), /invalid HNS ID list: bad ID/);
  });

  it('reads enumerations: a GUID list, or null when there is nothing', () => {
    assert.deepEqual(parseGuidList('null'), []);
    assert.deepEqual(parseGuidList(''), []);
    assert.deepEqual(parseGuidList('["5A1E0000-0000-4000-8000-00000000C0DE"]'), [
      '5A1E0000-0000-4000-8000-00000000C0DE',
    ]);
  });

  it('lays GUIDs out as Windows does (Data1-3 little-endian)', () => {
    const b = guidToBytes('00112233-4455-6677-8899-aabbccddeeff');
    assert.equal(b.toString('hex'), '33221100554477668899aabbccddeeff');
    assert.equal(guidFromBytes(b), '00112233-4455-6677-8899-AABBCCDDEEFF');
    assert.equal(
      guidFromBytes(guidToBytes('{5A1E0000-0000-4000-8000-00000000C0DE}')),
      '5A1E0000-0000-4000-8000-00000000C0DE',
    );
    assert.throws(() => guidToBytes('EPID-1'), /invalid HNS GUID/);
  });

  it('derives the supported features from the HNS version, as hcsshim', () => {
    const v = (Major: number, Minor: number) =>
      featuresFromVersion(parseHnsCallResponse(JSON.stringify({ Success: true, Output: { Major, Minor } })));
    // Windows Server 2019 (9.x), 2022 (13.x), and HNS 15.5 / 16.0 with load balancer modification.
    assert.deepEqual(v(9, 1), {
      apiV2: false,
      remoteSubnet: false,
      dsr: false,
      sessionAffinity: false,
      ipv6DualStack: false,
      modifyLoadBalancer: false,
    });
    assert.equal(v(9, 3).dsr, true);
    assert.equal(v(10, 1).dsr, false);
    assert.equal(v(10, 2).dsr, true);
    assert.equal(v(11, 10).ipv6DualStack, true);
    assert.equal(v(12, 0).sessionAffinity, true);
    assert.equal(v(15, 4).modifyLoadBalancer, false);
    assert.equal(v(15, 5).modifyLoadBalancer, true);
    assert.equal(v(16, 0).modifyLoadBalancer, true);
    assert.throws(
      () => parseHnsCallResponse('{"Success":false,"Error":"Element not found."}'),
      /HNS failed with error : Element not found\./,
    );
  });
});
