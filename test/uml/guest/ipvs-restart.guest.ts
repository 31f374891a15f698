// Runs only inside the UML guest, in IPVS mode (test/uml/suite.ts): a kube-proxy-ts restart keeps
// the virtual servers and updates their real servers in place. IPVS's counters tell: deleting a
// virtual server or a real server resets its connection count, so counts that survive the restart
// prove nothing was rebuilt. Endpoints changed while the proxy was down are applied on its return.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Flow } from '../../../src/sandbox/flows.ts';
import { requireKernel } from '../../harness/kernel.ts';
import { PROXY_MODE } from '../../harness/mode.ts';
import { endpointSlice, HTTP, node, service, serviceCIDR } from '../../harness/objects.ts';
import { sharedEnv } from '../../harness/proxy-env.ts';
import { waitFor } from '../../harness/wait.ts';

const CLUSTER_IP = '198.19.16.10';
const TCP: Flow = { proto: 'tcp', dst: CLUSTER_IP, port: 80 };
const IPS: Record<string, string> = {
  'pod-a': '198.18.1.10',
  'pod-b': '198.18.1.11',
  'pod-c': '198.18.1.12',
};

const env = sharedEnv({
  pods: Object.entries(IPS).map(([name, ip]) => ({ name, ip })),
  manifests: {
    'cluster.yaml': [serviceCIDR(), node()],
    'echo-svc.yaml': [service('echo', CLUSTER_IP, [HTTP])],
    'echo-slice.yaml': [endpointSlice('echo', [IPS['pod-a']!, IPS['pod-b']!], [HTTP])],
  },
});
after(() => env.close());

/** Connection counts from `ipvsadm -Ln --stats`: the virtual server's and each real server's (by IP). */
function conns(stats: string, vip: string): { total: number; real: Map<string, number> } {
  let total = -1;
  const real = new Map<string, number>();
  let inService = false;
  for (const line of stats.split('\n')) {
    const svc = /^(TCP|UDP|SCTP)\s+(\S+)\s+(\d+)/.exec(line);
    if (svc) {
      inService = svc[2] === vip;
      if (inService) total = Number(svc[3]);
      continue;
    }
    const rs = /^\s+->\s+(\S+):\d+\s+(\d+)/.exec(line);
    if (rs && inService) real.set(rs[1]!, Number(rs[2]));
  }
  return { total, real };
}

test('a restart keeps the virtual servers and updates the real servers in place', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  assert.equal(PROXY_MODE, 'ipvs', 'this file runs in IPVS mode (in the UML guest)');
  const e = await env.get();
  await e.waitForAnswer('client', TCP);
  const d = await e.sandbox.probeMany('client', { ...TCP, timeoutMs: 2000 }, 6);
  assert.equal(d.reject + d.drop + d.error, 0, JSON.stringify(d));
  const vip = `${CLUSTER_IP}:80`;
  // IPVS folds its per-CPU counters into what it reports every 2 s: wait for the probes to show.
  let beforeText = '';
  let before = conns('', vip);
  await waitFor(
    async () => {
      beforeText = await e.ipvsadm(['-Ln', '--stats']);
      before = conns(beforeText, vip);
      return before.total >= 6 ? { ok: true, value: undefined } : { ok: false, detail: beforeText };
    },
    { timeoutMs: 5000, intervalMs: 500, what: 'the connection counts' },
  ).catch(() => undefined);
  assert.ok(before.total >= 6, `the virtual server counted the connections:\n${JSON.stringify(before)}`);

  // Down: the proxy exits on SIGTERM leaving its state, as upstream's; pod-b goes, pod-c comes.
  await e.signalProxy('SIGTERM');
  await e.dir.write('echo-slice.yaml', endpointSlice('echo', [IPS['pod-a']!, IPS['pod-c']!], [HTTP]));
  e.startProxyAgain();
  await e.waitForAnswer('client', TCP);
  // The new endpoint is in service once the proxy is back.
  const seen = new Set<string>();
  for (let i = 0; i < 10 && !seen.has('pod-c'); i++) {
    const r = await e.sandbox.probeMany('client', { ...TCP, timeoutMs: 2000 }, 4);
    for (const p of Object.keys(r.pods)) seen.add(p);
  }
  assert.ok(seen.has('pod-c'), `pod-c answers after the restart: ${[...seen].join(', ')}`);
  const afterText = await e.ipvsadm(['-Ln', '--stats']);
  const afterRestart = conns(afterText, vip);
  assert.ok(
    afterRestart.total >= before.total,
    `the virtual server was kept (its count went on from ${before.total}): ${JSON.stringify(afterRestart.total)}`,
  );
  const a = IPS['pod-a']!;
  assert.ok(
    (afterRestart.real.get(a) ?? 0) >= (before.real.get(a) ?? 0) && (before.real.get(a) ?? 0) > 0,
    `pod-a's real server was kept: ${before.real.get(a)} -> ${afterRestart.real.get(a)}\n${beforeText}\n${afterText}`,
  );
  const listing = await e.ipvsadm();
  assert.match(listing, new RegExp(`-> ${IPS['pod-c']!.replaceAll('.', '\\.')}:\\d+\\s+Masq\\s+1`), listing);
  // pod-b is gone or, with connections still counted, draining at weight 0.
  const b = new RegExp(`-> ${IPS['pod-b']!.replaceAll('.', '\\.')}:\\d+\\s+Masq\\s+(\\d+)`).exec(listing);
  assert.ok(!b || b[1] === '0', `pod-b removed or at weight 0:\n${listing}`);
});
