// The container image, built by scripts/image.sh and run by podman: what deploy/daemonset.yaml runs.
//
// 1. The image itself: reproducible, the pinned Debian packages and nothing of the build (no npm, no
//    compilers, no dev dependencies), --version from the build-time compile cache in under 0.3 s.
// 2. The image run exactly as the DaemonSet's pod (test/image/pod.ts translates the manifest): the
//    kube-proxy ConfigMap and a kube-proxy ServiceAccount token from a real kube-apiserver, host
//    networking = the sandbox node's namespace, privileged. It must route the examples' Services
//    (real TCP and UDP traffic from an off-cluster client and from a pod), serve /healthz, /livez and
//    /metrics, stop cleanly on `podman stop` and leave its rules in place, as upstream does.
//
// The node's "host" files (the DaemonSet's /run/xtables.lock hostPath) live in a temporary directory;
// /lib/modules is the machine's, read-only (an empty directory where the machine has none). Rules and
// addresses exist only in the sandbox's namespaces, which are deleted afterwards (also on failure);
// the host's conntrack settings and ruleset are checked unchanged.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import { register } from '../../src/sandbox/cleanup.ts';
import { readObjects, type Target, workloadFrom } from '../../src/sandbox/example-workload.ts';
import { run, runSyncQuiet } from '../../src/sandbox/exec.ts';
import type { FlowResult } from '../../src/sandbox/flows.ts';
import { REPO_ROOT } from '../../src/sandbox/proxy.ts';
import { createSandbox, type PodSpec, type Sandbox } from '../../src/sandbox/topology.ts';
import { type ApiTunnel, openApiTunnel } from '../reference/api-tunnel.ts';
import { requireReference } from '../reference/binaries.ts';
import { type ControlPlane, startControlPlane } from '../reference/control-plane.ts';
import { tempDir } from '../reference/procs.ts';
import {
  buildImage,
  IMAGE,
  imageId,
  imageScript,
  inImage,
  podman,
  requireImageHost,
  ulimitArgs,
  VERSION,
} from './image.ts';
import { podmanRunArgs } from './pod.ts';

const EXAMPLES = join(REPO_ROOT, 'examples');
/** The examples' Node (cluster.yaml) and its InternalIP, the sandbox node's primary address. */
const NODE_NAME = 'node-a';
const NODE_IP = '198.19.0.2';
const SAMPLES = 30;

// biome-ignore lint/suspicious/noExplicitAny: manifest trees are walked freely
type Obj = Record<string, any>;

const teardowns: (() => Promise<void>)[] = [];
after(async () => {
  for (const t of teardowns.reverse()) await t().catch(() => {});
});

test('scripts/image.sh: a reproducible image of the pinned packages, without build tools, --version under 0.3 s', {
  timeout: 30 * 60_000,
}, async (t) => {
  if (!requireImageHost(t)) return;
  const id = await buildImage();

  const size = Number((await podman(['image', 'inspect', '--format', '{{.Size}}', IMAGE])).stdout.trim());
  t.diagnostic(`image ${IMAGE} ${id.slice(0, 12)}: ${(size / 1e6).toFixed(1)} MB uncompressed`);
  // A guard against a build that drags in dev dependencies or a fatter root filesystem (229 MB now).
  assert.ok(size < 260e6, `image is ${size} bytes`);

  // The same sources build the same image: every layer and the config are reproducible.
  const again = `${IMAGE}-again`;
  teardowns.push(async () => {
    await podman(['rmi', again], { allowFail: true });
  });
  const r = await imageScript(['--tag', again]);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  assert.equal(await imageId(again), id, 'a second build of the same sources gave another image');

  const version = await inImage(['/usr/local/bin/kube-proxy', '--version']);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), `kube-proxy-ts v${VERSION}`);

  // Exactly the Debian packages deploy/image.lock pins.
  const lock = readFileSync(join(REPO_ROOT, 'deploy', 'image.lock'), 'utf8')
    .split('\n')
    .filter((l) => /^[a-z0-9][a-z0-9+.-]*=/.test(l))
    .sort();
  // dpkg-query's own ${field} syntax, not a template.
  const format = ['$', '{Package}=$', '{Version}\\n'].join('');
  const dpkg = await inImage(['dpkg-query', '-W', '-f', format]);
  assert.equal(dpkg.code, 0, dpkg.stderr);
  assert.deepEqual(dpkg.stdout.trim().split('\n').sort(), lock);

  // The tools kube-proxy drives are there; npm, compilers and dev dependencies are not.
  const which = await inImage([
    '/bin/sh',
    '-c',
    'for t in nft iptables iptables-nft iptables-legacy ip6tables ipset conntrack ip modprobe ipvsadm node npm npx corepack gcc cc c++ tsc make; do command -v $t >/dev/null && echo $t; done; ls /opt/kube-proxy-ts/node_modules /opt/kube-proxy-ts/node_modules/@types',
  ]);
  const present = which.stdout.split(/\s+/);
  for (const tool of [
    'nft',
    'iptables-nft',
    'iptables-legacy',
    'ip6tables',
    'ipset',
    'conntrack',
    'ip',
    'modprobe',
    'ipvsadm',
    'node',
  ])
    assert.ok(present.includes(tool), `${tool} missing from the image`);
  for (const absent of [
    'npm',
    'npx',
    'corepack',
    'gcc',
    'cc',
    'c++',
    'tsc',
    'make',
    'typescript',
    '@biomejs',
  ])
    assert.ok(!present.includes(absent), `${absent} is in the image`);

  // The compile cache built into the image serves every module's type-stripped source.
  const debug = await inImage(['/usr/local/bin/kube-proxy', '--version'], {
    env: { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' },
  });
  const hits = debug.stderr.match(/retrieving transpile cache for StrippedTypeScript/g)?.length ?? 0;
  const misses = debug.stderr.match(/no transpile cache for StrippedTypeScript \S+/g) ?? [];
  assert.deepEqual(misses, [], 'modules missing from the build-time compile cache');
  assert.ok(hits > 50, `only ${hits} modules came from the compile cache:\n${debug.stderr.slice(0, 2000)}`);

  // Start-up, timed by the container's bash. Node writes the V8 half of the compile cache when a
  // process exits (the image holds the reproducible half, see deploy/fill-compile-cache.sh), so the
  // first run in a container pays for writing it after its work is done; a long-running proxy pays
  // that at its exit. Measured three ways: fresh containers with a read-only root (the start-up
  // without that write), the first run in a writable container, and repeated runs in one container.
  const timedRuns = async (n: number, extra: string[] = []): Promise<number[]> => {
    const r = await inImage(
      [
        '/bin/bash',
        '-c',
        `for i in $(seq ${n}); do s=$EPOCHREALTIME; /usr/local/bin/kube-proxy --version >/dev/null || exit 1; e=$EPOCHREALTIME; echo "$s $e"; done`,
      ],
      { podmanArgs: extra },
    );
    assert.equal(r.code, 0, r.stderr);
    return r.stdout
      .trim()
      .split('\n')
      .map((l) => {
        const [s, e] = l.split(' ').map(Number);
        return (e! - s!) * 1000;
      });
  };
  const fmt = (ms: readonly number[]): string => ms.map((m) => m.toFixed(0)).join(' ');
  const fresh: number[] = [];
  for (let i = 0; i < 3; i++) fresh.push(...(await timedRuns(1, ['--read-only'])));
  const firstWritable = await timedRuns(1);
  const repeated = (await timedRuns(10)).sort((a, b) => a - b);
  t.diagnostic(
    `--version in the container: fresh, read-only root ${fmt(fresh)} ms; first run, writable ${fmt(firstWritable)} ms; ` +
      `repeated: min ${repeated[0]!.toFixed(0)}, median ${repeated[5]!.toFixed(0)} ms (${fmt(repeated)})`,
  );
  // The best of each shows what the image can do; the machine may be loaded by other tests.
  assert.ok(
    Math.min(...fresh) < 300,
    `--version in a fresh container took at least ${Math.min(...fresh).toFixed(0)} ms`,
  );
  assert.ok(repeated[0]! < 300, `--version took at least ${repeated[0]!.toFixed(0)} ms`);
});

test('the image, run as deploy/daemonset.yaml runs it, routes the examples from the API and keeps its rules on podman stop', {
  timeout: 30 * 60_000,
}, async (t) => {
  if (!requireImageHost(t)) return;
  const bins = await requireReference(t);
  if (!bins) return;
  await buildImage();
  const dir = tempDir('image');
  teardowns.push(async () => rmSync(dir, { recursive: true, force: true }));
  const hostBefore = hostState();

  const cp: ControlPlane = await startControlPlane({ binaries: bins });
  teardowns.push(() => cp.stop());
  const kubectl = async (...args: string[]): Promise<string> => {
    const r = await run(bins.kubectl, ['--kubeconfig', cp.adminKubeconfig, ...args], {
      allowFail: true,
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };

  // What an operator applies (deploy/ minus the DaemonSet, which podman plays), then the examples.
  await kubectl(
    'apply',
    '-f',
    join(REPO_ROOT, 'deploy', 'serviceaccount.yaml'),
    '-f',
    join(REPO_ROOT, 'deploy', 'configmap.yaml'),
  );
  const objects = await readObjects(EXAMPLES);
  for (const ns of new Set(objects.map((o) => (o as Obj).metadata?.namespace).filter(Boolean)))
    await kubectl('create', 'namespace', ns as string);
  await kubectl('apply', '-f', EXAMPLES);

  // What the kubelet gives the pod: the ConfigMap's keys as files, a token of the kube-proxy
  // ServiceAccount with the cluster's CA and the namespace, the service environment.
  const cm = JSON.parse(
    await kubectl('get', 'configmap', '-n', 'kube-system', 'kube-proxy', '-o', 'json'),
  ) as Obj;
  const cmDir = join(dir, 'configmap');
  mkdirSync(cmDir);
  for (const [k, v] of Object.entries(cm.data as Record<string, string>)) writeFileSync(join(cmDir, k), v);
  const saDir = join(dir, 'serviceaccount');
  mkdirSync(saDir);
  writeFileSync(
    join(saDir, 'token'),
    (await kubectl('create', 'token', 'kube-proxy', '-n', 'kube-system')).trim(),
  );
  writeFileSync(join(saDir, 'ca.crt'), readFileSync(cp.caFile));
  writeFileSync(join(saDir, 'namespace'), 'kube-system');
  const kubernetesIP = (
    await kubectl('get', 'service', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.spec.clusterIP}')
  ).trim();

  // The sandbox node with one echo pod per example endpoint, and a pod that sends traffic.
  const workload = workloadFrom(objects);
  const probePod: PodSpec = { name: 'probe-pod', ip: '198.18.1.250', ports: [] };
  const sandbox: Sandbox = await createSandbox({ prefix: 'kpimg', pods: [...workload.pods, probePod] });
  teardowns.push(() => sandbox.close());
  // The API server as the node sees it: the ConfigMap's kubeconfig.conf names
  // https://kubernetes.default.svc:443, which the node resolves to its API endpoint (here the
  // tunnel on the node's 127.0.0.1:443; the apiserver's certificate names kubernetes.default.svc).
  const tunnel: ApiTunnel = await openApiTunnel(sandbox.nodeNs, cp.port, 443);
  teardowns.push(() => tunnel.close());

  const ds = parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy', 'daemonset.yaml'), 'utf8'))
    .map((d) => d.toJS() as Obj)
    .find((o) => o?.kind === 'DaemonSet')!;
  const name = `kpts-image-${process.pid}`;
  const runArgs = podmanRunArgs(ds, {
    image: IMAGE,
    containerName: name,
    nodeName: NODE_NAME,
    netnsPath: `/run/netns/${sandbox.nodeNs}`,
    configMaps: { 'kube-proxy': cmDir },
    serviceAccountDir: saDir,
    hostPath: (path, type) => {
      // The kernel's modules are the machine's (read-only), when it has any; other host paths are
      // the node's own. A missing directory is created, as containerd does for a hostPath of no type.
      if (path === '/lib/modules' && existsSync(path)) return path;
      const p = join(dir, 'node-root', path);
      mkdirSync(dirname(p), { recursive: true });
      if (type === 'FileOrCreate') writeFileSync(p, '', { flag: 'a' });
      else mkdirSync(p, { recursive: true });
      return p;
    },
    serviceEnv: { KUBERNETES_SERVICE_HOST: kubernetesIP, KUBERNETES_SERVICE_PORT: '443' },
    hosts: { 'kubernetes.default.svc': '127.0.0.1' },
    extraArgs: ulimitArgs(),
  });
  podmanGlobal();
  const unregister = register({
    teardownSync: () => void runSyncQuiet('podman', [...podmanGlobal(), 'rm', '-f', name]),
  });
  teardowns.push(async () => {
    await podman(['rm', '-f', name], { allowFail: true });
    unregister();
  });
  const started = await podman(['run', '--detach', ...runArgs], { allowFail: true });
  assert.equal(started.code, 0, `podman run ${runArgs.join(' ')}:\n${started.stderr}`);
  const logs = async (): Promise<string> => {
    const r = await podman(['logs', '--tail', '40', name], { allowFail: true });
    return `${r.stdout}${r.stderr}`;
  };

  // Traffic: every Service of the examples, from off the cluster and from a pod.
  const web = workload.targets.find((x) => x.label === 'demo/web:http')!;
  assert.ok(web, workload.targets.map((x) => x.label).join(', '));
  await waitFor(
    async () => (await sandbox.probe('client', [{ ...web.flow, timeoutMs: 500 }]))[0]?.outcome === 'answer',
    90_000,
    async () => `the web Service never answered:\n${await logs()}`,
  );
  const routed = async (when: string): Promise<void> => {
    for (const from of ['client', 'probe-pod']) {
      for (const target of workload.targets) {
        const results = await sandbox.probe(
          from,
          Array.from({ length: SAMPLES }, () => ({ ...target.flow, timeoutMs: 1500 })),
        );
        checkTarget(target, from, results, when);
      }
    }
  };
  await routed('while running');

  // Health and metrics, where the configuration puts them (healthz on every address, metrics on
  // the node's loopback), and the liveness endpoint the DaemonSet probes.
  const [healthz, livez, metrics, proxyMode] = [
    ...(await sandbox.probe('client', [
      { proto: 'http', dst: NODE_IP, port: 10256, path: '/healthz', timeoutMs: 5000 },
      { proto: 'http', dst: NODE_IP, port: 10256, path: '/livez', timeoutMs: 5000 },
    ])),
    ...(await sandbox.probe('node', [
      { proto: 'http', dst: '127.0.0.1', port: 10249, path: '/metrics', timeoutMs: 5000 },
      { proto: 'http', dst: '127.0.0.1', port: 10249, path: '/proxyMode', timeoutMs: 5000 },
    ])),
  ] as FlowResult[];
  assert.equal(healthz?.status, 200, JSON.stringify(healthz));
  assert.equal((JSON.parse(healthz!.body!) as { healthy: boolean }).healthy, true, healthz!.body);
  assert.equal(livez?.status, 200, JSON.stringify(livez));
  assert.equal(metrics?.status, 200, JSON.stringify(metrics).slice(0, 500));
  // The ConfigMap's mode "" is iptables mode, as upstream.
  assert.equal(proxyMode?.body?.trim(), 'iptables');
  for (const series of [
    /^kubeproxy_sync_proxy_rules_last_timestamp_seconds\{ip_family="IPv4"\} [1-9]/m,
    /^kubeproxy_sync_proxy_rules_iptables_total\{table="nat",ip_family="IPv4"\} [1-9]/m,
    /^process_resident_memory_bytes [1-9]/m,
  ]) {
    const lines = metrics!.body!.split('\n').filter((l) => l.startsWith(series.source.slice(1, 20)));
    assert.match(metrics!.body!, series, `/metrics: ${lines.join('\n') || 'no such series'}`);
  }

  // The proxy as the node sees it: node itself, and its memory once idle.
  const pid = Number((await podman(['inspect', '--format', '{{.State.Pid}}', name])).stdout.trim());
  // The wrapper execs node, so node is the container's first process and gets podman's SIGTERM.
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  assert.deepEqual(argv.slice(0, 3), [
    '/usr/local/bin/node',
    '--max-semi-space-size=2',
    '/opt/kube-proxy-ts/src/cmd/kube-proxy.ts',
  ]);
  await sleep(10_000);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  t.diagnostic(
    `idle after syncing the examples: VmRSS ${(kb('VmRSS') / 1024).toFixed(1)} MiB, peak (VmHWM) ${(kb('VmHWM') / 1024).toFixed(1)} MiB`,
  );

  // podman stop: SIGTERM, a clean exit 0 well inside the grace period, and the rules stay.
  // Stateless (-s): the rules without their counters, which the traffic keeps moving.
  const rulesBefore = await sandbox.nft(['-s', 'list', 'ruleset']);
  assert.match(rulesBefore, /KUBE-SERVICES/);
  const t0 = performance.now();
  const stopped = await podman(['stop', '--time', '30', name], { allowFail: true });
  const stopMs = performance.now() - t0;
  assert.equal(stopped.code, 0, stopped.stderr);
  const exit = (await podman(['inspect', '--format', '{{.State.ExitCode}}', name])).stdout.trim();
  assert.equal(exit, '0', `exit code ${exit} after ${stopMs.toFixed(0)} ms:\n${await logs()}`);
  t.diagnostic(`podman stop took ${stopMs.toFixed(0)} ms`);
  const rulesAfter = await sandbox.nft(['-s', 'list', 'ruleset']);
  const changed = lineDiff(rulesBefore, rulesAfter);
  assert.deepEqual(changed, [], 'the rules changed on podman stop');
  await routed('after podman stop');

  assert.deepEqual(hostState(), hostBefore, "the host's conntrack settings or rules changed");
});

/** Every target answered by exactly its endpoints, or refused when it has none. */
function checkTarget(target: Target, from: string, results: readonly FlowResult[], when: string): void {
  const what = `${target.label} from ${from} ${when}`;
  const answered = new Set(results.filter((r) => r.outcome === 'answer').map((r) => r.pod));
  if (target.endpoints.length === 0) {
    assert.ok(
      results.every((r) => r.outcome === 'reject'),
      `${what}: want REJECT, got ${JSON.stringify(results.map((r) => r.outcome))}`,
    );
    return;
  }
  assert.ok(
    results.every((r) => r.outcome === 'answer'),
    `${what}: not every flow was answered: ${JSON.stringify(results.filter((r) => r.outcome !== 'answer'))}`,
  );
  assert.deepEqual([...answered].sort(), target.endpoints, `${what}: balanced over the wrong backends`);
}

/** Lines only one side has ("- line" before, "+ line" after). */
function lineDiff(before: string, after: string): string[] {
  const a = before.split('\n');
  const b = after.split('\n');
  return [
    ...a.filter((l) => !b.includes(l)).map((l) => `- ${l}`),
    ...b.filter((l) => !a.includes(l)).map((l) => `+ ${l}`),
  ];
}

async function waitFor(
  ok: () => Promise<boolean>,
  timeoutMs: number,
  why: () => Promise<string>,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await ok()) return;
    await sleep(500);
  }
  throw new Error(await why());
}

let podmanGlobalArgs: string[] | undefined;
/** For the synchronous exit hook: the store flags, read once. */
function podmanGlobal(): string[] {
  podmanGlobalArgs ??= runSyncQuiet('bash', [join(REPO_ROOT, 'scripts', 'image.sh'), '--podman-args'])
    .trim()
    .split('\n');
  return podmanGlobalArgs;
}

/** The host's global conntrack settings and its own ruleset (digest), which no test may change. */
function hostState(): Record<string, string> {
  const state: Record<string, string> = {};
  for (const f of [
    '/proc/sys/net/netfilter/nf_conntrack_max',
    '/sys/module/nf_conntrack/parameters/hashsize',
    '/proc/sys/net/ipv4/ip_forward',
  ]) {
    try {
      state[f] = readFileSync(f, 'utf8').trim();
    } catch {
      state[f] = 'absent';
    }
  }
  state.ruleset = createHash('sha256')
    .update(runSyncQuiet('nft', ['list', 'ruleset']))
    .digest('hex');
  return state;
}
