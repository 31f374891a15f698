// A real control plane for tests: etcd + kube-apiserver (built by scripts/build-reference.sh) on
// 127.0.0.1 with free ports, a temporary directory, static token auth and RBAC. kube-apiserver can
// also be stopped and restarted alone (same port, certificates and etcd data) and etcd compacted
// (the API source tests, test/api). stop() always kills both and removes the directory; so do
// process exit and SIGINT/SIGTERM/SIGHUP.
//
// By hand (prints the kubeconfig path, Ctrl-C stops and cleans up):
//   ./node_modules/.bin/node test/reference/control-plane.ts
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { register } from '../../src/sandbox/cleanup.ts';
import { fmtExit, type LineProcess } from '../../src/sandbox/process.ts';
import { waitFor } from '../harness/wait.ts';
import { ensureReferenceBinaries, type ReferenceBinaries } from './binaries.ts';
import { freePort, spawnWithDeathsig, tempDir } from './procs.ts';

export const SERVICE_CIDR = '198.19.16.0/20';
/** The user the kube-proxy token authenticates as; bound to ClusterRole system:node-proxier by us. */
export const KUBE_PROXY_USER = 'kube-proxy-ts:reference:kube-proxy';
export const KUBE_PROXY_BINDING = 'kube-proxy-ts:reference:node-proxier';

export interface ControlPlaneOptions {
  binaries?: ReferenceBinaries;
  /** Default SERVICE_CIDR; the 5,000-service API test needs a larger range. */
  serviceCIDR?: string;
  /** Upstream's packet-flow fixtures use NodePorts like 3001, below the default 30000-32767. */
  nodePortRange?: string;
  /** How long to wait for /readyz (at start and at startApiserver()). */
  readyTimeoutMs?: number;
  /** Extra kube-apiserver flags. */
  apiserverArgs?: string[];
}

export interface ControlPlane {
  /** https://127.0.0.1:<port> */
  readonly server: string;
  readonly port: number;
  readonly dir: string;
  /** http://127.0.0.1:<port> (etcd's client URL; its v3 JSON gateway answers there too). */
  readonly etcdUrl: string;
  /** The serving certificate chain (self-signed by kube-apiserver); trusted by the kubeconfigs. */
  readonly caFile: string;
  readonly adminToken: string;
  readonly kubeProxyToken: string;
  /** Kubeconfig for user "admin" (group system:masters). */
  readonly adminKubeconfig: string;
  /** Kubeconfig for the kube-proxy identity (ClusterRole system:node-proxier only). */
  readonly kubeProxyKubeconfig: string;
  readonly binaries: ReferenceBinaries;
  /** A client-node KubeConfig for the admin. */
  adminConfig(): KubeConfig;
  /** Writes a kubeconfig for `server` (e.g. a tunnel's address inside a netns) into the temp dir. */
  writeKubeconfig(name: string, token: string, server?: string): string;
  /** Like writeKubeconfig, with an arbitrary kubeconfig `user` section (e.g. `{ tokenFile }`). */
  writeUserKubeconfig(name: string, user: Record<string, unknown>, server?: string): string;
  /** Stops kube-apiserver alone; etcd keeps running. */
  stopApiserver(): Promise<void>;
  /** Starts kube-apiserver again (same port, certificates and etcd data) and waits for /readyz. */
  startApiserver(): Promise<void>;
  /** Compacts etcd at its current revision (physically); returns the revision. */
  compactEtcd(): Promise<number>;
  /** Output tails of etcd and kube-apiserver, for failure messages. */
  logs(n?: number): string;
  stop(): Promise<void>;
}

function kubeconfigYaml(
  server: string,
  caFile: string,
  userName: string,
  user: Record<string, unknown>,
): string {
  // JSON is YAML; kubectl, client-go and client-node all read it.
  return `${JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'reference', cluster: { server, 'certificate-authority': caFile } }],
      users: [{ name: userName, user }],
      contexts: [{ name: 'reference', context: { cluster: 'reference', user: userName } }],
      'current-context': 'reference',
    },
    null,
    2,
  )}\n`;
}

async function waitReady(
  server: string,
  token: string,
  caFile: string,
  procs: LineProcess[],
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer yet';
  while (performance.now() < deadline) {
    for (const p of procs) {
      if (p.exitStatus) throw new Error(`${p.label} exited (${fmtExit(p.exitStatus)}):\n${p.tail(30)}`);
    }
    try {
      const res = await httpsGet(`${server}/readyz`, token, caFile);
      if (res.status === 200) return;
      last = `${res.status} ${res.body.slice(-500)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`kube-apiserver not ready within ${timeoutMs} ms: ${last}`);
}

/** A GET with the CA and a bearer token (fetch cannot take a CA without an agent). */
export async function httpsGet(
  url: string,
  token: string,
  caFile: string,
): Promise<{ status: number; body: string }> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { headers: { Authorization: `Bearer ${token}` }, ca: readFileSync(caFile), timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** The HTTP status of a failed @kubernetes/client-node call. */
export function httpCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown };
  return typeof e?.code === 'number' ? e.code : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
}

/**
 * Runs `create` (a Service's) again while kube-apiserver answers 422 "the provided network does not
 * match the current range": its ClusterIP allocator learns of a ServiceCIDR from its own informer
 * and work queue, some time after the ServiceCIDR's create returned. Without kube-controller-manager
 * no status condition says when that has happened; on a slow guest kernel the gap was seen long
 * enough for the next create to fail. Any other error is thrown at once.
 */
export async function createOnceAllocatorKnowsCIDR<T>(create: () => Promise<T>): Promise<T> {
  const outcome = await waitFor<{ created: T } | { err: unknown }>(
    async () => {
      try {
        return { ok: true, value: { created: await create() } };
      } catch (err) {
        const body = (err as { body?: unknown })?.body;
        const text = typeof body === 'string' ? body : JSON.stringify(body ?? '');
        if (httpCode(err) === 422 && text.includes('does not match the current range'))
          return { ok: false, detail: text };
        return { ok: true, value: { err } };
      }
    },
    { timeoutMs: 10_000, what: "kube-apiserver's ClusterIP allocator to know the new ServiceCIDR" },
  );
  if ('err' in outcome) throw outcome.err;
  return outcome.created;
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

/**
 * Starts etcd and kube-apiserver. Their ports are picked free a moment before they bind, so a test
 * running at the same time can take one in between ("bind: address already in use"): such a start
 * is retried with new ports.
 */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startControlPlaneOnce(opts);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/.test(String((err as Error).message))) throw err;
    }
  }
}

async function startControlPlaneOnce(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const bins = opts.binaries ?? (await ensureReferenceBinaries());
  const dir = tempDir('cp');
  let etcd: LineProcess | undefined;
  let apiserver: LineProcess | undefined;
  /** etcd first, then kube-apiserver (the current one, after a restart). */
  const procs = (): LineProcess[] => [etcd, apiserver].filter((p) => p !== undefined);
  const logs = (n = 30): string =>
    procs()
      .map((p) => `--- ${p.label} ---\n${p.tail(n)}`)
      .join('\n');
  let stopped: Promise<void> | undefined;
  const teardownSync = (): void => {
    unregister();
    for (const p of procs()) p.killSync();
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = register({ teardownSync });
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      try {
        // The apiserver first, so it does not log etcd errors while shutting down.
        for (const p of procs().reverse()) await p.stop(5000);
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
      '--name=reference',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=reference=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);

    const server = `https://127.0.0.1:${apiPort}`;
    const caFile = join(dir, 'pki', 'apiserver.crt');
    const apiserverArgs = [
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
      // As kubeadm runs it: kube-proxy's DaemonSet is privileged.
      '--allow-privileged=true',
      `--service-cluster-ip-range=${opts.serviceCIDR ?? SERVICE_CIDR}`,
      `--service-node-port-range=${opts.nodePortRange ?? '3000-32767'}`,
      // No controller-manager: nothing would ever create the token Secrets it waits for.
      '--disable-admission-plugins=ServiceAccount',
      // Nothing may write the loopback Endpoints of the "kubernetes" Service.
      '--endpoint-reconciler-type=none',
      '--profiling=false',
      '-v=1',
      ...(opts.apiserverArgs ?? []),
    ];
    const startApiserver = async (): Promise<void> => {
      if (apiserver && !apiserver.exitStatus) throw new Error('kube-apiserver is running');
      apiserver = spawnWithDeathsig('kube-apiserver', bins.kubeApiserver, apiserverArgs);
      await waitReady(server, adminToken, caFile, procs(), opts.readyTimeoutMs ?? 90_000);
    };
    await startApiserver();

    const writeKubeconfigFile = (
      name: string,
      userName: string,
      user: Record<string, unknown>,
      at: string,
    ): string => {
      const path = join(dir, `${name}.kubeconfig`);
      writeFileSync(path, kubeconfigYaml(at, caFile, userName, user), { mode: 0o600 });
      return path;
    };
    const writeKubeconfig = (name: string, token: string, at = server): string =>
      writeKubeconfigFile(
        name,
        token === adminToken ? 'admin' : token === kubeProxyToken ? 'kube-proxy' : name,
        { token },
        at,
      );
    const writeUserKubeconfig = (name: string, user: Record<string, unknown>, at = server): string =>
      writeKubeconfigFile(name, name, user, at);
    const adminKubeconfig = writeKubeconfig('admin', adminToken);
    const kubeProxyKubeconfig = writeKubeconfig('kube-proxy', kubeProxyToken);
    const adminConfig = (): KubeConfig => {
      const kc = new KubeConfig();
      kc.loadFromFile(adminKubeconfig);
      return kc;
    };

    // The kube-proxy identity gets exactly what upstream grants kube-proxy.
    await KubernetesObjectApi.makeApiClient(adminConfig()).create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: KUBE_PROXY_BINDING },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:node-proxier' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: KUBE_PROXY_USER }],
    } as { apiVersion: string; kind: string; metadata: { name: string } });

    return {
      server,
      port: apiPort,
      dir,
      etcdUrl,
      caFile,
      adminToken,
      kubeProxyToken,
      adminKubeconfig,
      kubeProxyKubeconfig,
      binaries: bins,
      adminConfig,
      writeKubeconfig,
      writeUserKubeconfig,
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
    throw new Error(`control plane did not start: ${(err as Error).message}\n${out}`, { cause: err });
  }
}

/** Starts a control plane, prints how to use it and runs until Ctrl-C (the by-hand entry point). */
export async function runByHand(): Promise<void> {
  const cp = await startControlPlane();
  process.stdout.write(
    [
      `kube-apiserver ${cp.binaries.k8sVersion} at ${cp.server} (etcd ${cp.binaries.etcdVersion})`,
      `admin kubeconfig:      ${cp.adminKubeconfig}`,
      `kube-proxy kubeconfig: ${cp.kubeProxyKubeconfig}`,
      `try: ${cp.binaries.kubectl} --kubeconfig ${cp.adminKubeconfig} version`,
      'Ctrl-C stops etcd and kube-apiserver and removes the temporary directory.',
      '',
    ].join('\n'),
  );
  const shutdown = (): void => {
    void cp.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  process.once('SIGHUP', shutdown);
}

if (import.meta.main) await runByHand();
