// The guest kernel can do what IPVS mode needs: one guest runs capabilities.sh, which sends real
// traffic between network namespaces through IPVS (TCP, UDP, SCTP; IPv4 and IPv6), an ipset-matched
// iptables-legacy DNAT and an `-m ipvs` masquerade. Also checks the harness itself: exit status,
// environment, and a guest killed at its timeout.
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { describeFailure, requireGuest, runInGuest } from './guest.ts';

const CAPABILITIES = resolve(import.meta.dirname, 'capabilities.sh');
const CHECKS = [
  'ipvs-tcp-ipv4',
  'ipvs-udp-ipv4',
  'ipvs-sctp-ipv4',
  'ipvs-tcp-ipv6',
  'ipvs-udp-ipv6',
  'ipvs-sctp-ipv6',
  'iptables-is-legacy',
  'ipvs-masquerade-ipv4',
  'ipset-dnat-ipv4',
  'ipset-dnat-ipv6',
];

test('IPVS (TCP, UDP, SCTP; IPv4, IPv6), ipset and iptables-legacy nat carry real traffic in the guest', async (t) => {
  if (!requireGuest(t)) return;
  const r = await runInGuest({ command: ['sh', CAPABILITIES], timeoutMs: 180_000 });
  t.diagnostic(`boot ${r.bootSeconds} s, whole run ${r.durationMs} ms`);
  const results = new Map<string, string>();
  for (const m of r.output.matchAll(/^(PASS|FAIL) ([a-z0-9-]+): (.*)$/gm))
    results.set(m[2]!, `${m[1]} ${m[3]}`);
  const notPassed = CHECKS.filter((c) => !results.get(c)?.startsWith('PASS'));
  assert.deepEqual(
    notPassed.map((c) => `${c}: ${results.get(c) ?? 'not run'}`),
    [],
    `checks that did not pass\n${describeFailure(r)}`,
  );
  assert.equal(r.status, 0, describeFailure(r));
});

test('the guest returns the command exit status and environment, and is killed at its timeout', async (t) => {
  if (!requireGuest(t)) return;
  // One after the other: the whole suite runs two files at once, so at most two guests run.
  const ok = await runInGuest({
    command: ['sh', '-c', 'echo "v=$KPTS_X"; exit 7'],
    env: { KPTS_X: "it's x" },
    timeoutMs: 60_000,
  });
  const hung = await runInGuest({ command: ['sh', '-c', 'echo started; exec sleep 600'], timeoutMs: 12_000 });
  assert.equal(ok.status, 7, describeFailure(ok));
  assert.match(ok.output, /^v=it's x$/m);
  assert.equal(hung.timedOut, true);
  assert.equal(hung.status, null);
  // Streamed before the kill: a hung guest's output is there to read.
  assert.match(hung.output, /^started$/m);
  assert.ok(hung.durationMs < 30_000, `killed after ${hung.durationMs} ms`);
});
