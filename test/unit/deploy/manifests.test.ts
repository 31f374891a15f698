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

  test('Dockerfile: the image scripts/image.sh builds (lock packages, wrapper, compile cache)', () => {
    const text = read('Dockerfile');
    const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    const lock = read('image.lock');
    const suite = /^suite: (\S+)$/m.exec(lock)?.[1];
    const include = /^include: (.+)$/m.exec(lock)?.[1]?.split(' ') ?? [];
    // Node 24 to build with, the lock's Debian suite to run on.
    assert.equal(froms[0], 'node:24-trixie-slim');
    assert.equal(froms.at(-1), `debian:${suite}-slim`);
    assert.equal(suite, 'trixie');
    // The direct packages come from the lock, and they are the netfilter tools kube-proxy drives.
    assert.match(text, /sed -n 's\/\^include: \/\/p' \/tmp\/image\.lock/);
    for (const pkg of [
      'nftables',
      'iptables',
      'ipset',
      'conntrack',
      'iproute2',
      'kmod',
      'ipvsadm',
      'libstdc++6',
    ])
      assert.ok(include.includes(pkg), `${pkg} not in image.lock's include`);
    for (const pkg of include)
      assert.match(lock, new RegExp(`^${pkg.replace(/[+.]/g, '\\$&')}=\\S+$`, 'm'), pkg);
    // The same wrapper and compile-cache step as scripts/image.sh, at the kubeadm command path.
    assert.match(text, /^COPY deploy\/kube-proxy\.sh \/usr\/local\/bin\/kube-proxy$/m);
    assert.match(text, /fill-compile-cache\.sh/);
    assert.match(text, /^ENTRYPOINT \["\/usr\/local\/bin\/kube-proxy"\]$/m);
    const script = readFileSync(new URL('../../../scripts/image.sh', import.meta.url), 'utf8');
    assert.match(script, /deploy\/kube-proxy\.sh \/usr\/local\/bin\/kube-proxy/);
    assert.match(script, /deploy\/fill-compile-cache\.sh/);
    let continued = false;
    for (const line of text.split('\n')) {
      const cont = continued;
      continued = line.endsWith('\\');
      if (line === '' || line.startsWith('#') || cont) continue;
      assert.match(line, /^(FROM|RUN|COPY|WORKDIR|ENTRYPOINT|ENV|ARG|LABEL|CMD)\b/, line);
    }
  });
});
