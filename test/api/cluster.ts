// An etcd + kube-apiserver for the API source tests, from the reference binaries
// (scripts/build-reference.sh). Like test/reference/control-plane.ts, but these tests also need to
// stop and restart kube-apiserver alone (same port, certificates and etcd data) and to compact
// etcd. Everything listens on 127.0.0.1; stop() kills both and removes the temporary directory,
// and so does process exit (cleanup.register) or the death of this process (pdeathsig).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { register } from '../../src/sandbox/cleanup.ts';
import { fmtExit, type LineProcess } from '../../src/sandbox/process.ts';
import type { ReferenceBinaries } from '../reference/binaries.ts';
import { KUBE_PROXY_USER } from '../reference/control-plane.ts';
import { freePort, spawnWithDeathsig, tempDir } from '../reference/procs.ts';

export interface ApiClusterOptions {
  binaries: ReferenceBinaries;
  /** Default 198.19.16.0/20 (test/README.md); the 5,000-service test needs a larger range. */
  serviceCIDR?: string;
  apiserverArgs?: string[];
}

export interface ApiCluster {
  readonly server: string;
  readonly port: number;
  readonly dir: string;
  readonly caFile: string;
  readonly etcdUrl: string;
  readonly adminToken: string;
  readonly kubeProxyToken: string;
  readonly adminKubeconfig: string;
  readonly kubeProxyKubeconfig: string;
  adminConfig(): KubeConfig;
  /** Writes a kubeconfig for the kube-proxy user with a custom user section. */
  writeKubeconfig(name: string, user: Record<string, unknown>, server?: string): string;
  stopApiserver(): Promise<void>;
  startApiserver(): Promise<void>;
  /** Compacts etcd at its current revision (physically); returns the revision. */
  compactEtcd(): Promise<number>;
  logs(n?: number): string;
  stop(): Promise<void>;
}

function kubeconfigText(
  server: string,
  caFile: string,
  userName: string,
  user: Record<string, unknown>,
): string {
  return `${JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'api', cluster: { server, 'certificate-authority': caFile } }],
      users: [{ name: userName, user }],
      contexts: [{ name: 'api', context: { cluster: 'api', user: userName } }],
      'current-context': 'api',
    },
    null,
    2,
  )}\n`;
}

async function readyz(server: string, token: string, caFile: string): Promise<number> {
  const { request } = await import('node:https');
  return new Promise((resolve) => {
    const req = request(
      `${server}/readyz`,
      { headers: { Authorization: `Bearer ${token}` }, ca: readFileSync(caFile), timeout: 3000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function etcdPost(etcdUrl: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${etcdUrl}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`etcd ${path}: HTTP ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

export async function startApiCluster(opts: ApiClusterOptions): Promise<ApiCluster> {
  const bins = opts.binaries;
  const dir = tempDir('api');
  let etcd: LineProcess | undefined;
  let apiserver: LineProcess | undefined;
  let stopped: Promise<void> | undefined;
  const teardownSync = (): void => {
    unregister();
    apiserver?.killSync();
    etcd?.killSync();
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = register({ teardownSync });
  const logs = (n = 30): string =>
    [etcd, apiserver]
      .filter((p) => p !== undefined)
      .map((p) => `--- ${p.label} ---\n${p.tail(n)}`)
      .join('\n');
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      try {
        await apiserver?.stop(5000);
        await etcd?.stop(5000);
      } finally {
        teardownSync();
      }
    })();
    return stopped;
  };

  try {
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const adminToken = randomBytes(16).toString('hex');
    const kubeProxyToken = randomBytes(16).toString('hex');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(
      join(dir, 'tokens.csv'),
      `${adminToken},admin,admin-uid,"system:masters"\n${kubeProxyToken},${KUBE_PROXY_USER},kube-proxy-uid\n`,
      { mode: 0o600 },
    );
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    etcd = spawnWithDeathsig('etcd', bins.etcd, [
      '--name=api',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=api=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    const etcdProc = etcd;

    const server = `https://127.0.0.1:${apiPort}`;
    const caFile = join(dir, 'pki', 'apiserver.crt');
    const apiArgs = [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'pki')}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${join(dir, 'sa.key')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      `--service-cluster-ip-range=${opts.serviceCIDR ?? '198.19.16.0/20'}`,
      '--disable-admission-plugins=ServiceAccount',
      '--endpoint-reconciler-type=none',
      '--profiling=false',
      '-v=1',
      ...(opts.apiserverArgs ?? []),
    ];
    const startApiserver = async (): Promise<void> => {
      if (apiserver && !apiserver.exitStatus) throw new Error('kube-apiserver is running');
      const p = spawnWithDeathsig('kube-apiserver', bins.kubeApiserver, apiArgs);
      apiserver = p;
      const deadline = performance.now() + 90_000;
      while (performance.now() < deadline) {
        for (const q of [etcdProc, p]) {
          if (q.exitStatus) throw new Error(`${q.label} exited (${fmtExit(q.exitStatus)}):\n${q.tail(30)}`);
        }
        try {
          if ((await readyz(server, adminToken, caFile)) === 200) return;
        } catch {
          // the certificate is not written yet
        }
        await sleep(200);
      }
      throw new Error(`kube-apiserver not ready within 90 s:\n${p.tail(30)}`);
    };
    await startApiserver();

    const writeKubeconfig = (name: string, user: Record<string, unknown>, at = server): string => {
      const path = join(dir, `${name}.kubeconfig`);
      writeFileSync(path, kubeconfigText(at, caFile, name, user), { mode: 0o600 });
      return path;
    };
    const adminKubeconfig = writeKubeconfig('admin', { token: adminToken });
    const kubeProxyKubeconfig = writeKubeconfig('kube-proxy', { token: kubeProxyToken });
    const adminConfig = (): KubeConfig => {
      const kc = new KubeConfig();
      kc.loadFromFile(adminKubeconfig);
      return kc;
    };
    await KubernetesObjectApi.makeApiClient(adminConfig()).create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'kube-proxy-ts:api-test:node-proxier' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:node-proxier' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: KUBE_PROXY_USER }],
    } as { apiVersion: string; kind: string; metadata: { name: string } });

    return {
      server,
      port: apiPort,
      dir,
      caFile,
      etcdUrl,
      adminToken,
      kubeProxyToken,
      adminKubeconfig,
      kubeProxyKubeconfig,
      adminConfig,
      writeKubeconfig,
      stopApiserver: async () => {
        await apiserver?.stop(10_000);
      },
      startApiserver,
      compactEtcd: async () => {
        // Any key: the response header carries the store's current revision.
        const range = await etcdPost(etcdUrl, '/v3/kv/range', { key: Buffer.from('/').toString('base64') });
        const header = range.header as { revision?: string | number } | undefined;
        const revision = Number(header?.revision);
        if (!Number.isInteger(revision) || revision <= 0)
          throw new Error(`etcd revision: ${JSON.stringify(range)}`);
        await etcdPost(etcdUrl, '/v3/kv/compaction', { revision, physical: true });
        return revision;
      },
      logs,
      stop,
    };
  } catch (err) {
    const out = logs();
    await stop();
    throw new Error(`API test cluster did not start: ${(err as Error).message}\n${out}`, { cause: err });
  }
}
