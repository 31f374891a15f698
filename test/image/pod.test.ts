// The DaemonSet -> podman translation the image test relies on (no root, no podman).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../../src/sandbox/proxy.ts';
import { expandVars, type PodRuntime, podmanRunArgs, SERVICE_ACCOUNT_MOUNT } from './pod.ts';

// biome-ignore lint/suspicious/noExplicitAny: manifest trees are walked freely
type Obj = Record<string, any>;

const daemonSet = (): Obj =>
  parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy', 'daemonset.yaml'), 'utf8'))
    .map((d) => d.toJS() as Obj)
    .find((o) => o?.kind === 'DaemonSet')!;

const runtime: PodRuntime = {
  image: 'localhost/kube-proxy-ts:test',
  containerName: 'kp',
  nodeName: 'node-a',
  netnsPath: '/run/netns/n1',
  configMaps: { 'kube-proxy': '/tmp/cm' },
  serviceAccountDir: '/tmp/sa',
  hostPath: (p) => (p === '/lib/modules' ? p : `/tmp/root${p}`),
  serviceEnv: { KUBERNETES_SERVICE_HOST: '198.19.16.1', KUBERNETES_SERVICE_PORT: '443' },
  hosts: { 'kubernetes.default.svc': '127.0.0.1' },
};

/** The values of every occurrence of a flag. */
function values(args: readonly string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

test('$(VAR) expansion as the kubelet does it', () => {
  const env = new Map([['NODE_NAME', 'node-a']]);
  assert.equal(expandVars('--hostname-override=$(NODE_NAME)', env), '--hostname-override=node-a');
  assert.equal(expandVars('$(UNSET) $$(NODE_NAME) $$', env), '$(UNSET) $(NODE_NAME) $');
});

test('deploy/daemonset.yaml becomes podman flags: command, env, privileged, host network, volumes', () => {
  const args = podmanRunArgs(daemonSet(), runtime);
  assert.deepEqual(JSON.parse(values(args, '--entrypoint')[0]!), [
    '/usr/local/bin/kube-proxy',
    '--config=/var/lib/kube-proxy/config.conf',
    '--hostname-override=node-a',
  ]);
  assert.equal(args.at(-1), runtime.image, 'no args after the image: the DaemonSet sets command only');
  assert.deepEqual(values(args, '--network'), ['ns:/run/netns/n1']);
  assert.ok(args.includes('--privileged'));
  assert.deepEqual(values(args, '--env').sort(), [
    'KUBERNETES_SERVICE_HOST=198.19.16.1',
    'KUBERNETES_SERVICE_PORT=443',
    'NODE_NAME=node-a',
  ]);
  assert.deepEqual(values(args, '--volume').sort(), [
    '/lib/modules:/lib/modules:ro',
    '/tmp/cm:/var/lib/kube-proxy:ro',
    `/tmp/root/run/xtables.lock:/run/xtables.lock`,
    `/tmp/sa:${SERVICE_ACCOUNT_MOUNT}:ro`,
  ]);
  assert.deepEqual(values(args, '--add-host'), ['kubernetes.default.svc:127.0.0.1']);
});

test('what the translation cannot reproduce is refused, not ignored', () => {
  const ds = daemonSet();
  ds.spec.template.spec.containers[0].securityContext = { runAsUser: 1000 };
  assert.throws(() => podmanRunArgs(ds, runtime), /securityContext\.runAsUser/);
  const ds2 = daemonSet();
  ds2.spec.template.spec.hostNetwork = false;
  assert.throws(() => podmanRunArgs(ds2, runtime), /host-network/);
  const ds3 = daemonSet();
  ds3.spec.template.spec.volumes.push({ name: 'x', emptyDir: {} });
  ds3.spec.template.spec.containers[0].volumeMounts.push({ name: 'x', mountPath: '/x' });
  assert.throws(() => podmanRunArgs(ds3, runtime), /only configMap and hostPath/);
});
