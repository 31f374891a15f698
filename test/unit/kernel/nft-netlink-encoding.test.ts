// The netlink writer's batches against nft 1.0.6's own, byte for byte (test/golden/nft-netlink/
// holds the batches nft sent for the same transactions, captured by the kernel test
// nft-netlink-equivalence.test.ts; UPDATE_GOLDEN=1 there rewrites them).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseMessages } from '../../../src/kernel/netlink/message.ts';
import { encodeBatch } from '../../../src/kernel/nft/netlink/batch.ts';
import { compileRule } from '../../../src/kernel/nft/netlink/rule-compiler.ts';
import { compareBatches } from '../../support/nft-batch-compare.ts';
import { goldenTransactions, syncTransactions } from '../../support/nft-netlink-fixtures.ts';

const fixture = (name: string) => new URL(`../../golden/nft-netlink/${name}.hex`, import.meta.url);

describe('nf_tables batch encoding', async () => {
  const txs = await syncTransactions();
  for (const [name, tx] of txs) {
    test(`${name}: the same messages as nft sends`, () => {
      let seq = 0;
      const ours = parseMessages(encodeBatch(tx.family, tx.table, tx.operations, () => ++seq).bytes);
      const theirs = parseMessages(Buffer.from(readFileSync(fixture(name), 'utf8').trim(), 'hex'));
      assert.ok(theirs.length > 2, 'the fixture holds a batch');
      assert.equal(compareBatches(ours, theirs), undefined);
    });
  }

  test('the golden rulesets are among the fixtures, as their golden files hold them', async () => {
    for (const [name, g] of await goldenTransactions()) {
      assert.ok(txs.has(name), name);
      assert.equal(g.dump, readFileSync(new URL(`../../golden/${name}.nft`, import.meta.url), 'utf8'), name);
    }
  });

  test('rules outside the renderer’s subset are refused with a typed error, not guessed', () => {
    const ctx = { family: 'ip' as const, setId: () => undefined, newSetId: () => 1 };
    for (const rule of [
      'tcp sport 80 accept',
      'ip daddr 198.18.0.1 counter',
      'meta mark 1 drop',
      'ip daddr 198.18.0.300 drop',
      'ip6 daddr ::1 drop',
      'jump',
    ]) {
      assert.throws(() => compileRule(rule, ctx), { code: 'KP_ERR_NFT_INVALID' }, rule);
    }
  });

  test('an element list longer than one attribute can hold is split into several messages', () => {
    const tx = txs.get('forms-ipv4')!;
    const many = [...tx.operations.filter((op) => op.object.kind !== 'element')];
    for (let i = 0; i < 5000; i++)
      many.push({ verb: 'add', object: { kind: 'element', set: 's', key: [`198.18.${i >> 8}.${i & 255}`] } });
    let seq = 0;
    const msgs = parseMessages(
      encodeBatch('ip', 'kube-proxy', many, () => ++seq, undefined, { groupElements: true }).bytes,
    );
    const elementMessages = msgs.filter((m) => m.type === ((10 << 8) | 12));
    assert.ok(elementMessages.length >= 2, `${elementMessages.length} element messages`);
    for (const m of msgs) assert.ok(m.payload.length < 65_536);
  });
});
