// A real kube-apiserver + etcd (built from Go modules by scripts/build-reference.sh): it starts,
// objects are created with the official client, the kube-proxy identity has exactly
// system:node-proxier, kubectl reports the pinned version, and stop() leaves nothing behind.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { CoreV1Api, DiscoveryV1Api, KubeConfig, NetworkingV1Api } from '@kubernetes/client-node';
import { requireReference } from './binaries.ts';
import { createOnceAllocatorKnowsCIDR, httpsGet, SERVICE_CIDR, startControlPlane } from './control-plane.ts';

const exec = promisify(execFile);

function inServiceCIDR(ip: string): boolean {
  // 198.19.16.0/20 = 198.19.16.0 - 198.19.31.255
  const m = /^198\.19\.(\d+)\.\d+$/.exec(ip);
  return m !== null && Number(m[1]) >= 16 && Number(m[1]) <= 31;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

function code(err: unknown): number | undefined {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

test('reference control plane: real kube-apiserver + etcd', { timeout: 45 * 60_000 }, async (t) => {
  // Root is not needed here, only the binaries (built on a cold cache: 10-25 min).
  const bins = await requireReference(t, { kernel: false });
  if (!bins) return;
  const cp = await startControlPlane({ binaries: bins });
  try {
    await t.test('/version reports the pinned release', async () => {
      const { status, body } = await httpsGet(`${cp.server}/version`, cp.adminToken, cp.caFile);
      assert.equal(status, 200, body);
      const v = JSON.parse(body) as { gitVersion: string; major: string; minor: string };
      assert.equal(v.gitVersion, bins.k8sVersion);
      assert.equal(`v${v.major}.${v.minor}`, bins.k8sVersion.split('.').slice(0, 2).join('.'));
    });

    await t.test('kubectl --kubeconfig <generated> version', async () => {
      const { stdout } = await exec(bins.kubectl, ['--kubeconfig', cp.adminKubeconfig, 'version']);
      assert.match(stdout, new RegExp(`^Client Version: ${bins.k8sVersion.replaceAll('.', '\\.')}$`, 'm'));
      assert.match(stdout, new RegExp(`^Server Version: ${bins.k8sVersion.replaceAll('.', '\\.')}$`, 'm'));
    });

    await t.test('objects are created and read back with @kubernetes/client-node', async () => {
      const kc = cp.adminConfig();
      const core = kc.makeApiClient(CoreV1Api);
      const discovery = kc.makeApiClient(DiscoveryV1Api);
      const networking = kc.makeApiClient(NetworkingV1Api);
      const cidrs = await networking.listServiceCIDR();
      assert.deepEqual(
        cidrs.items.map((c) => c.spec?.cidrs),
        [[SERVICE_CIDR]],
        'the default ServiceCIDR comes from --service-cluster-ip-range',
      );
      await core.createNode({
        body: {
          metadata: { name: 'test-node' },
          status: { addresses: [{ type: 'InternalIP', address: '198.19.0.2' }] },
        },
      });
      const svc = await core.createNamespacedService({
        namespace: 'default',
        body: {
          metadata: { name: 'web' },
          spec: { ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
        },
      });
      const ip = svc.spec?.clusterIP ?? '';
      assert.ok(inServiceCIDR(ip), `allocated ClusterIP ${ip} inside ${SERVICE_CIDR}`);
      // Created after "web": the allocator may hand out addresses of any ServiceCIDR.
      await networking.createServiceCIDR({
        body: { metadata: { name: 'extra' }, spec: { cidrs: ['198.19.64.0/24'] } },
      });
      const pinned = await createOnceAllocatorKnowsCIDR(() =>
        core.createNamespacedService({
          namespace: 'default',
          body: { metadata: { name: 'pinned' }, spec: { clusterIP: '198.19.64.10', ports: [{ port: 53 }] } },
        }),
      );
      assert.equal(pinned.spec?.clusterIP, '198.19.64.10', 'a ClusterIP from the extra ServiceCIDR');
      await discovery.createNamespacedEndpointSlice({
        namespace: 'default',
        body: {
          metadata: { name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
          addressType: 'IPv4',
          endpoints: [{ addresses: ['198.18.1.10'], conditions: { ready: true }, nodeName: 'test-node' }],
          ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        },
      });
      const slices = await discovery.listNamespacedEndpointSlice({
        namespace: 'default',
        labelSelector: 'kubernetes.io/service-name=web',
      });
      assert.deepEqual(
        slices.items.map((s) => s.endpoints?.map((e) => e.addresses)),
        [[['198.18.1.10']]],
      );
      const node = await core.readNode({ name: 'test-node' });
      assert.deepEqual(
        node.status?.addresses?.map((a) => `${a.type}=${a.address}`),
        ['InternalIP=198.19.0.2'],
      );
    });

    await t.test('the kube-proxy token reads what kube-proxy needs and nothing more', async () => {
      const kc = new KubeConfig();
      kc.loadFromFile(cp.kubeProxyKubeconfig);
      const core = kc.makeApiClient(CoreV1Api);
      const discovery = kc.makeApiClient(DiscoveryV1Api);
      const networking = kc.makeApiClient(NetworkingV1Api);
      await core.listServiceForAllNamespaces();
      await core.listNode();
      await discovery.listEndpointSliceForAllNamespaces();
      await networking.listServiceCIDR();
      await assert.rejects(
        core.createNamespacedService({
          namespace: 'default',
          body: { metadata: { name: 'x' }, spec: { ports: [{ port: 1 }] } },
        }),
        (err: unknown) => code(err) === 403,
      );
      await assert.rejects(core.listSecretForAllNamespaces(), (err: unknown) => code(err) === 403);
    });
  } finally {
    await cp.stop();
  }
  assert.equal(existsSync(cp.dir), false, 'stop() removes the temporary directory');
  assert.equal(await listening(cp.port), false, 'kube-apiserver is gone');
});
