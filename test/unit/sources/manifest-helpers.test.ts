import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffObjects } from '../../../src/sources/manifests/changes.ts';
import { type DecodedObject, decodeManifestFile } from '../../../src/sources/manifests/decode.ts';
import {
  fileObjectsAfterDecode,
  mergeFiles,
  serviceCIDRUnion,
} from '../../../src/sources/manifests/file-state.ts';
import { deepEqual, toJsonValue } from '../../../src/sources/manifests/json-value.ts';
import {
  isManifestFileName,
  probeFile,
  readManifestFile,
} from '../../../src/sources/manifests/manifest-files.ts';

const svc = (name: string, port: number | string) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {ports: [{port: ${port}}]}\n`;
const decode = (file: string, ...docs: string[]) => decodeManifestFile(file, docs.join('---\n'));
const keys = (objects: Iterable<DecodedObject>) => [...objects].map((o) => o.key);

test('isManifestFileName accepts manifests and skips hidden files and editor leftovers', () => {
  for (const name of ['a.yaml', 'b.yml', 'c.json', 'D.YAML', 'svc.v2.yaml'])
    assert.ok(isManifestFileName(name), name);
  for (const name of [
    '.a.yaml',
    '.a.yaml.swp',
    'a.yaml~',
    '#a.yaml#',
    '.#a.yaml',
    'a.txt',
    'a.yaml.tmp',
    'yaml',
  ]) {
    assert.ok(!isManifestFileName(name), name);
  }
});

test('deepEqual compares JSON structurally', () => {
  assert.ok(deepEqual({ a: [1, { b: 'x' }], c: null }, { c: null, a: [1, { b: 'x' }] }));
  assert.ok(deepEqual(Number.NaN, Number.NaN));
  assert.ok(!deepEqual({ a: 1 }, { a: 1, b: undefined }));
  assert.ok(!deepEqual([1, 2], [2, 1]));
  assert.ok(!deepEqual({ a: '1' }, { a: 1 }));
  assert.ok(!deepEqual([], {}));
});

test('toJsonValue keeps __proto__ as data', () => {
  const v = toJsonValue(JSON.parse('{"__proto__": {"polluted": true}}'));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(Object.keys(v as object), ['__proto__']);
});

test('fileObjectsAfterDecode: a file with only errors keeps everything it had', () => {
  const before = decode('/m/a.yaml', svc('a', 80), svc('b', 80)).objects;
  const after = fileObjectsAfterDecode(before, decode('/m/a.yaml', 'a: [\n'));
  assert.deepEqual(keys(after), ['Service/default/a', 'Service/default/b']);
});

test('fileObjectsAfterDecode: a broken object keeps its last good version, the rest applies', () => {
  const before = decode('/m/a.yaml', svc('a', 80), svc('b', 80), svc('c', 80)).objects;
  const after = fileObjectsAfterDecode(before, decode('/m/a.yaml', svc('a', 81), svc('b', '"x"')));
  assert.deepEqual(keys(after), ['Service/default/a', 'Service/default/b']);
  const [a, b] = after;
  assert.equal(a?.kind === 'Service' && a.object.spec?.ports?.[0]?.port, 81);
  assert.equal(b?.kind === 'Service' && b.object.spec?.ports?.[0]?.port, 80);
});

test('mergeFiles: the first file wins a duplicate key', () => {
  const first = decode('/m/a.yaml', svc('web', 1)).objects;
  const second = decode('/m/b.yaml', svc('web', 2), svc('db', 2)).objects;
  const merged = mergeFiles([first, second]);
  assert.deepEqual(keys(merged.objects.values()), ['Service/default/web', 'Service/default/db']);
  assert.equal(merged.objects.get('Service/default/web')?.file, '/m/a.yaml');
  assert.equal(merged.conflicts.length, 1);
  assert.equal(merged.conflicts[0]?.ignored.file, '/m/b.yaml');
});

test('diffObjects: deletes, adds, and updates only for changed content', () => {
  const prev = mergeFiles([decode('/m/a.yaml', svc('a', 1), svc('b', 1), svc('c', 1)).objects]).objects;
  // b moves file and line but keeps its content: no event.
  const next = mergeFiles([decode('/m/z.yaml', svc('d', 1), svc('b', 1), svc('a', 2)).objects]).objects;
  const changes = diffObjects(prev, next).map((c) => `${c.type} ${c.object.key}`);
  assert.deepEqual(changes, [
    'delete Service/default/c',
    'add Service/default/d',
    'update Service/default/a',
  ]);
});

test('serviceCIDRUnion deduplicates and sorts', () => {
  const cidr = (name: string, cidrs: string) =>
    `apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata: {name: ${name}}\nspec: {cidrs: [${cidrs}]}\n`;
  const r = decode(
    '/m/a.yaml',
    cidr('b', '"fd00::/108", 10.96.0.0/16'),
    cidr('a', '10.96.0.0/16'),
    cidr('c', '10.0.0.0/16'),
  );
  assert.deepEqual(serviceCIDRUnion(r.objects), ['10.0.0.0/16', '10.96.0.0/16', 'fd00::/108']);
});

test('a file that vanishes before it is read counts as removed', async () => {
  assert.deepEqual(await readManifestFile('/nonexistent/kpt/a.yaml'), { status: 'absent' });
  assert.deepEqual(await probeFile('/nonexistent/kpt/a.yaml'), { status: 'absent' });
  assert.deepEqual(await readManifestFile('/'), { status: 'absent' }, 'a directory is not a manifest');
});
