import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidManifestError } from '../../../src/errors.ts';
import { type DecodeResult, decodeManifestFile } from '../../../src/sources/manifests/decode.ts';

const svc = (name: string, extra = '') =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n${extra}`;
/** A Service kube-apiserver would take (it needs a port): one line longer than svc(). */
const PORTS = 'spec: {ports: [{port: 80}]}\n';

interface Case {
  name: string;
  file?: string;
  text: string;
  /** key@line for every decoded object, in order. */
  objects?: string[];
  /** Substrings expected in each error message, in order (file:line is checked through `errorLines`). */
  errors?: string[];
  errorLines?: (number | undefined)[];
  /** Keys each error still names (for keeping the last good state). */
  errorKeys?: string[][];
  ignored?: string[];
  check?: (r: DecodeResult) => void;
}

const cases: Case[] = [
  { name: 'empty file', text: '', objects: [] },
  { name: 'only comments and empty documents', text: '# nothing\n---\n---\n...\n', objects: [] },
  { name: 'empty JSON file', file: 'x.json', text: '  \n', objects: [] },
  {
    name: 'multi-document YAML with lines',
    text: `${svc('a', PORTS)}---\n${svc('b', PORTS)}---\napiVersion: v1\nkind: Node\nmetadata: {name: n1}\n`,
    objects: ['Service/default/a@1', 'Service/default/b@7', 'Node/n1@13'],
  },
  {
    name: 'all four kinds',
    text: [
      svc('s', 'spec: {ports: [{port: 80, targetPort: http}]}\n'),
      'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s-1, namespace: ns, labels: {kubernetes.io/service-name: s}}\naddressType: IPv4\nendpoints: [{addresses: [10.0.0.1], conditions: {ready: true}}]\nports: [{port: 80}]\n',
      'apiVersion: v1\nkind: Node\nmetadata: {name: node-1}\n',
      'apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata: {name: kubernetes}\nspec: {cidrs: [10.96.0.0/16]}\n',
    ].join('---\n'),
    objects: ['Service/default/s@1', 'EndpointSlice/ns/s-1@7', 'Node/node-1@14', 'ServiceCIDR/kubernetes@18'],
  },
  {
    name: 'kind: List and typed lists are flattened',
    text: `apiVersion: v1\nkind: List\nitems:\n- ${svc('a', PORTS).replaceAll('\n', '\n  ').trimEnd()}\n- apiVersion: v1\n  kind: Node\n  metadata: {name: node-1}\n---\napiVersion: v1\nkind: ServiceList\nitems: [{apiVersion: v1, kind: Service, metadata: {name: b}, ${PORTS.trim()}}]\n`,
    objects: ['Service/default/a@4', 'Node/node-1@9', 'Service/default/b@15'],
  },
  { name: 'list without items is empty', text: 'apiVersion: v1\nkind: List\n', objects: [] },
  {
    name: 'list items of the wrong type',
    text: 'apiVersion: v1\nkind: List\nitems: {a: 1}\n',
    errors: ['items: expected array, got object'],
    errorLines: [3],
  },
  {
    name: 'single JSON object',
    file: 'x.json',
    text: '{\n  "apiVersion": "v1",\n  "kind": "Node",\n  "metadata": {"name": "node-1"}\n}\n',
    objects: ['Node/node-1@1'],
  },
  {
    name: 'JSON List',
    file: 'x.json',
    text: '{"apiVersion": "v1", "kind": "List", "items": [\n  {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}}\n]}',
    objects: ['Service/default/a@2'],
  },
  {
    name: 'unknown kinds are ignored, not errors',
    text: 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: k}\n',
    objects: [],
    ignored: ['Deployment@1', 'ConfigMap@5', 'Service@9'],
  },
  {
    name: 'YAML 1.1 booleans, as sigs.k8s.io/yaml reads them',
    text: 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: s}}\naddressType: IPv4\nendpoints: [{addresses: [10.0.0.1], conditions: {ready: yes, serving: on, terminating: no}}]\n',
    objects: ['EndpointSlice/default/s@1'],
    check: (r) => {
      const o = r.objects[0];
      assert.ok(o?.kind === 'EndpointSlice');
      assert.deepEqual(o.object.endpoints?.[0]?.conditions, {
        ready: true,
        serving: true,
        terminating: false,
      });
    },
  },
  {
    name: 'YAML 1.1 boolean where a string belongs is a type error',
    text: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: on\n',
    errors: ['Service: metadata.name: expected non-empty string, got boolean'],
    errorLines: [4],
  },
  {
    name: 'timestamps and base-60 lookalikes stay strings',
    text: svc('t', `  creationTimestamp: 2024-01-01T00:00:00Z\n  annotations: {at: 1:20}\n${PORTS}`),
    objects: ['Service/default/t@1'],
    check: (r) => {
      const o = r.objects[0];
      assert.ok(o?.kind === 'Service');
      assert.equal(o.object.metadata?.annotations?.at, '1:20');
      assert.equal((o.object.metadata as Record<string, unknown>).creationTimestamp, '2024-01-01T00:00:00Z');
    },
  },
  {
    name: 'namespace defaults to "default" for namespaced kinds',
    text: `${svc('a', `  namespace: ""\n${PORTS}`)}---\n${svc('b', `  namespace: kube-system\n${PORTS}`)}`,
    objects: ['Service/default/a@1', 'Service/kube-system/b@8'],
    check: (r) => assert.equal(r.objects[0]?.object.metadata?.namespace, 'default'),
  },
  {
    name: 'namespace is dropped for cluster-scoped kinds',
    text: 'apiVersion: v1\nkind: Node\nmetadata: {name: node-1, namespace: x}\n',
    objects: ['Node/node-1@1'],
    check: (r) => assert.equal(r.objects[0]?.object.metadata?.namespace, undefined),
  },
  {
    name: 'null fields mean absent',
    text: svc('a', 'spec:\n  clusterIP: null\n  type: ~\n  ports: [{port: 80, name: null}]\n'),
    objects: ['Service/default/a@1'],
    check: (r) => {
      const o = r.objects[0];
      assert.ok(o?.kind === 'Service');
      assert.deepEqual(o.object.spec, { ports: [{ port: 80 }] });
    },
  },
  {
    name: 'duplicate key in YAML names its line; other documents still apply',
    text: `${svc('a', PORTS)}---\n${svc('b')}  name: c\n`,
    objects: ['Service/default/a@1'],
    errors: ['invalid YAML: Map keys must be unique'],
    errorLines: [11],
    errorKeys: [['Service/default/c']],
  },
  {
    name: 'duplicate key in JSON',
    file: 'x.json',
    text: '{\n  "apiVersion": "v1",\n  "kind": "Node",\n  "kind": "Node",\n  "metadata": {"name": "node-1"}\n}',
    errors: ['invalid JSON: Map keys must be unique'],
    errorLines: [4],
    errorKeys: [['Node/node-1']],
  },
  {
    name: 'YAML syntax error names the line',
    text: `${svc('a', PORTS)}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\nspec:\n  ports: [\n`,
    objects: ['Service/default/a@1'],
    errors: ['invalid YAML'],
    errorLines: [13],
  },
  {
    name: 'JSON syntax error names the line',
    file: 'x.json',
    text: '{\n  "apiVersion": "v1",\n  "kind": "Node",\n}\n',
    errors: ['invalid JSON'],
    errorLines: [4],
  },
  {
    name: 'wrong JSON types name the offending line',
    text: svc('web', 'spec:\n  ports:\n  - port: 80\n  - port: "81"\n'),
    errors: ['Service default/web: spec.ports[1].port: expected integer, got string'],
    errorLines: [8],
    errorKeys: [['Service/default/web']],
  },
  {
    name: 'more wrong types',
    text: [
      svc('a', 'spec: []\n'),
      svc('b', 'spec: {ports: {port: 80}}\n'),
      svc('c', 'spec: {ports: [{targetPort: true}]}\n'),
      svc('d', '  labels: {app: [x]}\n'),
      'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\nendpoints: [{addresses: 10.0.0.1}]\n',
      'apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata: {name: c}\nspec: {cidrs: [10.0.0.0/8, 5]}\n',
      svc('e', 'spec: {ports: [{port: 80.5}]}\n'),
      svc('f', 'spec: {ports: [null]}\n'),
    ].join('---\n'),
    errors: [
      'Service default/a: spec: expected object, got array',
      'Service default/b: spec.ports: expected array, got object',
      'Service default/c: spec.ports[0].targetPort: expected integer or string, got boolean',
      'Service default/d: metadata.labels.app: expected string, got array',
      'EndpointSlice default/s: endpoints[0].addresses: expected array, got string',
      'ServiceCIDR c: spec.cidrs[1]: expected string, got number 5',
      'Service default/e: spec.ports[0].port: expected integer, got number 80.5',
      'Service default/f: spec.ports[0]: expected object, got null',
    ],
    errorLines: [5, 11, 17, 23, 28, 33, 39, 45],
  },
  {
    name: 'missing or bad identity',
    text: 'kind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\n---\napiVersion: v1\nkind: Service\nmetadata: {name: ""}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: 7}\n---\napiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: s}\n---\nmetadata: {name: x}\n---\n- 1\n',
    errors: [
      'Service default/a: apiVersion: expected string, got null',
      'Service: metadata: expected object, got null',
      'metadata.name: expected non-empty string, got empty string',
      'metadata.namespace: expected string, got number',
      'unsupported version "discovery.k8s.io/v1beta1", want "discovery.k8s.io/v1"',
      'kind is missing',
      'document: expected a mapping (an API object), got array',
    ],
    errorLines: [1, 4, 9, 13, 15, 19, 21],
    errorKeys: [['Service/default/a'], [], [], [], ['EndpointSlice/default/s'], [], []],
  },
  {
    name: 'binary junk is an error, not a crash',
    text: '\u0000\u0001\u0002\ufffd\ufffd: : : [\n\t- {',
    errors: ['invalid YAML'],
  },
  {
    name: 'alias bombs are refused',
    text: 'a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n',
    errors: ['cannot decode document'],
    errorLines: [1],
  },
  {
    name: 'deep nesting is refused (YAML)',
    text: `${svc('a', PORTS)}---\nkind: Service\nx: ${'['.repeat(400)}${']'.repeat(400)}\n`,
    objects: ['Service/default/a@1'],
    errors: ['nested deeper than'],
  },
  {
    name: 'deep nesting is refused (JSON)',
    file: 'x.json',
    text: `${'['.repeat(200000)}${']'.repeat(200000)}`,
    errors: ['nested deeper than'],
  },
  {
    name: 'huge and non-finite numbers are type errors only where integers belong',
    text: `${svc('a', 'spec: {ports: [{port: 1e999}]}\n')}---\n${svc('b', '  annotations: {}\nspec: {ports: [{port: 80}]}\nstatus: {x: .nan}\n')}`,
    objects: ['Service/default/b@7'],
    errors: ['spec.ports[0].port: expected integer, got non-finite number'],
  },
  {
    name: 'a byte order mark is skipped',
    file: 'x.json',
    text: '\ufeff{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}}',
    objects: ['Node/node-1@1'],
  },
];

for (const c of cases) {
  test(`decodeManifestFile: ${c.name}`, () => {
    const file = `/m/${c.file ?? 'x.yaml'}`;
    const r = decodeManifestFile(file, c.text);
    assert.deepEqual(
      r.objects.map((o) => `${o.key}@${o.line}`),
      c.objects ?? [],
      'objects',
    );
    for (const o of r.objects) {
      assert.equal(o.file, file);
      assert.equal(o.object.kind, o.kind);
    }
    const errors = c.errors ?? [];
    assert.equal(r.errors.length, errors.length, `errors: ${r.errors.map((e) => e.message).join(' | ')}`);
    errors.forEach((want, i) => {
      const err = r.errors[i];
      assert.ok(err instanceof InvalidManifestError);
      assert.equal(err.code, 'KP_ERR_INVALID_MANIFEST');
      assert.equal(err.file, file);
      assert.ok(err.message.startsWith(`${file}:`), err.message);
      assert.ok(err.message.includes(want), `error ${i}: ${err.message} should include ${want}`);
      if (c.errorLines) assert.equal(err.line, c.errorLines[i], `line of error ${i}: ${err.message}`);
      if (c.errorKeys) assert.deepEqual(err.keys, c.errorKeys[i], `keys of error ${i}`);
    });
    if (c.ignored)
      assert.deepEqual(
        r.ignored.map((d) => `${d.kind}@${d.line}`),
        c.ignored,
      );
    c.check?.(r);
  });
}
