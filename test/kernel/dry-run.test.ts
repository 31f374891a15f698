// --dry-run prints the ruleset instead of applying it; the kernel's own parser must accept it.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSandbox, type Sandbox } from '../../src/sandbox/topology.ts';
import { requireKernel } from '../harness/kernel.ts';
import { ManifestDir } from '../harness/manifests.ts';
import { IPTABLES_VARIANT, modeLabel, PROXY_MODE } from '../harness/mode.ts';
import { DNS, endpointSlice, HTTP, node, service, serviceCIDR } from '../harness/objects.ts';
import { proxyArgs } from '../harness/proxy-env.ts';

const EXIT_TIMEOUT_MS = 10_000;

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test(`--dry-run output is accepted by the kernel's own parser and changes nothing (${modeLabel()})`, async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const dir = await ManifestDir.create();
  cleanups.push(() => dir.close());
  await dir.write('cluster.yaml', serviceCIDR(), node());
  await dir.write(
    'echo.yaml',
    service('echo', '198.19.16.10', [HTTP, DNS]),
    endpointSlice('echo', ['198.18.1.10', '198.18.1.11'], [HTTP, DNS]),
  );
  await dir.write('empty.yaml', service('empty', '198.19.16.20', [HTTP]));

  // Only for its scratch node namespace: nft -c resolves against a live kernel.
  const sandbox: Sandbox = await createSandbox({ pods: [] });
  cleanups.push(() => sandbox.close());
  const proxy = sandbox.startProxy(proxyArgs(dir.path, ['--dry-run']));
  const status = await Promise.race([proxy.exited, sleep(EXIT_TIMEOUT_MS, undefined, { ref: false })]);
  if (!status) {
    await proxy.stop();
    assert.fail(`--dry-run still running after ${EXIT_TIMEOUT_MS} ms:\n${proxy.tail()}`);
  }
  assert.equal(status.code, 0, `--dry-run exit status:\n${proxy.tail()}`);

  const script = `${proxy.stdoutLines.join('\n')}\n`;
  if (PROXY_MODE === 'ipvs') {
    // Per family: the iptables-restore input and the virtual servers the sync would create. The
    // restore cannot be checked with --test: its rules match ipsets a dry run does not create.
    const parts = script.split(/^# (ip6?tables)-restore --noflush\n/m).slice(1);
    assert.equal(parts.length, 4, `dry-run output:\n${script}`);
    const v4 = parts[1]!;
    assert.match(v4, /-A KUBE-SERVICES .*--match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT/, v4);
    assert.match(v4, /^TCP {2}198\.19\.16\.10:80 rr$/m, v4);
    assert.match(v4, /^ {2}-> 198\.18\.1\.11:8080 +Masq +1$/m, v4);
    assert.match(v4, /^UDP {2}198\.19\.16\.10:53 rr$/m, v4);
    assert.match(parts[3]!, /-A KUBE-SERVICES -s ::1\/128 -j RETURN/);
    const ipvs = (await sandbox.exec('node', 'ipvsadm', ['-Ln'])).stdout;
    assert.doesNotMatch(ipvs, /TCP|UDP/, `dry-run created no virtual server:\n${ipvs}`);
    const link = await sandbox.exec('node', 'ip', ['link', 'show', 'kube-ipvs0']).catch(() => undefined);
    assert.equal(link, undefined, 'dry-run created no kube-ipvs0');
    return;
  }
  if (PROXY_MODE === 'iptables') {
    // One restore input per family, each after a "# iptables-restore --noflush" line.
    const parts = script.split(/^# (ip6?tables)-restore --noflush\n/m).slice(1);
    assert.equal(parts.length, 4, `dry-run output:\n${script}`);
    const [v4bin, v4, v6bin, v6] = parts as [string, string, string, string];
    assert.deepEqual([v4bin, v6bin], ['iptables', 'ip6tables']);
    assert.match(v4, /-A KUBE-SERVICES .*-d 198\.19\.16\.10 --dport 80 -j KUBE-SVC-/, v4);
    assert.match(v4, /-A KUBE-SERVICES .*-d 198\.19\.16\.20 --dport 80 -j REJECT/, v4);
    for (const [bin, input] of [
      [v4bin, v4],
      [v6bin, v6],
    ] as const) {
      await sandbox
        .exec('node', `${bin}-${IPTABLES_VARIANT}-restore`, ['--test', '--noflush'], { input })
        .catch((err: Error) =>
          assert.fail(`${bin}-restore --test rejected the dry run: ${err.message}\n${input}`),
        );
      const saved = (await sandbox.exec('node', `${bin}-${IPTABLES_VARIANT}-save`, [])).stdout;
      assert.doesNotMatch(saved, /KUBE-/, `dry-run left the kernel untouched:\n${saved}`);
    }
    return;
  }
  assert.match(script, /kube-proxy/, `dry-run output:\n${script}`);
  assert.match(script, /cluster-ips/, 'the cluster-ips set is in the script');
  assert.match(script, /service-ips/, 'the service-ips map is in the script');
  assert.match(script, /198\.19\.16\.10/, 'the ClusterIP is in the script');

  await sandbox.nft(['-c', '-f', '-'], script).catch((err: Error) => {
    assert.fail(`nft -c rejected the dry-run script: ${err.message}\n--- script ---\n${script}`);
  });
  assert.equal((await sandbox.nft(['list', 'ruleset'])).trim(), '', 'dry-run left the kernel untouched');
});
