// IptablesCli against the real binaries, for both variants (iptables-nft, iptables-legacy) and both
// families, each inside its own throwaway network namespace: every command runs through
// `ip netns exec`, so the host's own rules are never read or written. Also checks that the fake and
// the tracer read what the real iptables-save prints.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, type TestContext, test } from 'node:test';
import { IptablesProxier } from '../../src/backends/iptables/proxier.ts';
import { type Execer, type ExecOptions, type ExecResult, ProcessExecer } from '../../src/kernel/exec.ts';
import { FakeIptables } from '../../src/kernel/iptables/fake.ts';
import {
  IptablesCli,
  IptablesError,
  type IptablesTable,
  type IptablesVariant,
  iptablesBinaries,
} from '../../src/kernel/iptables/iptables.ts';
import { deleteNamespaceSync, newSandboxId } from '../../src/sandbox/cleanup.ts';
import type { IPFamily } from '../../src/util/ip.ts';
import { inCI, requireKernel } from '../harness/kernel.ts';
import { fakeCoreOptions, joinTestNode, markSyncedAndSync } from '../support/fake-proxier.ts';
import { ep, service, slice } from '../support/fixtures.ts';
import { tracePacket } from '../support/iptables-tracer.ts';

/** Runs every command inside the namespace. */
class NamespaceExecer implements Execer {
  readonly #ns: string;
  readonly #exec = new ProcessExecer();
  constructor(ns: string) {
    this.#ns = ns;
  }
  run(command: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    return this.#exec.run('ip', ['netns', 'exec', this.#ns, command, ...args], options);
  }
}

/** Skips (locally) or fails (CI=true) when a variant's binaries cannot run in a namespace. */
function requireVariant(t: TestContext, family: IPFamily, variant: IptablesVariant): boolean {
  const bins = iptablesBinaries(family, variant);
  for (const bin of [bins.iptables, bins.restore, bins.save]) {
    const r = spawnSync(bin, ['--version'], { stdio: 'ignore', timeout: 5000 });
    if (r.status === 0) continue;
    const reason = `${bin} is not installed (Debian package "iptables" ships both variants)`;
    if (inCI()) throw new Error(`CI=true and this kernel test cannot run: ${reason}`);
    t.skip(reason);
    return false;
  }
  return true;
}

function withNamespace(t: TestContext): string {
  // newSandboxId's "kpt-<pid>-<hex>" lets a later run sweep the namespace if this process dies.
  const ns = `${newSandboxId('kpt')}-ipt`;
  const r = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
  assert.equal(r.status, 0, `ip netns add ${ns}: ${r.stderr}`);
  t.after(() => deleteNamespaceSync(ns));
  return ns;
}

interface Addrs {
  clusterIP: string;
  podCIDR: string;
  ep1: string;
  ep2: string;
  epOut1: string;
  epOut2: string;
  other: string;
  noEndpoints: string;
  nodeIP: string;
}

const ADDRS: Record<IPFamily, Addrs> = {
  IPv4: {
    clusterIP: '198.19.16.41',
    podCIDR: '198.18.0.0/16',
    ep1: '198.18.1.1:80',
    ep2: '198.18.2.2:80',
    epOut1: '198.18.1.1:80',
    epOut2: '198.18.2.2:80',
    other: '198.19.99.1',
    noEndpoints: '198.19.16.46',
    nodeIP: '198.19.0.2',
  },
  IPv6: {
    clusterIP: 'fd00:10:96::29',
    podCIDR: 'fd00:10::/64',
    ep1: '[fd00:10::1:1]:80',
    ep2: '[fd00:10::2:2]:80',
    epOut1: '[fd00:10::1:1]:80',
    epOut2: '[fd00:10::2:2]:80',
    other: 'fd00:19::99:1',
    noEndpoints: 'fd00:10:96::2e',
    nodeIP: 'fd00:19::2',
  },
};

/** A small kube-proxy-shaped ruleset using each match and target the proxier renders. */
function kubeRules(a: Addrs): string {
  return `${[
    '*filter',
    ':KUBE-SERVICES - [0:0]',
    `-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d ${a.noEndpoints} --dport 80 -j REJECT`,
    'COMMIT',
    '*nat',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-MARK-MASQ - [0:0]',
    ':KUBE-SVC-AAA - [0:0]',
    ':KUBE-SEP-AAA1 - [0:0]',
    ':KUBE-SEP-AAA2 - [0:0]',
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
    `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d ${a.clusterIP} --dport 80 -j KUBE-SVC-AAA`,
    '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j RETURN',
    `-A KUBE-SVC-AAA ! -s ${a.podCIDR} -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d ${a.clusterIP} --dport 80 -j KUBE-MARK-MASQ`,
    '-A KUBE-SVC-AAA -m recent --name KUBE-SEP-AAA1 --rcheck --seconds 10800 --reap -j KUBE-SEP-AAA1',
    '-A KUBE-SVC-AAA -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-AAA1',
    '-A KUBE-SVC-AAA -j KUBE-SEP-AAA2',
    `-A KUBE-SEP-AAA1 -m recent --name KUBE-SEP-AAA1 --set -m tcp -p tcp -j DNAT --to-destination ${a.ep1}`,
    `-A KUBE-SEP-AAA2 -m tcp -p tcp -j DNAT --to-destination ${a.ep2}`,
    'COMMIT',
  ].join('\n')}\n`;
}

/** iptables-save output without its "# Generated/Completed" lines (they carry a timestamp). */
async function saved(ipt: IptablesCli, table: IptablesTable): Promise<string> {
  return (await ipt.save(table))
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
}

const PORTALS = ['-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES'];

for (const variant of ['nft', 'legacy'] as const) {
  for (const family of ['IPv4', 'IPv6'] as const) {
    describe(`IptablesCli ${family} ${variant} (kernel)`, () => {
      test('restore --noflush keeps unrelated chains; a failed restore changes nothing and names the line', async (t) => {
        if (!requireKernel(t) || !requireVariant(t, family, variant)) return;
        const ipt = new IptablesCli(new NamespaceExecer(withNamespace(t)), family, variant);
        const a = ADDRS[family];

        assert.equal(await ipt.ensureChain('nat', 'OTHER'), false);
        await ipt.ensureRule('nat', 'OTHER', ['-d', a.other, '-j', 'RETURN'], 'append');
        await ipt.restore(kubeRules(a));
        const nat = await saved(ipt, 'nat');
        assert.match(nat, /^:OTHER - /m);
        assert.match(nat, /^-A OTHER -d \S+ -j RETURN$/m);
        assert.match(nat, /^-A KUBE-SEP-AAA2 .*-j DNAT --to-destination /m);
        assert.match(await saved(ipt, 'filter'), /^-A KUBE-SERVICES .*-j REJECT/m);

        // Restoring the same input again flushes and refills the declared chains: nothing doubles.
        await ipt.restore(kubeRules(a));
        assert.equal(await saved(ipt, 'nat'), nat);

        const before = [await saved(ipt, 'filter'), nat];
        const bad = [
          '*nat',
          ':KUBE-SERVICES - [0:0]',
          ':KUBE-SVC-AAA - [0:0]',
          '-A KUBE-SERVICES -j KUBE-SVC-NOPE',
          'COMMIT',
          '',
        ].join('\n');
        const err = await ipt.restore(bad).then(
          () => assert.fail('restore should fail'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof IptablesError, String(err));
        assert.equal(err.code, 'KP_ERR_EXEC');
        assert.match(err.stderr, /KUBE-SVC-NOPE/);
        // legacy blames the rule; nft finds the missing chain when it commits the table.
        assert.ok(err.line === 4 || err.line === 5, `line ${err.line} in: ${err.stderr}`);
        assert.deepEqual([await saved(ipt, 'filter'), await saved(ipt, 'nat')], before);

        // The fake agrees on this input, blaming the rule line.
        const fake = FakeIptables.fromSave(before.join('\n'), { family, variant });
        await assert.rejects(fake.restore(bad), (e: unknown) => e instanceof IptablesError && e.line === 4);
      });

      test('iptables-restore commits table by table: tables before the failing one stay applied', async (t) => {
        if (!requireKernel(t) || !requireVariant(t, family, variant)) return;
        const ipt = new IptablesCli(new NamespaceExecer(withNamespace(t)), family, variant);
        const input = [
          '*filter',
          ':KEPT - [0:0]',
          'COMMIT',
          '*nat',
          ':LOST - [0:0]',
          '-A LOST -j NOPE',
          'COMMIT',
          '',
        ];
        const err = await ipt.restore(input.join('\n')).catch((e: unknown) => e);
        assert.ok(err instanceof IptablesError && (err.line === 6 || err.line === 7), String(err));
        assert.equal(await ipt.chainExists('filter', 'KEPT'), true);
        assert.equal(await ipt.chainExists('nat', 'LOST'), false);
      });

      test('ensureChain/ensureRule are idempotent; deleteRule/deleteChain tolerate missing objects', async (t) => {
        if (!requireKernel(t) || !requireVariant(t, family, variant)) return;
        const ipt = new IptablesCli(new NamespaceExecer(withNamespace(t)), family, variant);
        assert.equal(await ipt.chainExists('nat', 'KUBE-SERVICES'), false);
        assert.equal(await ipt.ensureChain('nat', 'KUBE-SERVICES'), false);
        assert.equal(await ipt.ensureChain('nat', 'KUBE-SERVICES'), true);
        assert.equal(await ipt.chainExists('nat', 'KUBE-SERVICES'), true);

        await ipt.ensureRule('nat', 'PREROUTING', ['-j', 'RETURN'], 'append');
        assert.equal(await ipt.ensureRule('nat', 'PREROUTING', PORTALS, 'prepend'), false);
        assert.equal(await ipt.ensureRule('nat', 'PREROUTING', PORTALS, 'prepend'), true);
        const pre = (await saved(ipt, 'nat')).split('\n').filter((l) => l.startsWith('-A PREROUTING'));
        assert.deepEqual(pre, [
          '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
          '-A PREROUTING -j RETURN',
        ]);

        // Still referenced: deleting the chain fails and keeps it.
        await assert.rejects(ipt.deleteChain('nat', 'KUBE-SERVICES'), IptablesError);
        await ipt.deleteRule('nat', 'PREROUTING', PORTALS);
        await ipt.deleteRule('nat', 'PREROUTING', PORTALS);
        await ipt.deleteRule('nat', 'NO-SUCH-CHAIN', PORTALS);
        await ipt.deleteChain('nat', 'KUBE-SERVICES');
        await ipt.deleteChain('nat', 'KUBE-SERVICES');
        assert.equal(await ipt.chainExists('nat', 'KUBE-SERVICES'), false);
        await assert.rejects(
          ipt.ensureRule('nat', 'NO-SUCH-CHAIN', ['-j', 'RETURN'], 'append'),
          IptablesError,
        );
      });

      test('save round-trips through restore, the fake and the tracer', async (t) => {
        if (!requireKernel(t) || !requireVariant(t, family, variant)) return;
        const ipt = new IptablesCli(new NamespaceExecer(withNamespace(t)), family, variant);
        const a = ADDRS[family];
        await ipt.restore(kubeRules(a));
        const filter = await saved(ipt, 'filter');
        const nat = await saved(ipt, 'nat');
        await ipt.restore(`${filter}\n${nat}\n`, { counters: true });
        assert.equal(await saved(ipt, 'filter'), filter);
        assert.equal(await saved(ipt, 'nat'), nat);

        // What the kernel printed (canonicalized: /32 and /128, reordered matches) reads back as the same flows.
        await ipt.ensureRule('nat', 'PREROUTING', PORTALS, 'prepend');
        const text = `${filter}\n${await saved(ipt, 'nat')}\n`;
        const fake = FakeIptables.fromSave(text, { family, variant });
        assert.equal(fake.rules('nat', 'KUBE-SVC-AAA')?.length, 4);
        const trace = (sourceIP: string, destIP: string) =>
          tracePacket(text, [a.nodeIP], { sourceIP, destIP, destPort: 80 });
        const pod = family === 'IPv4' ? '198.18.3.3' : 'fd00:10::3:3';
        const outside = family === 'IPv4' ? '198.19.100.2' : 'fd00:19::100:2';
        assert.deepEqual(trace(pod, a.clusterIP), { output: `${a.epOut1}, ${a.epOut2}`, masq: false });
        assert.deepEqual(trace(outside, a.clusterIP), { output: `${a.epOut1}, ${a.epOut2}`, masq: true });
        assert.deepEqual(trace(pod, a.noEndpoints), { output: 'REJECT', masq: false });
      });
    });
  }
}

class CountingIptables extends IptablesCli {
  restores = 0;
  override restore(input: string, opts?: { counters?: boolean }): Promise<void> {
    this.restores++;
    return super.restore(input, opts);
  }
}

describe('a large sync in parts (iptables-nft-restore)', () => {
  test('each part applies on the kernel and the result equals one restore of the whole sync', async (t) => {
    if (!requireKernel(t) || !requireVariant(t, 'IPv4', 'nft')) return;
    const ports = [{ name: 'p80', port: 80 }];
    const syncInto = async (ns: string, restoreChunkLines: number) => {
      const iptables = new CountingIptables(new NamespaceExecer(ns), 'IPv4', 'nft');
      const proxier = new IptablesProxier({
        ...fakeCoreOptions('IPv4', undefined),
        iptables,
        localhostNodePorts: true,
        monitorCanaries: false,
        restoreChunkLines,
      });
      joinTestNode(proxier);
      for (let i = 0; i < 150; i++) {
        proxier.onServiceAdd(
          service('ns', `s${i}`, { clusterIP: `198.19.${16 + (i >> 8)}.${(i & 255) + 1}`, ports }),
        );
        proxier.onEndpointSliceAdd(
          slice('ns', `s${i}`, `s${i}-a`, ports, [ep(`198.18.1.${i + 1}`), ep(`198.18.2.${i + 1}`)]),
        );
      }
      await markSyncedAndSync(proxier);
      await proxier.close();
      return { iptables, restores: iptables.restores };
    };
    const stepwise = await syncInto(withNamespace(t), 200);
    const whole = await syncInto(withNamespace(t), 100_000);
    assert.ok(stepwise.restores > 3, `${stepwise.restores} restores`);
    assert.equal(whole.restores, 1);
    const rules = async (ipt: IptablesCli) =>
      (await ipt.save('nat'))
        .split('\n')
        .filter((l) => l.startsWith('-A') || (l.startsWith(':') && !l.includes('ACCEPT')))
        .sort();
    assert.deepEqual(await rules(stepwise.iptables), await rules(whole.iptables));
  });
});
