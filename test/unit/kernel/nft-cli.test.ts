// NftCli's reading side: what it asks nft, and how it reads nft's JSON back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Execer, ExecOptions, ExecResult } from '../../../src/kernel/exec.ts';
import { NftCli } from '../../../src/kernel/nft/nftables.ts';

class ScriptedExecer implements Execer {
  calls: string[][] = [];
  readonly stdout: string;
  constructor(stdout: string) {
    this.stdout = stdout;
  }
  async run(command: string, args: readonly string[], _options?: ExecOptions): Promise<ExecResult> {
    this.calls.push([command, ...args]);
    return { code: 0, stdout: this.stdout, stderr: '' };
  }
}

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
  const exec = new ScriptedExecer(json);
  const elements = await new NftCli(exec).listElements('ip6', 'kube-proxy', 'affinity-X');
  assert.deepEqual(exec.calls, [['nft', '--json', 'list', 'map', 'ip6', 'kube-proxy', 'affinity-X']]);
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
  const exec = new ScriptedExecer(json);
  assert.deepEqual(await new NftCli(exec).list('ip', 'kube-proxy', 'maps'), ['service-ips']);
  assert.deepEqual(exec.calls, [['nft', '--json', '--terse', 'list', 'maps', 'ip']]);
});

test('hasTable lists table names only (list table would print every rule)', async () => {
  const json = JSON.stringify({
    nftables: [{ table: { family: 'ip', name: 'filter' } }, { table: { family: 'ip', name: 'kube-proxy' } }],
  });
  const exec = new ScriptedExecer(json);
  const cli = new NftCli(exec);
  assert.equal(await cli.hasTable('ip', 'kube-proxy'), true);
  assert.equal(await cli.hasTable('ip', 'kube-proxy-other'), false);
  assert.deepEqual(exec.calls[0], ['nft', '--json', 'list', 'tables', 'ip']);
});
