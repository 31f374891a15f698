// Property-based tests (fast-check) of the manifest decoder and object validation: random text and
// randomly mutated API objects never crash the decoder; an object is either taken whole (and then
// it is valid, and the core turns it into ports and endpoints without a complaint, with only
// well-formed values) or refused with exactly one error that names its file and the field. Seeds
// are printed on failure; FC_SEED=<n> replays one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { createLogger } from '../../../src/log/logger.ts';
import type { EndpointSlice, Service } from '../../../src/model/k8s.ts';
import { isDNSLabel, isPortNumber } from '../../../src/model/names.ts';
import { servicePortsFromService } from '../../../src/model/service-port.ts';
import { validateObject } from '../../../src/model/validation.ts';
import { decodeObject, ENDPOINT_SLICES, SERVICES } from '../../../src/sources/kubernetes/resources.ts';
import { decodeManifestFile } from '../../../src/sources/manifests/decode.ts';
import { EndpointSliceCache, endpointSliceKeys } from '../../../src/tracking/endpoint-slice-cache.ts';
import { parseIP } from '../../../src/util/ip.ts';

const RUNS = Number(process.env.FC_RUNS ?? 300);
const seed = process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) };
const params = { numRuns: RUNS, ...seed };

// ---- base objects and mutations ----------------------------------------------------------------

const BASES: Record<string, unknown>[] = [
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'ns1' },
    spec: {
      type: 'LoadBalancer',
      clusterIP: '198.19.16.10',
      clusterIPs: ['198.19.16.10', 'fd00:10:96::a'],
      ipFamilies: ['IPv4', 'IPv6'],
      ipFamilyPolicy: 'PreferDualStack',
      ports: [
        { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 },
        { name: 'dns', protocol: 'UDP', port: 53, targetPort: 'dns', nodePort: 30053 },
      ],
      externalIPs: ['198.19.99.2'],
      loadBalancerSourceRanges: ['198.19.100.0/25', 'fd00:19::100:0/120'],
      externalTrafficPolicy: 'Local',
      healthCheckNodePort: 30300,
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } },
      internalTrafficPolicy: 'Cluster',
    },
    status: { loadBalancer: { ingress: [{ ip: '198.19.200.4', ipMode: 'VIP' }] } },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'db' },
    spec: { clusterIP: '198.19.16.11', ports: [{ port: 5432 }] },
  },
  {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'web-abc12', namespace: 'ns1', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: [
      {
        addresses: ['198.18.1.10'],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: 'node-a',
        zone: 'zone-a',
        hints: { forZones: [{ name: 'zone-a' }], forNodes: [{ name: 'node-a' }] },
      },
      { addresses: ['198.18.2.10'], conditions: { ready: false }, nodeName: 'node-b' },
    ],
    ports: [
      { name: 'http', protocol: 'TCP', port: 8080 },
      { name: 'dns', protocol: 'UDP', port: 8053 },
    ],
  },
  {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'zone-a' } },
    spec: {
      podCIDR: '198.18.1.0/24',
      podCIDRs: ['198.18.1.0/24', 'fd00:10::1:0/112'],
      taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }],
    },
    status: { addresses: [{ type: 'InternalIP', address: '198.19.0.2' }] },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'ServiceCIDR',
    metadata: { name: 'kubernetes' },
    spec: { cidrs: ['198.19.16.0/20', 'fd00:10:96::/108'] },
  },
];

/** Fields a mutation may add where the base has none. */
const EXTRA_PATHS: string[][] = [
  ['spec', 'healthCheckNodePort'],
  ['spec', 'externalIPs'],
  ['spec', 'externalTrafficPolicy'],
  ['spec', 'loadBalancerSourceRanges'],
  ['spec', 'type'],
  ['spec', 'clusterIPs'],
  ['spec', 'ipFamilies'],
  ['spec', 'ports', '0', 'nodePort'],
  ['spec', 'trafficDistribution'],
  ['metadata', 'namespace'],
  ['metadata', 'labels', 'kubernetes.io/service-name'],
  ['addressType'],
  ['endpoints', '0', 'addresses', '1'],
  ['status', 'loadBalancer', 'ingress'],
];

function leafPaths(value: unknown, prefix: string[] = []): string[][] {
  if (typeof value !== 'object' || value === null) return [prefix];
  const out: string[][] = prefix.length > 0 ? [prefix] : [];
  for (const [k, v] of Object.entries(value)) out.push(...leafPaths(v, [...prefix, k]));
  return out;
}

const SPECIAL_STRINGS = [
  '',
  'None',
  'TCP',
  'tcp',
  'ICMP',
  'Local',
  'Cluster',
  'NodePort',
  'LoadBalancer',
  'ExternalName',
  'IPv4',
  'IPv6',
  'SingleStack',
  '198.18.1.300',
  '198.18.1.10 xyz',
  '198.19.16.10',
  'fd00:10:96::a',
  'fd00:10:0::1',
  '::ffff:198.19.16.10',
  '010.18.1.10',
  '127.0.0.1',
  '0.0.0.0',
  '169.254.1.1',
  'fe80::1',
  '224.0.0.1',
  '198.19.100.1/25',
  '198.19.100.0/25',
  'junk/33',
  '"; flush ruleset',
  'web" ; drop',
  "a'b",
  'Web',
  'a--b',
  'x'.repeat(64),
  'web\nsecond line',
  '$\u007Bjndi:ldap}',
  '$(reboot)',
  'kube-system',
];

const leaf = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
  fc.constantFrom(0, 1, 53, 80, 65535, 65536, 70000, -1, 30000, 86400, 86401, 0.5),
  fc.constantFrom(...SPECIAL_STRINGS),
  fc.string({ maxLength: 20 }),
  fc.boolean(),
  fc.constant(null),
);
const value = fc.oneof(
  { weight: 6, arbitrary: leaf },
  { weight: 1, arbitrary: fc.array(leaf, { maxLength: 3 }) },
  {
    weight: 1,
    arbitrary: fc.dictionary(fc.constantFrom('name', 'port', 'ip', 'key', 'x'), leaf, { maxKeys: 2 }),
  },
);

interface Mutation {
  path: string[];
  op: 'set' | 'delete';
  value: unknown;
}

function setIn(root: Record<string, unknown>, path: string[], op: 'set' | 'delete', v: unknown): void {
  let cur: Record<string, unknown> = root;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (typeof next !== 'object' || next === null) {
      if (op === 'delete') return;
      cur[key] = /^\d+$/.test(key) ? [] : {};
    }
    cur = cur[key] as Record<string, unknown>;
  }
  const last = path.at(-1)!;
  if (op === 'delete') delete cur[last];
  else cur[last] = v;
}

const mutated = fc
  .nat({ max: BASES.length - 1 })
  .chain((i) => {
    const base = BASES[i]!;
    const paths = [...leafPaths(base), ...EXTRA_PATHS].filter((p) => p[0] !== 'kind');
    const mutation: fc.Arbitrary<Mutation> = fc.record({
      path: fc.constantFrom(...paths),
      op: fc.constantFrom<'set' | 'delete'>('set', 'set', 'set', 'delete'),
      value,
    });
    return fc.tuple(fc.constant(i), fc.array(mutation, { minLength: 0, maxLength: 3 }));
  })
  .map(([i, mutations]) => {
    const o = structuredClone(BASES[i]!);
    for (const m of mutations) setIn(o, m.path, m.op, m.value);
    return o;
  });

/** YAML as a 1.1 reader (sigs.k8s.io/yaml, and this decoder) reads it back: "n" and "on" quoted. */
const yaml = (o: unknown) => stringify(o, { version: '1.1' });

// ---- what a taken object must look like to the core --------------------------------------------

const logLines: string[] = [];
const capture = createLogger({ verbosity: 0, sink: (l) => logLines.push(l) });

/**
 * The core's view of a taken object: only well-formed values come out; and with `complete`,
 * nothing is dropped or complained about either. (Served mode leaves slice port numbers, which
 * kube-apiserver does not check, to the core, which drops such a port and keeps the slice.)
 */
function assertCoreTakes(kind: string, object: unknown, complete = true): void {
  if (kind === 'Service') {
    for (const family of ['IPv4', 'IPv6'] as const) {
      const { ports, warnings } = servicePortsFromService(object as Service, family);
      if (complete) assert.deepEqual(warnings, [], 'the core dropped a value the validation took');
      for (const sp of ports) {
        assert.equal(parseIP(sp.clusterIP)?.text, sp.clusterIP);
        assert.equal(parseIP(sp.clusterIP)?.family, family);
        assert.ok(isPortNumber(sp.port));
        assert.ok(sp.nodePort === 0 || isPortNumber(sp.nodePort));
        assert.ok(isDNSLabel(sp.name.namespace) && isDNSLabel(sp.name.name));
        assert.ok(sp.name.port === '' || isDNSLabel(sp.name.port));
        for (const ip of [...sp.externalIPs, ...sp.loadBalancerVIPs]) assert.equal(parseIP(ip)?.text, ip);
      }
    }
  } else if (kind === 'EndpointSlice') {
    const slice = object as EndpointSlice;
    const keys = endpointSliceKeys(slice);
    assert.equal(typeof keys, 'object', `slice keys refused: ${String(keys)}`);
    if (typeof keys !== 'object') return;
    for (const family of ['IPv4', 'IPv6'] as const) {
      const cache = new EndpointSliceCache('node-a', family, capture);
      if (!cache.accepts(slice)) continue;
      logLines.length = 0;
      cache.update(keys, slice, false);
      if (complete)
        assert.deepEqual(
          logLines.filter((l) => l.startsWith('E')),
          [],
          'the core complained about a slice the validation took',
        );
      for (const eps of cache.checkout().get(keys.serviceKey)?.current.values() ?? []) {
        for (const ep of eps) {
          assert.equal(parseIP(ep.ip)?.text, ep.ip);
          assert.equal(parseIP(ep.ip)?.family, family);
          assert.ok(isPortNumber(ep.port));
        }
      }
    }
  }
}

// ---- properties --------------------------------------------------------------------------------

test('property: random text never crashes the decoder, every error names its file, every object is valid', () => {
  const text = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc
      .array(
        fc.constantFrom(
          'apiVersion: v1\n',
          'kind: Service\n',
          'metadata: {name: a}\n',
          '---\n',
          '- ',
          '{',
          '[',
          ': ',
          '&a ',
          '*a ',
          '!!binary ',
          '  ',
          '\t',
          '"',
          "'",
          'spec:\n',
          '  ports: [{port: 80}]\n',
        ),
        { maxLength: 30 },
      )
      .map((parts) => parts.join('')),
  );
  fc.assert(
    fc.property(text, fc.constantFrom('x.yaml', 'x.json'), (t, name) => {
      const file = `/m/${name}`;
      const r = decodeManifestFile(file, t);
      for (const e of r.errors) {
        assert.equal(e.file, file);
        assert.ok(e.message.startsWith(file), e.message);
      }
      for (const o of r.objects) assert.deepEqual(validateObject(o.kind, o.object, 'create'), []);
    }),
    params,
  );
});

test('property: a mutated object is taken whole and valid, or refused once with its file and field', () => {
  const seen = { taken: 0, refused: 0 };
  fc.assert(
    fc.property(mutated, fc.constantFrom<'yaml' | 'json'>('yaml', 'json'), (object, format) => {
      const file = `/m/obj.${format}`;
      const text = format === 'yaml' ? yaml(object) : JSON.stringify(object);
      const r = decodeManifestFile(file, text);
      // An apiVersion of another group makes it someone else's object (ignored, as kubectl would not send it here).
      assert.equal(r.objects.length + r.errors.length + r.ignored.length, 1, JSON.stringify({ r, text }));
      if (r.ignored.length > 0) return;
      const [taken] = r.objects;
      if (taken) {
        seen.taken++;
        assert.deepEqual(validateObject(taken.kind, taken.object, 'create'), []);
        assertCoreTakes(taken.kind, taken.object);
        return;
      }
      seen.refused++;
      const err = r.errors[0]!;
      assert.equal(err.file, file);
      assert.ok(err.line !== undefined && err.line >= 1, err.message);
      assert.ok(err.message.startsWith(`${file}:${err.line}: `), err.message);
      // A recognisable object is named with the field; only a missing identity has none.
      const md = (object as { metadata?: { name?: unknown } }).metadata;
      if (typeof md?.name === 'string' && md.name !== '' && typeof object.apiVersion === 'string') {
        assert.ok(err.field, `no field named: ${err.message}`);
        assert.ok(err.field.path.length > 0);
        assert.ok(err.message.includes(`: ${err.field.path}: `), err.message);
      }
    }),
    params,
  );
  // Both outcomes must be exercised, or the property says little.
  assert.ok(seen.taken >= RUNS / 10 && seen.refused >= RUNS / 10, JSON.stringify(seen));
});

test('property: the API source decodes anything without crashing, and what it takes is valid', () => {
  const raw = fc.oneof(mutated, fc.anything({ maxDepth: 4 }));
  fc.assert(
    fc.property(raw, (o) => {
      for (const spec of [SERVICES, ENDPOINT_SLICES]) {
        const r = decodeObject(spec, structuredClone(o));
        if (r.ok) {
          assert.deepEqual(validateObject(spec.kind, r.object, 'served'), []);
          assertCoreTakes(spec.kind, r.object, false);
        } else assert.ok(r.reason.length > 0);
      }
    }),
    params,
  );
});

test('property: the validation of a taken object does not depend on YAML or JSON', () => {
  fc.assert(
    fc.property(mutated, (object) => {
      const y = decodeManifestFile('/m/a.yaml', yaml(object));
      const j = decodeManifestFile('/m/a.json', JSON.stringify(object));
      assert.equal(y.objects.length, j.objects.length);
      assert.deepEqual(
        y.errors.map((e) => e.field?.path),
        j.errors.map((e) => e.field?.path),
      );
    }),
    params,
  );
});
