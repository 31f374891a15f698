// NftCli's reading side: what it asks nft, and how it reads nft's JSON back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NftCli } from '../../../src/kernel/nft/nftables.ts';
import { FakeExecer } from '../../support/fake-execer.ts';

test('listElements reads keys, values and remaining lifetimes of a dynamic map (nft 1.0.6 JSON)', async () => {
  // As printed by `nft --json list map` for entries the data path added, and one added with a plain key.
  const json = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6', json_schema_version: 1 } },
      {
        map: {
          family: 'ip6',
          name: 'affinity-X',
          table: 'kube-proxy',
          type: 'ipv6_addr',
          map: 'ipv6_addr',
          flags: ['timeout'],
          timeout: 600,
          elem: [
            [{ elem: { val: 'fd00::1', expires: 599 } }, 'fd00:10::2'],
            ['fd00::2', 'fd00:10::3'],
            [{ elem: { val: 'fd00::3', expires: 12 } }, { concat: ['fd00:10::4', 80] }],
          ],
        },
      },
    ],
  });
  const exec = new FakeExecer({ otherwise: { stdout: json } });
  const elements = await new NftCli(exec).listElements('ip6', 'kube-proxy', 'affinity-X');
  assert.deepEqual(exec.argvs, [['nft', '--json', 'list', 'map', 'ip6', 'kube-proxy', 'affinity-X']]);
  assert.deepEqual(elements, [
    { key: ['fd00::1'], value: ['fd00:10::2'], expiresSeconds: 599 },
    { key: ['fd00::2'], value: ['fd00:10::3'] },
    { key: ['fd00::3'], value: ['fd00:10::4', '80'], expiresSeconds: 12 },
  ]);
});

test('list asks for names only (--terse) and keeps those of the table', async () => {
  const json = JSON.stringify({
    nftables: [
      { map: { family: 'ip', name: 'service-ips', table: 'kube-proxy' } },
      { map: { family: 'ip', name: 'other', table: 'someone-else' } },
      { set: { family: 'ip', name: 'cluster-ips', table: 'kube-proxy' } },
    ],
  });
  const exec = new FakeExecer({ otherwise: { stdout: json } });
  assert.deepEqual(await new NftCli(exec).list('ip', 'kube-proxy', 'maps'), ['service-ips']);
  assert.deepEqual(exec.argvs, [['nft', '--json', '--terse', 'list', 'maps', 'ip']]);
});

test('hasTable lists table names only (list table would print every rule)', async () => {
  const json = JSON.stringify({
    nftables: [{ table: { family: 'ip', name: 'filter' } }, { table: { family: 'ip', name: 'kube-proxy' } }],
  });
  const exec = new FakeExecer({ otherwise: { stdout: json } });
  const cli = new NftCli(exec);
  assert.equal(await cli.hasTable('ip', 'kube-proxy'), true);
  assert.equal(await cli.hasTable('ip', 'kube-proxy-other'), false);
  assert.deepEqual(exec.argvs[0], ['nft', '--json', 'list', 'tables', 'ip']);
});

test('tableCounts counts rules per chain and elements per set of `nft --json list table`, only of that table', async () => {
  // Shaped as nft 1.0.6 prints `nft --json list table ip kube-proxy` (expressions abridged).
  const json = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6', json_schema_version: 1 } },
      { table: { family: 'ip', name: 'kube-proxy', handle: 1 } },
      { chain: { family: 'ip', table: 'kube-proxy', name: 'services', handle: 2 } },
      { chain: { family: 'ip', table: 'kube-proxy', name: 'empty', handle: 3 } },
      {
        set: { family: 'ip', table: 'kube-proxy', name: 'cluster-ips', elem: ['198.19.16.1', '198.19.16.2'] },
      },
      { set: { family: 'ip', table: 'kube-proxy', name: 'nodeport-ips' } },
      {
        map: {
          family: 'ip',
          table: 'kube-proxy',
          name: 'service-ips',
          elem: [[{ concat: ['198.19.16.1', 'tcp', 80] }, { goto: { target: 'x' } }]],
        },
      },
      { rule: { family: 'ip', table: 'kube-proxy', chain: 'services', handle: 4, expr: [] } },
      { rule: { family: 'ip', table: 'kube-proxy', chain: 'services', handle: 5, expr: [] } },
      { rule: { family: 'ip', table: 'other', chain: 'services', handle: 6, expr: [] } },
    ],
  });
  const exec = new FakeExecer({ otherwise: { stdout: json } });
  const counts = await new NftCli(exec).tableCounts('ip', 'kube-proxy');
  assert.deepEqual(exec.argvs, [['nft', '--json', 'list', 'table', 'ip', 'kube-proxy']]);
  assert.deepEqual(
    [...counts!.chains],
    [
      ['services', 2],
      ['empty', 0],
    ],
  );
  assert.deepEqual(
    [...counts!.sets],
    [
      ['cluster-ips', 2],
      ['nodeport-ips', 0],
      ['service-ips', 1],
    ],
  );
  assert.equal(counts!.generation, undefined);
});

test('tableCounts of a table that does not exist is undefined; other failures throw', async () => {
  const failing = (stderr: string) => new FakeExecer({ otherwise: { code: 1, stderr } });
  const missing = 'Error: No such file or directory\nlist table ip kube-proxy\n';
  assert.equal(await new NftCli(failing(missing)).tableCounts('ip', 'kube-proxy'), undefined);
  await assert.rejects(
    new NftCli(failing('Error: Operation not permitted')).tableCounts('ip', 'kube-proxy'),
    {
      code: 'KP_ERR_NFT_FAILED',
    },
  );
});
