import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidObjectError } from '../../../src/errors.ts';
import type { Service, ServiceSpec } from '../../../src/model/k8s.ts';
import {
  externallyAccessible,
  type ServicePort,
  servicePortKey,
  servicePortNameString,
  servicePortsFromService,
  shouldSkipService,
  usesClusterEndpoints,
  usesLocalEndpoints,
} from '../../../src/model/service-port.ts';

function svc(spec: ServiceSpec, extra: Partial<Service> = {}): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'ns1' },
    ...extra,
    spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...spec },
  };
}

function only(service: Service, family: 'IPv4' | 'IPv6'): ServicePort {
  const { ports } = servicePortsFromService(service, family);
  assert.equal(ports.length, 1, `expected exactly one port, got ${ports.length}`);
  return ports[0]!;
}

const v4 = { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ipFamilies: ['IPv4'] };

describe('servicePortsFromService: IP family selection', () => {
  const dual: ServiceSpec = {
    clusterIP: 'fd00:10:96::a',
    clusterIPs: ['fd00:10:96::a', '10.96.0.10'],
    ipFamilies: ['IPv6', 'IPv4'],
  };
  const cases: [name: string, spec: ServiceSpec, v4: string | undefined, v6: string | undefined][] = [
    ['single-stack IPv4', v4, '10.96.0.10', undefined],
    [
      'single-stack IPv6',
      { clusterIP: 'fd00::a', clusterIPs: ['fd00::a'], ipFamilies: ['IPv6'] },
      undefined,
      'fd00::a',
    ],
    ['dual-stack, IPv6 primary', dual, '10.96.0.10', 'fd00:10:96::a'],
    [
      'dual-stack, IPv4 primary',
      { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00::a'], ipFamilies: ['IPv4', 'IPv6'] },
      '10.96.0.10',
      'fd00::a',
    ],
    ['legacy clusterIP only, IPv4', { clusterIP: '10.96.0.11' }, '10.96.0.11', undefined],
    ['legacy clusterIP only, IPv6', { clusterIP: 'FD00::00B' }, undefined, 'fd00::b'],
    [
      'ipFamilies without clusterIPs falls back to clusterIP for the primary',
      { clusterIP: '10.96.0.12', ipFamilies: ['IPv4'] },
      '10.96.0.12',
      undefined,
    ],
    [
      'secondary family listed but its clusterIP missing',
      { clusterIP: '10.96.0.13', clusterIPs: ['10.96.0.13'], ipFamilies: ['IPv4', 'IPv6'] },
      '10.96.0.13',
      undefined,
    ],
    [
      'clusterIP in ipFamilies slot of the other family is not used',
      { clusterIP: '10.96.0.14', clusterIPs: ['10.96.0.14'], ipFamilies: ['IPv6'] },
      undefined,
      undefined,
    ],
    ['leading-zero cluster IP is canonicalised', { clusterIP: '010.096.000.001' }, '10.96.0.1', undefined],
  ];
  for (const [name, spec, want4, want6] of cases) {
    test(name, () => {
      const s = svc(spec);
      const p4 = servicePortsFromService(s, 'IPv4').ports;
      const p6 = servicePortsFromService(s, 'IPv6').ports;
      assert.deepEqual(
        p4.map((p) => p.clusterIP),
        want4 === undefined ? [] : [want4],
      );
      assert.deepEqual(
        p6.map((p) => p.clusterIP),
        want6 === undefined ? [] : [want6],
      );
    });
  }
});

describe('servicePortsFromService: skipped services', () => {
  const cases: [name: string, spec: ServiceSpec][] = [
    ['headless (None)', { clusterIP: 'None', clusterIPs: ['None'], ipFamilies: ['IPv4'] }],
    ['empty clusterIP', { clusterIP: '' }],
    ['no clusterIP', {}],
    ['ExternalName', { type: 'ExternalName', externalName: 'example.com' }],
    ['ExternalName even with a clusterIP', { type: 'ExternalName', ...v4 }],
  ];
  for (const [name, spec] of cases) {
    test(name, () => {
      const s = svc(spec);
      assert.equal(shouldSkipService(s), true);
      assert.deepEqual(servicePortsFromService(s, 'IPv4').ports, []);
      assert.deepEqual(servicePortsFromService(s, 'IPv6').ports, []);
    });
  }
  test('a normal ClusterIP service is not skipped', () => assert.equal(shouldSkipService(svc(v4)), false));
});

describe('servicePortsFromService: ports, names and keys', () => {
  test('one ServicePort per port, each with the service-wide fields', () => {
    const { ports } = servicePortsFromService(
      svc({
        ...v4,
        type: 'NodePort',
        ports: [
          { name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 },
          { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 },
          { name: 'sctp', port: 9999, protocol: 'SCTP' },
          { name: 'dflt', port: 8080 },
        ],
      }),
      'IPv4',
    );
    assert.deepEqual(
      ports.map((p) => [p.key, p.port, p.protocol, p.nodePort, p.clusterIP]),
      [
        ['ns1/web:http/TCP', 80, 'TCP', 30080, '10.96.0.10'],
        ['ns1/web:dns/UDP', 53, 'UDP', 30053, '10.96.0.10'],
        ['ns1/web:sctp/SCTP', 9999, 'SCTP', 0, '10.96.0.10'],
        ['ns1/web:dflt/TCP', 8080, 'TCP', 0, '10.96.0.10'],
      ],
    );
  });

  test('an unnamed single port', () => {
    const p = only(svc({ ...v4, ports: [{ port: 443 }] }), 'IPv4');
    assert.deepEqual(p.name, { namespace: 'ns1', name: 'web', port: '', protocol: 'TCP' });
    assert.equal(p.key, 'ns1/web/TCP');
    assert.equal(servicePortNameString(p.name), 'ns1/web');
    assert.equal(servicePortKey(p.name), 'ns1/web/TCP');
  });

  test('same port name with two protocols gives two ServicePorts', () => {
    const { ports } = servicePortsFromService(
      svc({
        ...v4,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        ],
      }),
      'IPv4',
    );
    assert.deepEqual(
      ports.map((p) => servicePortNameString(p.name)),
      ['ns1/web:dns', 'ns1/web:dns-tcp'],
    );
  });

  test('missing namespace means "default"', () => {
    const p = only(svc(v4, { metadata: { name: 'web' } }), 'IPv4');
    assert.equal(p.key, 'default/web:http/TCP');
  });

  test('a service with no ports has no ServicePorts', () => {
    assert.deepEqual(servicePortsFromService(svc({ ...v4, ports: [] }), 'IPv4').ports, []);
  });
});

describe('servicePortsFromService: external addresses', () => {
  test('externalIPs are filtered to the family, trimmed, canonicalised and de-duplicated', () => {
    const s = svc({
      ...v4,
      clusterIPs: ['10.96.0.10', 'fd00::a'],
      ipFamilies: ['IPv4', 'IPv6'],
      externalIPs: ['203.0.113.10', ' 203.0.113.11 ', '2001:DB8::10', '203.0.113.010', 'not-an-ip', ''],
    });
    const r4 = servicePortsFromService(s, 'IPv4');
    assert.deepEqual(r4.ports[0]!.externalIPs, ['203.0.113.10', '203.0.113.11']);
    assert.ok(
      r4.warnings.some((w) => w.includes('not-an-ip')),
      r4.warnings.join('; '),
    );
    assert.deepEqual(servicePortsFromService(s, 'IPv6').ports[0]!.externalIPs, ['2001:db8::10']);
  });

  test('LB ingress IPs: ipMode VIP or unset kept, Proxy dropped, hostnames and other family ignored', () => {
    const s = svc(
      { ...v4, type: 'LoadBalancer', clusterIPs: ['10.96.0.10', 'fd00::a'], ipFamilies: ['IPv4', 'IPv6'] },
      {
        status: {
          loadBalancer: {
            ingress: [
              { ip: '198.51.100.1' },
              { ip: '198.51.100.2', ipMode: 'VIP' },
              { ip: '198.51.100.3', ipMode: 'Proxy' },
              { hostname: 'lb.example.com' },
              { ip: '2001:db8::1', ipMode: 'VIP' },
              { ip: '2001:db8::2', ipMode: 'Proxy' },
            ],
          },
        },
      },
    );
    assert.deepEqual(servicePortsFromService(s, 'IPv4').ports[0]!.loadBalancerVIPs, [
      '198.51.100.1',
      '198.51.100.2',
    ]);
    assert.deepEqual(servicePortsFromService(s, 'IPv6').ports[0]!.loadBalancerVIPs, ['2001:db8::1']);
  });

  test('a service whose only LB IP uses ipMode Proxy gets no LB VIP', () => {
    const p = only(
      svc(
        { ...v4, type: 'LoadBalancer' },
        { status: { loadBalancer: { ingress: [{ ip: '198.51.100.3', ipMode: 'Proxy' }] } } },
      ),
      'IPv4',
    );
    assert.deepEqual(p.loadBalancerVIPs, []);
  });

  test('loadBalancerSourceRanges are trimmed, normalised to the network and filtered per family', () => {
    const s = svc({
      ...v4,
      type: 'LoadBalancer',
      clusterIPs: ['10.96.0.10', 'fd00::a'],
      ipFamilies: ['IPv4', 'IPv6'],
      loadBalancerSourceRanges: [
        ' 203.0.113.0/25 ',
        '192.168.1.77/24',
        '2001:db8::1/64',
        'bogus',
        '10.0.0.0/33',
      ],
    });
    const r4 = servicePortsFromService(s, 'IPv4');
    assert.deepEqual(r4.ports[0]!.loadBalancerSourceRanges, ['203.0.113.0/25', '192.168.1.0/24']);
    assert.equal(r4.warnings.length, 2);
    assert.deepEqual(servicePortsFromService(s, 'IPv6').ports[0]!.loadBalancerSourceRanges, [
      '2001:db8::/64',
    ]);
  });
});

describe('servicePortsFromService: session affinity', () => {
  const cases: [name: string, spec: Partial<ServiceSpec>, clientIP: boolean, timeout: number][] = [
    ['None', { sessionAffinity: 'None' }, false, 0],
    ['unset', {}, false, 0],
    ['ClientIP without config defaults to 10800s', { sessionAffinity: 'ClientIP' }, true, 10800],
    [
      'ClientIP with empty clientIP config',
      { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: {} } },
      true,
      10800,
    ],
    [
      'ClientIP with timeout',
      { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } },
      true,
      60,
    ],
    [
      'ClientIP with max timeout',
      { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86400 } } },
      true,
      86400,
    ],
    [
      'timeout ignored without ClientIP',
      { sessionAffinity: 'None', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } },
      false,
      0,
    ],
  ];
  for (const [name, spec, clientIP, timeout] of cases) {
    test(name, () => {
      const p = only(svc({ ...v4, ...spec }), 'IPv4');
      assert.equal(p.sessionAffinityClientIP, clientIP);
      assert.equal(p.stickyMaxAgeSeconds, timeout);
    });
  }
  for (const t of [0, -1, 86401, 1.5]) {
    test(`ClientIP with invalid timeout ${t} is rejected`, () => {
      assert.throws(
        () =>
          servicePortsFromService(
            svc({
              ...v4,
              sessionAffinity: 'ClientIP',
              sessionAffinityConfig: { clientIP: { timeoutSeconds: t } },
            }),
            'IPv4',
          ),
        InvalidObjectError,
      );
    });
  }
});

describe('servicePortsFromService: traffic policies and health check node port', () => {
  const np = [{ name: 'http', port: 80, nodePort: 30080 }];
  const cases: [
    name: string,
    spec: Partial<ServiceSpec>,
    want: {
      hc: number;
      eLocal: boolean;
      iLocal: boolean;
      extAccessible: boolean;
      cluster: boolean;
      local: boolean;
    },
  ][] = [
    [
      'LoadBalancer + eTP Local has a health check node port',
      { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: np },
      { hc: 32000, eLocal: true, iLocal: false, extAccessible: true, cluster: true, local: true },
    ],
    [
      'LoadBalancer + eTP Cluster has none',
      { type: 'LoadBalancer', externalTrafficPolicy: 'Cluster', healthCheckNodePort: 32000, ports: np },
      { hc: 0, eLocal: false, iLocal: false, extAccessible: true, cluster: true, local: false },
    ],
    [
      'NodePort + eTP Local: policy local, no health check',
      { type: 'NodePort', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: np },
      { hc: 0, eLocal: true, iLocal: false, extAccessible: true, cluster: true, local: true },
    ],
    [
      'LoadBalancer + eTP Local without a health check port',
      { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: np },
      { hc: 0, eLocal: true, iLocal: false, extAccessible: true, cluster: true, local: true },
    ],
    [
      'ClusterIP + eTP Local: not externally accessible, policy ignored',
      { type: 'ClusterIP', externalTrafficPolicy: 'Local' },
      { hc: 0, eLocal: false, iLocal: false, extAccessible: false, cluster: true, local: false },
    ],
    [
      'ClusterIP with externalIPs + eTP Local',
      { type: 'ClusterIP', externalTrafficPolicy: 'Local', externalIPs: ['203.0.113.10'] },
      { hc: 0, eLocal: true, iLocal: false, extAccessible: true, cluster: true, local: true },
    ],
    [
      'iTP Local, internal only',
      { internalTrafficPolicy: 'Local' },
      { hc: 0, eLocal: false, iLocal: true, extAccessible: false, cluster: false, local: true },
    ],
    [
      'iTP Local on a NodePort service still uses cluster endpoints',
      { type: 'NodePort', internalTrafficPolicy: 'Local', ports: np },
      { hc: 0, eLocal: false, iLocal: true, extAccessible: true, cluster: true, local: true },
    ],
    [
      'iTP Cluster',
      { internalTrafficPolicy: 'Cluster' },
      { hc: 0, eLocal: false, iLocal: false, extAccessible: false, cluster: true, local: false },
    ],
  ];
  for (const [name, spec, want] of cases) {
    test(name, () => {
      const p = only(svc({ ...v4, ...spec }), 'IPv4');
      assert.equal(p.healthCheckNodePort, want.hc);
      assert.equal(p.externalPolicyLocal, want.eLocal);
      assert.equal(p.internalPolicyLocal, want.iLocal);
      assert.equal(externallyAccessible(p), want.extAccessible);
      assert.equal(usesClusterEndpoints(p), want.cluster);
      assert.equal(usesLocalEndpoints(p), want.local);
    });
  }

  test('externalIPs of the other family only: eTP Local kept at the spec level but no external address here', () => {
    const p = only(svc({ ...v4, externalTrafficPolicy: 'Local', externalIPs: ['2001:db8::10'] }), 'IPv4');
    assert.equal(p.externalPolicyLocal, true);
    assert.equal(externallyAccessible(p), false);
    assert.equal(usesLocalEndpoints(p), false);
  });

  test('an invalid health check node port is rejected only when it is used', () => {
    assert.throws(
      () =>
        servicePortsFromService(
          svc({ ...v4, type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 70000 }),
          'IPv4',
        ),
      InvalidObjectError,
    );
    assert.equal(
      only(svc({ ...v4, type: 'NodePort', healthCheckNodePort: 70000, ports: np }), 'IPv4')
        .healthCheckNodePort,
      0,
    );
  });
});

test('servicePortsFromService: port names are DNS-1123 labels, as kube-apiserver takes them', () => {
  // Not IANA service names (those are for container ports): "--" and 16-63 characters are fine.
  for (const name of ['a--b', 'abcdefghijklmnop', 'a'.repeat(63), '8080']) {
    assert.equal(only(svc({ ...v4, ports: [{ name, port: 80 }] }), 'IPv4').name.port, name);
  }
});

describe('servicePortsFromService: invalid objects', () => {
  const cases: [name: string, service: Service][] = [
    ['invalid namespace', svc(v4, { metadata: { name: 'web', namespace: 'Bad_NS' } })],
    ['invalid name', svc(v4, { metadata: { name: 'Web', namespace: 'ns1' } })],
    ['name with a quote', svc(v4, { metadata: { name: 'web"x', namespace: 'ns1' } })],
    ['missing name', svc(v4, { metadata: { namespace: 'ns1' } })],
    ['invalid port name', svc({ ...v4, ports: [{ name: 'HTTP', port: 80 }] })],
    ['port name ending in "-"', svc({ ...v4, ports: [{ name: 'web-', port: 80 }] })],
    ['port name longer than 63 characters', svc({ ...v4, ports: [{ name: 'a'.repeat(64), port: 80 }] })],
    ['port name with injection', svc({ ...v4, ports: [{ name: 'a" ; drop', port: 80 }] })],
    ['unsupported protocol', svc({ ...v4, ports: [{ name: 'p', port: 80, protocol: 'ICMP' }] })],
    ['lower-case protocol', svc({ ...v4, ports: [{ name: 'p', port: 80, protocol: 'tcp' }] })],
    ['port 0', svc({ ...v4, ports: [{ name: 'p', port: 0 }] })],
    ['port 65536', svc({ ...v4, ports: [{ name: 'p', port: 65536 }] })],
    ['missing port', svc({ ...v4, ports: [{ name: 'p' }] })],
    ['non-integer port', svc({ ...v4, ports: [{ name: 'p', port: 80.5 }] })],
    [
      'nodePort out of range',
      svc({ ...v4, type: 'NodePort', ports: [{ name: 'p', port: 80, nodePort: 65536 }] }),
    ],
    [
      'duplicate port name and protocol',
      svc({
        ...v4,
        ports: [
          { name: 'p', port: 80 },
          { name: 'p', port: 81 },
        ],
      }),
    ],
    ['unparsable clusterIP', svc({ clusterIP: '10.96.0.300' })],
    [
      'clusterIP with garbage',
      svc({
        clusterIP: '10.96.0.1; flush ruleset',
        clusterIPs: ['10.96.0.1; flush ruleset'],
        ipFamilies: ['IPv4'],
      }),
    ],
  ];
  for (const [name, service] of cases) {
    test(`${name} throws InvalidObjectError`, () => {
      assert.throws(
        () => servicePortsFromService(service, 'IPv4'),
        (err: unknown) => err instanceof InvalidObjectError && err.code === 'KP_ERR_INVALID_OBJECT',
      );
    });
  }

  test('invalid externalIPs and source ranges are warnings, not errors', () => {
    const r = servicePortsFromService(
      svc({ ...v4, externalIPs: ['x'], loadBalancerSourceRanges: ['y'] }),
      'IPv4',
    );
    assert.equal(r.ports.length, 1);
    assert.equal(r.warnings.length, 2);
  });
});
