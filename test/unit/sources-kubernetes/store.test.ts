import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Service } from '../../../src/model/k8s.ts';
import {
  applyDelete,
  applyUpsert,
  changed,
  diffRelist,
  objectKey,
  type StoreChange,
} from '../../../src/sources/kubernetes/store.ts';

const svc = (name: string, rv: string, ns = 'default'): Service => ({
  metadata: { name, namespace: ns, resourceVersion: rv },
});

const map = (...objs: Service[]) => new Map(objs.map((o) => [objectKey(o)!, o]));

const text = (changes: StoreChange<Service>[]) =>
  changes.map((c) =>
    c.type === 'update'
      ? `update ${objectKey(c.object)} ${c.old.metadata?.resourceVersion}->${c.object.metadata?.resourceVersion}`
      : `${c.type} ${objectKey(c.object)} ${c.object.metadata?.resourceVersion}`,
  );

test('objectKey: namespace/name for namespaced objects, name for cluster-scoped ones', () => {
  assert.equal(objectKey(svc('web', '1')), 'default/web');
  assert.equal(objectKey({ metadata: { name: 'node-a' } }), 'node-a');
  assert.equal(objectKey({ metadata: { namespace: 'x' } }), undefined);
  assert.equal(objectKey({}), undefined);
});

test('relist diff: vanished objects are deleted with their last state, new ones added, changed ones updated', () => {
  const prev = map(svc('gone', '5'), svc('same', '6'), svc('changed', '7'));
  const next = map(svc('same', '6'), svc('changed', '9'), svc('new', '10'));
  assert.deepEqual(text(diffRelist(prev, next)), [
    'delete default/gone 5',
    'update default/changed 7->9',
    'add default/new 10',
  ]);
});

test('relist diff: an unchanged cache (a resync) delivers nothing', () => {
  const objs = [svc('a', '1'), svc('b', '2', 'kube-system')];
  assert.deepEqual(diffRelist(map(...objs), map(...objs.map((o) => structuredClone(o)))), []);
});

test('relist diff: from empty everything is an add, to empty everything a delete', () => {
  assert.deepEqual(text(diffRelist(new Map(), map(svc('a', '1')))), ['add default/a 1']);
  assert.deepEqual(text(diffRelist(map(svc('a', '1')), new Map())), ['delete default/a 1']);
});

test('same name in two namespaces are different objects', () => {
  const prev = map(svc('web', '1', 'a'));
  const next = map(svc('web', '2', 'b'));
  assert.deepEqual(text(diffRelist(prev, next)), ['delete a/web 1', 'add b/web 2']);
});

test('objects without resourceVersion always count as changed', () => {
  assert.equal(changed({ metadata: { name: 'a' } }, { metadata: { name: 'a' } }), true);
  assert.equal(changed(svc('a', '1'), svc('a', '1')), false);
});

test('watch events: upsert adds, updates, and skips a re-sent version; delete of unknown is nothing', () => {
  const store = new Map<string, Service>();
  assert.equal(applyUpsert(store, 'default/a', svc('a', '1'))?.type, 'add');
  assert.equal(applyUpsert(store, 'default/a', svc('a', '1')), undefined);
  const up = applyUpsert(store, 'default/a', svc('a', '2'));
  assert.equal(up?.type, 'update');
  assert.equal(up?.type === 'update' && up.old.metadata?.resourceVersion, '1');
  assert.equal(applyDelete(store, 'default/b', svc('b', '3')), undefined);
  const del = applyDelete(store, 'default/a', svc('a', '4'));
  assert.equal(del?.type, 'delete');
  assert.equal(del?.object.metadata?.resourceVersion, '4', 'the final state from the event');
  assert.equal(store.size, 0);
  applyUpsert(store, 'default/c', svc('c', '5'));
  assert.equal(applyDelete(store, 'default/c', undefined)?.object.metadata?.resourceVersion, '5');
});
