// ElementStorage: only differences reach the transaction, and the most recent owner of a key wins.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ElementStorage, elementSpec } from '../../../../src/backends/nftables/element-storage.ts';
import { Transaction } from '../../../../src/kernel/nft/transaction.ts';

function step(storage: ElementStorage, owner: string, specs: [key: string[], value?: string][]): string {
  const tx = new Transaction('ip', 'kube-proxy');
  storage.set(
    tx,
    owner,
    specs.map(([k, v]) => elementSpec(k, v)),
  );
  return tx.renderLines();
}

test('the most recent owner of a key wins; when it lets go, the previous owner gets the key back', () => {
  const s = new ElementStorage('map', 'service-nodeports');
  const A = 'goto external-A';
  const B = 'goto external-B';
  assert.equal(
    step(s, 'a', [[['tcp', '30080'], A]]),
    'add element ip kube-proxy service-nodeports { tcp . 30080 : goto external-A }\n',
  );
  assert.equal(
    step(s, 'b', [[['tcp', '30080'], B]]),
    'delete element ip kube-proxy service-nodeports { tcp . 30080 }\n' +
      'add element ip kube-proxy service-nodeports { tcp . 30080 : goto external-B }\n',
  );
  // The older owner rewriting the same wish does not take the key back.
  assert.equal(step(s, 'a', [[['tcp', '30080'], A]]), '');
  assert.equal(
    step(s, 'b', []),
    'delete element ip kube-proxy service-nodeports { tcp . 30080 }\n' +
      'add element ip kube-proxy service-nodeports { tcp . 30080 : goto external-A }\n',
  );
  assert.equal(step(s, 'a', []), 'delete element ip kube-proxy service-nodeports { tcp . 30080 }\n');
  assert.equal(s.size, 0);
});

test('an owner that is not the most recent one can let go without touching the kernel', () => {
  const s = new ElementStorage('map', 'service-nodeports');
  step(s, 'a', [[['tcp', '30080'], 'goto external-A']]);
  step(s, 'b', [[['tcp', '30080'], 'goto external-B']]);
  step(s, 'c', [[['tcp', '30080'], 'goto external-C']]);
  assert.equal(step(s, 'b', []), '');
  assert.equal(
    step(s, 'c', []),
    'delete element ip kube-proxy service-nodeports { tcp . 30080 }\n' +
      'add element ip kube-proxy service-nodeports { tcp . 30080 : goto external-A }\n',
  );
});

test('only the differences of an owner reach the kernel', () => {
  const s = new ElementStorage('set', 'hairpin-endpoints');
  step(s, 'a', [[['198.18.0.1', '198.18.0.1']], [['198.18.0.2', '198.18.0.2']]]);
  assert.equal(
    step(s, 'a', [[['198.18.0.2', '198.18.0.2']]]),
    'delete element ip kube-proxy hairpin-endpoints { 198.18.0.1 . 198.18.0.1 }\n',
  );
});
