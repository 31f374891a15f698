// Every class of object kube-apiserver would refuse (for the fields kube-proxy reads) is refused
// whole by the manifest decoder, with exactly one error that names file:line, the object, the
// field path and the reason; the valid variants beside them are taken. The same checks in the
// API source's "served" mode leave out only what kube-apiserver ratchets for stored objects.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import type { Service } from '../../../src/model/k8s.ts';
import {
  formatFieldPath,
  validateEndpointSlice,
  validateObject,
  validateService,
} from '../../../src/model/validation.ts';
import { decodeObject, ENDPOINT_SLICES, SERVICES } from '../../../src/sources/kubernetes/resources.ts';
import { decodeManifestFile } from '../../../src/sources/manifests/decode.ts';
import { node, REFUSALS, service, serviceCIDR, slice } from './refusals.ts';

const clone = <T>(o: T): T => structuredClone(o);

/** The object's YAML with a leading comment, so that the object does not start on line 1. */
function manifest(o: object): string {
  return `# generated\n${stringify(o)}`;
}

function lineOf(text: string, at: string | [string, number]): number {
  const [needle, occurrence] = typeof at === 'string' ? [at, 1] : at;
  const lines = text.split('\n');
  const matches = lines.flatMap((l, i) => (l.includes(needle) ? [i + 1] : []));
  assert.ok(matches.length >= occurrence, `"${needle}" (${occurrence}) not in:\n${text}`);
  return matches[occurrence - 1]!;
}

function keyOf(field: string): string {
  const last = field.split('.').at(-1) ?? field;
  return `${last.replace(/\[.*$/, '')}:`;
}

describe('the manifest source refuses what kube-apiserver would refuse', () => {
  for (const r of REFUSALS) {
    test(r.what, () => {
      const file = '/m/bad.yaml';
      const text = manifest(r.object);
      const result = decodeManifestFile(file, text);
      assert.deepEqual(
        result.objects.map((o) => o.key),
        [],
        'nothing of a refused object is taken',
      );
      assert.equal(result.errors.length, 1, result.errors.map((e) => e.message).join('\n'));
      const err = result.errors[0]!;
      assert.equal(err.code, 'KP_ERR_INVALID_MANIFEST');
      assert.equal(err.file, file);
      assert.equal(err.field?.path, r.field, err.message);
      const kind = (r.object as { kind: string }).kind;
      assert.ok(err.field?.object.startsWith(kind), err.message);
      assert.equal(err.line, lineOf(text, r.at ?? keyOf(r.field)), err.message);
      assert.ok(
        err.message.startsWith(`${file}:${err.line}: ${err.field?.object}: ${r.field}: `),
        err.message,
      );
      assert.ok(err.message.includes(r.reason), `${err.message}\nshould include: ${r.reason}`);
    });
  }

  test('a refusal of an object in a List names the item', () => {
    const text = stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [service(), slice({ addressType: 'IPv5' })],
    });
    const result = decodeManifestFile('/m/list.yaml', text);
    assert.deepEqual(
      result.objects.map((o) => o.key),
      ['Service/default/web'],
    );
    assert.equal(result.errors.length, 1);
    assert.equal(result.errors[0]?.field?.path, 'items[1].addressType');
    assert.equal(result.errors[0]?.line, lineOf(text, 'addressType: IPv5'));
  });

  test('several errors in one object: one refusal, counting the rest', () => {
    const result = decodeManifestFile(
      '/m/bad.yaml',
      manifest(service({ ports: [{ name: 'HTTP', port: 70000, protocol: 'ICMP' }] })),
    );
    assert.equal(result.errors.length, 1);
    assert.match(result.errors[0]!.message, /spec\.ports\[0\]\.name: .* \(and 2 more\)$/);
  });
});

const ACCEPTED: [what: string, object: object][] = [
  ['the base Service', service()],
  [
    'dual-stack, RequireDualStack',
    service({
      ipFamilyPolicy: 'RequireDualStack',
      clusterIPs: ['198.19.16.10', 'fd00:10:96::a'],
      ipFamilies: ['IPv4', 'IPv6'],
    }),
  ],
  ['only clusterIP, no clusterIPs or families', service({ clusterIPs: undefined, ipFamilies: undefined })],
  [
    'no clusterIP at all (the API would allocate one)',
    service({ clusterIP: undefined, clusterIPs: undefined }),
  ],
  ['headless', service({ clusterIP: 'None', clusterIPs: ['None'], ports: undefined })],
  ['ExternalName', { ...service(), spec: { type: 'ExternalName', externalName: 'db.example.org.' } }],
  [
    'defaults left out (type, protocol, affinity)',
    { ...service(), spec: { clusterIP: '198.19.16.10', ports: [{ port: 80 }] } },
  ],
  ['unnamed single port', service({ ports: [{ port: 53, protocol: 'UDP' }] })],
  [
    'same port number, other protocol',
    service({
      ports: [
        { name: 'a', port: 53, protocol: 'UDP' },
        { name: 'b', port: 53 },
      ],
    }),
  ],
  ['long and double-dash port names', service({ ports: [{ name: 'very-long--port-name', port: 80 }] })],
  [
    'NodePort with a low nodePort',
    service({ type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 3060 }] }),
  ],
  [
    'LoadBalancer, eTP Local, health check, source ranges with spaces, ingress',
    service(
      {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 30300,
        loadBalancerSourceRanges: [' 198.19.100.0/25', 'fd00:19::100:0/120 '],
        externalIPs: ['198.19.99.2'],
      },
      {},
      {
        loadBalancer: {
          ingress: [
            { ip: '198.19.200.4' },
            { ip: '198.19.200.8', ipMode: 'Proxy' },
            { hostname: 'lb.example.org' },
          ],
        },
      },
    ),
  ],
  [
    'LoadBalancer, eTP Local, no health check yet (the API would allocate it)',
    service({ type: 'LoadBalancer', externalTrafficPolicy: 'Local' }),
  ],
  [
    'ClusterIP with externalIPs and eTP',
    service({ externalIPs: ['198.19.99.2', 'fd00:19::99:2'], externalTrafficPolicy: 'Local' }),
  ],
  ['ClientIP affinity, default timeout', service({ sessionAffinity: 'ClientIP' })],
  [
    'ClientIP affinity, 86400 s',
    service({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86400 } } }),
  ],
  [
    'None affinity with a config (defaulting drops it)',
    service({ sessionAffinity: 'None', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } } }),
  ],
  [
    'iTP Local, trafficDistribution PreferSameNode',
    service({ internalTrafficPolicy: 'Local', trafficDistribution: 'PreferSameNode' }),
  ],
  ['the base slice', slice()],
  ['IPv6 slice', slice({ addressType: 'IPv6', endpoints: [{ addresses: ['fd00:10::1:10'] }] })],
  [
    "FQDN slice (not kube-proxy's; addresses unchecked)",
    slice({ addressType: 'FQDN', endpoints: [{ addresses: ['db.example.org'] }] }),
  ],
  ['slice port without a number (all ports) or name', slice({ ports: [{}] })],
  ['slice without ports or endpoints', slice({ ports: undefined, endpoints: undefined })],
  [
    'slice with hints',
    slice({
      endpoints: [
        {
          addresses: ['198.18.1.10'],
          hints: { forZones: [{ name: 'zone-a' }], forNodes: [{ name: 'node-a' }] },
        },
      ],
    }),
  ],
  ['the base node', node()],
  ['node without spec', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b' } }],
  [
    'node with the autoscaler taint',
    node({ taints: [{ key: 'ToBeDeletedByClusterAutoscaler', value: '1700000000', effect: 'NoSchedule' }] }),
  ],
  ['dual-stack ServiceCIDR', serviceCIDR(['198.19.16.0/20', 'fd00:10:96::/108'])],
];

describe('valid objects are taken', () => {
  for (const [what, object] of ACCEPTED) {
    test(what, () => {
      const result = decodeManifestFile('/m/ok.yaml', manifest(object));
      assert.deepEqual(
        result.errors.map((e) => e.message),
        [],
      );
      assert.equal(result.objects.length, 1);
    });
  }
});

describe('served mode (the API source): ratcheted checks are left out, the rest apply', () => {
  test('forms kube-apiserver keeps for stored objects pass', () => {
    const legacy = service({
      type: 'LoadBalancer',
      clusterIP: '198.19.016.10',
      clusterIPs: ['198.19.016.10'],
      externalIPs: ['127.0.0.1'],
      loadBalancerSourceRanges: ['198.19.100.1/25'],
    });
    assert.notDeepEqual(validateService(legacy, 'create'), []);
    assert.deepEqual(validateService(legacy, 'served'), []);
    const typeChanged = service({}, {}, { loadBalancer: { ingress: [{ ip: '198.19.200.4' }] } });
    assert.notDeepEqual(validateService(typeChanged, 'create'), []);
    assert.deepEqual(
      validateService(typeChanged, 'served'),
      [],
      'a LoadBalancer turned ClusterIP keeps its ingress a while',
    );
    const legacySlice = slice({ addressType: 'IPv6', endpoints: [{ addresses: ['fd00:10:0::1:10'] }] });
    assert.notDeepEqual(validateEndpointSlice(legacySlice, 'create'), []);
    assert.deepEqual(validateEndpointSlice(legacySlice, 'served'), []);
  });

  test('what no kube-apiserver ever stored is refused, with the same reason as for manifests', () => {
    for (const r of REFUSALS.filter((x) =>
      /^port 70000$|198\.18\.1\.300|healthCheckNodePort on a NodePort/.test(x.what),
    )) {
      const kind = (r.object as { kind: string }).kind as 'Service' | 'EndpointSlice';
      const errors = validateObject(kind, clone(r.object) as Service, 'served');
      assert.equal(formatFieldPath(errors[0]?.path ?? []), r.field, r.what);
      assert.ok(
        errors[0]?.reason && r.reason.length > 0 && errors[0].reason.includes(r.reason.split(': ').at(-1)!),
        r.what,
      );
    }
  });

  test('the API source decodes with these checks and names field and reason', () => {
    const bad = decodeObject(SERVICES, clone(service({ ports: [{ name: 'http', port: 70000 }] })));
    assert.deepEqual(bad, {
      ok: false,
      reason: 'spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive',
    });
    const badSlice = decodeObject(
      ENDPOINT_SLICES,
      clone(slice({ endpoints: [{ addresses: ['198.18.1.300'] }] })),
    );
    assert.equal(badSlice.ok, false);
    assert.equal(
      !badSlice.ok && badSlice.reason,
      'endpoints[0].addresses[0]: Invalid value: "198.18.1.300": must be a valid IP address (e.g. 198.18.0.1 or fd00::1)',
    );
    assert.equal(decodeObject(SERVICES, clone(service())).ok, true);
  });
});

test('error messages cut huge values short', () => {
  const errors = validateEndpointSlice(
    slice({ endpoints: [{ addresses: [`198.18.1.1${'9'.repeat(100_000)}`] }] }),
    'create',
  );
  assert.equal(errors.length, 1);
  assert.ok(errors[0]!.reason.length < 200, errors[0]!.reason);
});
