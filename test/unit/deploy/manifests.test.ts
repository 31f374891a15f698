// The shape of deploy/: parsed, kinds and the fields a kubeadm-style kube-proxy needs. (A later step
// dry-runs them against a real apiserver.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { decodeConfig } from '../../../src/config/decode.ts';

// biome-ignore lint/suspicious/noExplicitAny: manifest trees are walked freely
type Obj = Record<string, any>;

const read = (f: string) => readFileSync(new URL(`../../../deploy/${f}`, import.meta.url), 'utf8');
function docs(f: string): Obj[] {
  return parseAllDocuments(read(f)).map((d) => {
    assert.deepEqual(d.errors, [], f);
    return d.toJS() as Obj;
  });
}

const all = ['daemonset.yaml', 'serviceaccount.yaml', 'configmap.yaml'].flatMap(docs);
const byKind = (k: string) => all.filter((o) => o.kind === k);

describe('deploy manifests', () => {
  test('every object has apiVersion, kind and a name; namespaced ones are in kube-system', () => {
    assert.deepEqual(all.map((o) => o.kind).sort(), [
      'ClusterRoleBinding',
      'ConfigMap',
      'DaemonSet',
      'ServiceAccount',
    ]);
    for (const o of all) {
      assert.ok(o.apiVersion && o.metadata?.name, JSON.stringify(o).slice(0, 80));
      if (o.kind !== 'ClusterRoleBinding') assert.equal(o.metadata.namespace, 'kube-system');
    }
  });

  test('DaemonSet: host network, privileged, system-node-critical, tolerates all, kubeadm mounts', () => {
    const [ds] = byKind('DaemonSet');
    assert.equal(ds!.apiVersion, 'apps/v1');
    const spec = ds!.spec.template.spec;
    assert.deepEqual(ds!.spec.selector.matchLabels, ds!.spec.template.metadata.labels);
    assert.equal(spec.hostNetwork, true);
    assert.equal(spec.priorityClassName, 'system-node-critical');
    assert.equal(spec.serviceAccountName, 'kube-proxy');
    assert.deepEqual(spec.tolerations, [{ operator: 'Exists' }]);
    const [c] = spec.containers;
    assert.equal(c.securityContext.privileged, true);
    assert.ok(c.command.includes('--config=/var/lib/kube-proxy/config.conf'));
    assert.ok(c.command.includes('--hostname-override=$(NODE_NAME)'));
    assert.equal(c.env[0].valueFrom.fieldRef.fieldPath, 'spec.nodeName');
    const mounts = Object.fromEntries(c.volumeMounts.map((m: Obj) => [m.name, m]));
    const vols = Object.fromEntries(spec.volumes.map((v: Obj) => [v.name, v]));
    assert.equal(mounts['xtables-lock'].mountPath, '/run/xtables.lock');
    assert.deepEqual(vols['xtables-lock'].hostPath, { path: '/run/xtables.lock', type: 'FileOrCreate' });
    assert.equal(mounts['lib-modules'].mountPath, '/lib/modules');
    assert.equal(mounts['lib-modules'].readOnly, true);
    assert.equal(vols['kube-proxy'].configMap.name, 'kube-proxy');
    assert.equal(c.livenessProbe.httpGet.port, 10256);
  });

  test('ClusterRoleBinding binds the kube-proxy ServiceAccount to system:node-proxier', () => {
    const [crb] = byKind('ClusterRoleBinding');
    assert.deepEqual(crb!.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'system:node-proxier',
    });
    assert.deepEqual(crb!.subjects, [
      { kind: 'ServiceAccount', name: 'kube-proxy', namespace: 'kube-system' },
    ]);
  });

  test("ConfigMap: kubeadm's keys; config.conf is a valid configuration, kubeconfig.conf a kubeconfig", () => {
    const [cm] = byKind('ConfigMap');
    assert.deepEqual(Object.keys(cm!.data).sort(), ['config.conf', 'kubeconfig.conf']);
    const d = decodeConfig(cm!.data['config.conf'], 'config.conf');
    assert.deepEqual(d.strictIssues, []);
    assert.equal(d.config.clientConnection?.kubeconfig, '/var/lib/kube-proxy/kubeconfig.conf');
    const kc = parseAllDocuments(cm!.data['kubeconfig.conf'])[0]!.toJS() as Obj;
    assert.equal(kc.kind, 'Config');
    assert.equal(kc.users[0].user.tokenFile, '/var/run/secrets/kubernetes.io/serviceaccount/token');
  });

  test('Dockerfile: Node 24 and the netfilter tools; the kubeadm command path', () => {
    const text = read('Dockerfile');
    const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    assert.ok(froms.length >= 1 && froms.every((f) => /^node:24[-.]/.test(f!)), String(froms));
    for (const pkg of ['nftables', 'iptables', 'ipset', 'conntrack'])
      assert.match(text, new RegExp(`apt-get install[^\\n]*\\b${pkg}\\b`));
    assert.match(text, /\/usr\/local\/bin\/kube-proxy/);
    assert.match(text, /^ENTRYPOINT \[/m);
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#') || line.startsWith(' ')) continue;
      assert.match(line, /^(FROM|RUN|COPY|WORKDIR|ENTRYPOINT|ENV|ARG|LABEL|CMD)\b/, line);
    }
  });
});
