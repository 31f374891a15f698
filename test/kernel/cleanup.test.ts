// --cleanup in a throwaway network namespace: our nftables tables, upstream iptables-mode chains,
// ipvs-mode ipsets and the kube-ipvs0 dummy interface are created, `bin/kube-proxy-ts --cleanup`
// runs inside the namespace, and nothing of them may remain. Also the per-namespace conntrack
// sysctls, set inside the namespace only (the global nf_conntrack_max and hashsize are never
// written here: see test/unit/sysctl).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PROXY_BIN } from '../../src/sandbox/proxy.ts';
import { requireKernel } from '../harness/kernel.ts';

function sh(cmd: string, args: string[], input?: string) {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: 60_000,
    ...(input !== undefined && { input }),
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function inNs(ns: string, cmd: string, args: string[], input?: string) {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], input);
}

function must(r: { code: number; stderr: string }, what: string) {
  assert.equal(r.code, 0, `${what}: ${r.stderr}`);
}

const has = (tool: string) => sh(tool, ['--version']).code === 0 || sh(tool, ['-v']).code === 0;

function withNamespace(t: { after: (fn: () => void) => void }): string {
  const ns = `kpt-cln-${process.pid}-${randomBytes(3).toString('hex')}`;
  must(sh('ip', ['netns', 'add', ns]), 'ip netns add');
  t.after(() => {
    sh('ip', ['netns', 'del', ns]);
  });
  must(inNs(ns, 'ip', ['link', 'set', 'lo', 'up']), 'lo up');
  return ns;
}

describe('kube-proxy-ts --cleanup (kernel)', () => {
  test('removes nftables tables, KUBE-* iptables chains, ipsets and kube-ipvs0; exit 0', (t) => {
    if (!requireKernel(t, { proxy: true })) return;
    const ns = withNamespace(t);
    must(
      inNs(
        ns,
        'nft',
        ['-f', '-'],
        [
          'add table ip kube-proxy',
          'add chain ip kube-proxy services',
          'add table ip6 kube-proxy',
          'add chain ip6 kube-proxy services',
          'add table inet other',
          'add chain inet other keep',
          '',
        ].join('\n'),
      ),
      'nft tables',
    );
    const iptables = has('iptables-save');
    if (iptables) {
      for (const [bin, addr] of [
        ['iptables', '198.18.0.10/32'],
        ['ip6tables', 'fd00::10/128'],
      ] as const) {
        const rules = [
          ['-t', 'nat', '-N', 'KUBE-SERVICES'],
          ['-t', 'nat', '-N', 'KUBE-SVC-ABCDEF'],
          ['-t', 'nat', '-N', 'KUBE-MARK-MASQ'],
          [
            '-t',
            'nat',
            '-A',
            'PREROUTING',
            '-m',
            'comment',
            '--comment',
            'kubernetes service portals',
            '-j',
            'KUBE-SERVICES',
          ],
          [
            '-t',
            'nat',
            '-A',
            'KUBE-SERVICES',
            '-d',
            addr,
            '-p',
            'tcp',
            '--dport',
            '80',
            '-j',
            'KUBE-SVC-ABCDEF',
          ],
          ['-t', 'filter', '-N', 'KUBE-FORWARD'],
          ['-t', 'filter', '-A', 'FORWARD', '-j', 'KUBE-FORWARD'],
          ['-t', 'mangle', '-N', 'KUBE-PROXY-CANARY'],
          ['-t', 'filter', '-N', 'KEEP-ME'],
        ];
        for (const r of rules) must(inNs(ns, bin, r), `${bin} ${r.join(' ')}`);
      }
    }
    const ipset = sh('ipset', ['version']).code === 0;
    if (ipset) must(inNs(ns, 'ipset', ['create', 'KUBE-CLUSTER-IP', 'hash:ip,port']), 'ipset create');
    // The ipvs mode's interface is a dummy; kernels without the dummy driver get a veth of that name.
    if (inNs(ns, 'ip', ['link', 'add', 'kube-ipvs0', 'type', 'dummy']).code !== 0)
      must(
        inNs(ns, 'ip', ['link', 'add', 'kube-ipvs0', 'type', 'veth', 'peer', 'name', 'kpt-ipvs-peer']),
        'link',
      );

    const run = inNs(ns, PROXY_BIN, ['--cleanup', '-v=2']);
    assert.equal(run.code, 0, run.stderr);

    const tables = inNs(ns, 'nft', ['list', 'tables']).stdout;
    assert.doesNotMatch(tables, /kube-proxy/);
    assert.match(tables, /table inet other/, 'other tables stay');
    if (iptables) {
      for (const bin of ['iptables-save', 'ip6tables-save']) {
        const save = inNs(ns, bin, []).stdout;
        assert.doesNotMatch(save, /KUBE-/, `${bin}:\n${save}`);
        assert.match(save, /:KEEP-ME/, 'other chains stay');
      }
    }
    if (ipset) assert.doesNotMatch(inNs(ns, 'ipset', ['list', '-n']).stdout, /KUBE-/);
    assert.notEqual(inNs(ns, 'ip', ['link', 'show', 'kube-ipvs0']).code, 0, 'kube-ipvs0 is gone');
  });

  // The kernel suite runs on kernels without IPVS (the host); the UML guest, which has it, does not
  // run this file (test/uml/suite.ts).
  test('a mode this kernel cannot run (IPVS without IP_VS) is refused before any cleanup: the rules of the running mode stay', (t) => {
    if (!requireKernel(t, { proxy: true })) return;
    const ns = withNamespace(t);
    must(inNs(ns, 'nft', ['-f', '-'], 'add table ip kube-proxy\nadd chain ip kube-proxy services\n'), 'nft');
    const run = inNs(ns, PROXY_BIN, ['--proxy-mode=ipvs', '--hostname-override=node-a']);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /the kernel has no IPVS/);
    assert.match(
      inNs(ns, 'nft', ['list', 'tables']).stdout,
      /table ip kube-proxy/,
      'nftables mode rules stay',
    );
  });

  test('--cleanup on a clean namespace is a no-op with exit 0', (t) => {
    if (!requireKernel(t, { proxy: true })) return;
    const ns = withNamespace(t);
    const run = inNs(ns, PROXY_BIN, ['--cleanup']);
    assert.equal(run.code, 0, run.stderr);
  });

  test('per-namespace conntrack sysctls are set inside the namespace only', (t) => {
    if (!requireKernel(t)) return;
    const ns = withNamespace(t);
    const file = '/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait';
    const read = () => inNs(ns, 'cat', [file]);
    if (read().code !== 0) {
      t.skip('nf_conntrack is not loaded');
      return;
    }
    const hostBefore = readFileSync(file, 'utf8');
    const module = new URL('../../src/sysctl/conntrack.ts', import.meta.url);
    const fsModule = new URL('../../src/sysctl/fs.ts', import.meta.url);
    const logModule = new URL('../../src/log/logger.ts', import.meta.url);
    // maxPerCore 0: the global nf_conntrack_max and hashsize are left alone.
    const script = `
      import { setupConntrack } from ${JSON.stringify(fileURLToPath(module))};
      import { RootedFs } from ${JSON.stringify(fileURLToPath(fsModule))};
      import { silentLogger } from ${JSON.stringify(fileURLToPath(logModule))};
      const r = setupConntrack({ maxPerCore: 0, min: 0, tcpEstablishedTimeoutMs: 7200000, tcpCloseWaitTimeoutMs: 1234000,
        tcpBeLiberal: true, udpTimeoutMs: 45000, udpStreamTimeoutMs: 0 }, { fs: new RootedFs('/'), logger: silentLogger });
      process.stdout.write(JSON.stringify(r));`;
    const r = inNs(ns, process.execPath, ['--input-type=module', '-e', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).failed, []);
    assert.equal(read().stdout.trim(), '1234');
    assert.equal(inNs(ns, 'cat', ['/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal']).stdout.trim(), '1');
    assert.equal(inNs(ns, 'cat', ['/proc/sys/net/netfilter/nf_conntrack_udp_timeout']).stdout.trim(), '45');
    assert.equal(readFileSync(file, 'utf8'), hostBefore, 'the host namespace is untouched');
  });
});
