import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Transaction } from '../../../src/kernel/nft/transaction.ts';

describe('Transaction', () => {
  test('collects operations in order and renders one line each', () => {
    const tx = new Transaction('ip', 'kube-proxy');
    const same = tx
      .add({ kind: 'table', comment: 'rules for kube-proxy' })
      .add({ kind: 'chain', name: 'services' })
      .flush({ kind: 'chain', name: 'services' })
      .add({ kind: 'rule', chain: 'services', rule: 'ip daddr @cluster-ips reject' })
      .delete({ kind: 'set', name: 'old', type: 'ipv4_addr' });
    assert.equal(same, tx);
    assert.equal(tx.error, undefined);
    assert.equal(tx.numOperations, 5);
    assert.deepEqual(
      tx.operations.map((o) => `${o.verb} ${o.object.kind}`),
      ['add table', 'add chain', 'flush chain', 'add rule', 'delete set'],
    );
    assert.equal(
      tx.renderLines(),
      [
        'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
        'add chain ip kube-proxy services',
        'flush chain ip kube-proxy services',
        'add rule ip kube-proxy services ip daddr @cluster-ips reject',
        'delete set ip kube-proxy old',
        '',
      ].join('\n'),
    );
  });

  test('render() batches elements per set and puts rules in one table block, keeping each after its flush', () => {
    const tx = new Transaction('ip', 'kube-proxy');
    tx.add({ kind: 'chain', name: 'svc-a' })
      .flush({ kind: 'chain', name: 'svc-a' })
      .add({ kind: 'rule', chain: 'svc-a', rule: 'meta l4proto tcp dnat to 198.18.1.1:80' })
      .add({ kind: 'element', set: 'service-ips', key: ['198.19.16.1', 'tcp', '80'], value: 'goto svc-a' })
      .delete({ kind: 'element', set: 'cluster-ips', key: ['198.19.16.9'] })
      .add({ kind: 'chain', name: 'svc-b' })
      .add({
        kind: 'rule',
        chain: 'svc-b',
        rule: 'numgen random mod 2 == 0 meta l4proto tcp dnat to 198.18.1.2:80',
      })
      .add({ kind: 'element', set: 'cluster-ips', key: ['198.19.16.1'] })
      .add({
        kind: 'element',
        set: 'service-ips',
        key: ['198.19.16.2', 'tcp', '80'],
        value: 'goto svc-b',
        comment: 'ns/b',
      })
      .add({ kind: 'rule', chain: 'svc-b', rule: 'meta l4proto tcp dnat to 198.18.1.3:80' })
      .add({ kind: 'rule', chain: 'svc-a', rule: 'counter' });
    assert.equal(
      tx.render(),
      [
        'add chain ip kube-proxy svc-a',
        'flush chain ip kube-proxy svc-a',
        'delete element ip kube-proxy cluster-ips { 198.19.16.9 }',
        'add chain ip kube-proxy svc-b',
        'add element ip kube-proxy service-ips { 198.19.16.1 . tcp . 80 : goto svc-a, 198.19.16.2 . tcp . 80 comment "ns/b" : goto svc-b }',
        'add element ip kube-proxy cluster-ips { 198.19.16.1 }',
        'table ip kube-proxy {',
        '\tchain svc-a {',
        '\t\tmeta l4proto tcp dnat to 198.18.1.1:80',
        '\t\tcounter',
        '\t}',
        '\tchain svc-b {',
        '\t\tnumgen random mod 2 == 0 meta l4proto tcp dnat to 198.18.1.2:80',
        '\t\tmeta l4proto tcp dnat to 198.18.1.3:80',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
  });

  test('family and table are used on every line', () => {
    const tx = new Transaction('ip6', 'kube-proxy');
    tx.add({ kind: 'element', set: 'cluster-ips', key: ['fd00::1'] });
    assert.equal(tx.family, 'ip6');
    assert.equal(tx.table, 'kube-proxy');
    assert.equal(tx.render(), 'add element ip6 kube-proxy cluster-ips { fd00::1 }\n');
  });

  test('an empty transaction renders nothing', () => {
    const tx = new Transaction('ip', 'kube-proxy');
    assert.equal(tx.render(), '');
    assert.equal(tx.numOperations, 0);
    assert.equal(tx.error, undefined);
  });

  test('the first invalid operation is latched; later operations are ignored', () => {
    const tx = new Transaction('ip', 'kube-proxy');
    tx.add({ kind: 'chain', name: 'good' });
    tx.add({ kind: 'chain', name: 'bad;name' });
    const first = tx.error;
    assert.ok(first);
    assert.equal(first.code, 'KP_ERR_NFT_INVALID');
    assert.match(first.message, /bad;name/);
    tx.add({ kind: 'chain', name: 'also-good' });
    tx.add({ kind: 'rule', chain: 'good', rule: 'accept # x' });
    tx.delete({ kind: 'chain', name: 'x y' });
    assert.equal(tx.error, first, 'a later error does not replace the first');
    assert.equal(tx.numOperations, 1);
    assert.equal(tx.render(), 'add chain ip kube-proxy good\n', 'nothing after the error is rendered');
  });

  test('each kind of invalid operation latches', () => {
    const bad = [
      (tx: Transaction) => tx.add({ kind: 'table', comment: 'a"b' }),
      (tx: Transaction) => tx.flush({ kind: 'rule', chain: 'c', rule: 'accept' }),
      (tx: Transaction) => tx.add({ kind: 'set', name: 's', type: 'ipv4_addr', timeoutSeconds: 0 }),
      (tx: Transaction) => tx.add({ kind: 'element', set: 's', key: ['1.2.3.4 }'] }),
      (tx: Transaction) =>
        tx.add({ kind: 'element', set: 's', key: ['1.2.3.4'], value: 'accept; flush ruleset' }),
      (tx: Transaction) =>
        tx.add({ kind: 'chain', name: 'c', base: { type: 'filter', hook: 'input\n', priority: 0 } }),
    ];
    for (const op of bad) {
      const tx = new Transaction('ip', 'kube-proxy');
      op(tx);
      assert.equal(tx.error?.code, 'KP_ERR_NFT_INVALID');
      assert.equal(tx.numOperations, 0);
      assert.equal(tx.render(), '');
    }
  });
});

test('an element added and then deleted in one transaction renders neither; re-adding renders the new value', () => {
  const tx = new Transaction('ip', 'kube-proxy');
  tx.add({ kind: 'element', set: 'service-nodeports', key: ['tcp', '30014'], value: 'goto a' })
    .delete({ kind: 'element', set: 'service-nodeports', key: ['tcp', '30014'] })
    .add({ kind: 'element', set: 'service-nodeports', key: ['tcp', '30014'], value: 'goto b' })
    .delete({ kind: 'element', set: 'cluster-ips', key: ['198.19.16.1'] });
  assert.equal(
    tx.render(),
    'delete element ip kube-proxy cluster-ips { 198.19.16.1 }\nadd element ip kube-proxy service-nodeports { tcp . 30014 : goto b }\n',
  );
});
