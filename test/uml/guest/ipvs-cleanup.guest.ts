// Runs only inside the UML guest (test/uml/suite.ts): `--cleanup` removes IPVS mode's state as
// upstream's does, on a kernel that has IPVS. Planted with the tools (ipvsadm, ipset,
// iptables-legacy, ip), not by kube-proxy-ts, so the cleanup is checked by an independent reader:
// every virtual server goes (upstream flushes IPVS whole), kube-ipvs0 and its addresses go, the
// KUBE-* chains go before the ipsets they reference (a referenced set cannot be destroyed), and what
// is not ours stays.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { PROXY_BIN } from '../../../src/sandbox/proxy.ts';
import { requireKernel } from '../../harness/kernel.ts';
import { PROXY_MODE } from '../../harness/mode.ts';

function inNs(ns: string, cmd: string, args: string[], input?: string) {
  const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    ...(input !== undefined && { input }),
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Runs a command line (words split on blanks) in the namespace; its stdout. */
function must(ns: string, line: string, input?: string): string {
  const [cmd, ...args] = line.split(/\s+/);
  const r = inNs(ns, cmd!, args, input);
  assert.equal(r.code, 0, `${line}: ${r.stderr}`);
  return r.stdout;
}

const PLANTED_SETS = `create KUBE-CLUSTER-IP hash:ip,port family inet
add KUBE-CLUSTER-IP 198.19.16.41,tcp:80
create KUBE-6-CLUSTER-IP hash:ip,port family inet6
create NOT-OURS hash:ip family inet
`;

// A KUBE-* set referenced by a rule: it can only be destroyed after the rule is gone.
const PLANTED_RULES = `*nat
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
COMMIT
*filter
:KUBE-IPVS-FILTER - [0:0]
:KEEP-ME - [0:0]
-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER
COMMIT
`;

test('--cleanup removes virtual servers, kube-ipvs0, KUBE-* ipsets and chains; the rest stays', (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  assert.equal(PROXY_MODE, 'ipvs', 'this file runs in IPVS mode (in the UML guest)');
  const ns = `kpt-ipvscln-${randomBytes(3).toString('hex')}`;
  assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0, 'ip netns add');
  t.after(() => spawnSync('ip', ['netns', 'del', ns]));
  must(ns, 'ip link set lo up');

  must(ns, 'ip link add kube-ipvs0 type dummy');
  must(ns, 'ip addr add 198.19.16.41/32 dev kube-ipvs0');
  must(ns, 'ipvsadm -A -t 198.19.16.41:80 -s rr');
  must(ns, 'ipvsadm -a -t 198.19.16.41:80 -r 198.18.1.10:80 -m -w 1');
  must(ns, 'ipvsadm -A -u [fd00:10:96::41]:53 -s rr');
  must(ns, 'ipset restore', PLANTED_SETS);
  must(ns, 'iptables-legacy-restore --noflush', PLANTED_RULES);
  must(ns, 'ip6tables-legacy -t nat -N KUBE-SERVICES');

  const run = inNs(ns, PROXY_BIN, ['--cleanup', '-v=2']);
  assert.equal(run.code, 0, run.stderr);

  const ipvs = must(ns, 'ipvsadm -Ln');
  assert.doesNotMatch(ipvs, /^(TCP|UDP|SCTP)\s/m, `no virtual server stays:\n${ipvs}`);
  assert.notEqual(inNs(ns, 'ip', ['link', 'show', 'kube-ipvs0']).code, 0, 'kube-ipvs0 is gone');
  const sets = must(ns, 'ipset list -n');
  assert.doesNotMatch(sets, /KUBE-/, sets);
  assert.match(sets, /^NOT-OURS$/m, 'sets not ours stay');
  const v4 = must(ns, 'iptables-legacy-save');
  assert.doesNotMatch(v4, /KUBE-/, v4);
  assert.match(v4, /:KEEP-ME/, 'chains not ours stay');
  assert.doesNotMatch(must(ns, 'ip6tables-legacy-save'), /KUBE-/);
});
