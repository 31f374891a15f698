// The deploy/ manifests, as an operator applies them: accepted by a real kube-apiserver
// (server-side dry run, so admission and validation run but nothing is stored).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { run } from '../../src/sandbox/exec.ts';
import { REPO_ROOT } from '../../src/sandbox/proxy.ts';
import { requireReference } from './binaries.ts';
import { type ControlPlane, startControlPlane } from './control-plane.ts';

let cp: ControlPlane | undefined;
after(() => cp?.stop());

test('deploy/ manifests are accepted by kube-apiserver (server-side dry run)', {
  timeout: 10 * 60_000,
}, async (t) => {
  const bins = await requireReference(t, { kernel: false });
  if (!bins) return;
  cp = await startControlPlane({ binaries: bins });
  const kubectl = (...args: string[]) =>
    run(bins.kubectl, ['--kubeconfig', cp!.adminKubeconfig, ...args], { allowFail: true, timeoutMs: 60_000 });
  const r = await kubectl('apply', '--dry-run=server', '-o', 'name', '-f', join(REPO_ROOT, 'deploy'));
  assert.equal(r.code, 0, `kubectl apply --dry-run=server failed:\n${r.stdout}\n${r.stderr}`);
  const applied = r.stdout.trim().split('\n').sort();
  for (const kind of ['configmap/kube-proxy', 'daemonset.apps/kube-proxy', 'serviceaccount/kube-proxy']) {
    assert.ok(applied.includes(kind), `${kind} not among ${applied.join(', ')}`);
  }
  assert.ok(
    applied.some((a) => a.startsWith('clusterrolebinding.rbac.authorization.k8s.io/')),
    applied.join(', '),
  );
  // A dry run stores nothing.
  const after = await kubectl('get', 'daemonset', '-n', 'kube-system', 'kube-proxy');
  assert.notEqual(after.code, 0, 'the dry run must not create the DaemonSet');
});
