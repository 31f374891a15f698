// `npm run bench:side-by-side` (as root, needs the reference binaries): upstream kube-proxy and
// kube-proxy-ts, alternating, in one node namespace against one kube-apiserver holding the same
// objects. Measured from outside, the same way for both: cold = proxy start until a marker Service
// created after all others answers; warm = one new Service + EndpointSlice until it answers;
// peak RSS = VmHWM of the proxy process. The marker is probed every ~0.2 s, which bounds resolution.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { run } from '../src/sandbox/exec.ts';
import { ensureReferenceBinaries } from '../test/reference/binaries.ts';
import { startControlPlane } from '../test/reference/control-plane.ts';
import { DifferentialEnv, type KubeObject, type ProxyLauncher } from '../test/reference/differential.ts';
import { kubeProxyTsLauncher } from '../test/reference/kube-proxy-ts.ts';
import { SCENARIO_TOPOLOGY } from '../test/reference/scenarios.ts';
import { upstreamLauncher } from '../test/reference/upstream-kube-proxy.ts';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '2000' },
    endpoints: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    // Seconds a proxy may take to program the cold marker / the one new Service (upstream's IPVS
    // mode in a one-CPU guest needs more than the defaults).
    'cold-timeout': { type: 'string', default: '600' },
    'warm-timeout': { type: 'string', default: '120' },
    mode: { type: 'string', default: 'nftables' },
    // nftables mode: kube-proxy-ts once per writer, in the same run.
    writers: { type: 'string', default: 'netlink,cli' },
  },
});
const N = Number(values.services);
const E = Number(values.endpoints);
const MODE = values.mode;
if (MODE !== 'nftables' && MODE !== 'iptables' && MODE !== 'ipvs')
  throw new Error(`--mode: nftables, iptables or ipvs (in a kernel with IPVS: test/uml/), not ${MODE}`);
// ClusterIPs come from an extra ServiceCIDR (created below), 250 per /24.
const BENCH_CIDR = '198.19.128.0/17';
if (N > 31_000) throw new Error(`at most 31,000 services: ClusterIPs come from ${BENCH_CIDR}`);

function objects(i: number): KubeObject[] {
  const name = `bench-${i}`;
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { namespace: 'default', name },
      spec: {
        clusterIP: `198.19.${128 + Math.floor(i / 250)}.${(i % 250) + 1}`,
        ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }],
      },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { namespace: 'default', name: `${name}-1`, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: Array.from({ length: E }, (_, j) => {
        const k = i * E + j;
        return {
          addresses: [`198.18.${100 + (Math.floor(k / 250) % 100)}.${(k % 250) + 1}`],
          nodeName: j % 3 ? 'elsewhere' : 'test-node',
        };
      }),
    },
  ];
}

async function peakRssMiB(nodeNs: string): Promise<number | undefined> {
  const pids = (await run('ip', ['netns', 'pids', nodeNs])).stdout.split(/\s+/).filter(Boolean);
  let best: number | undefined;
  for (const pid of pids) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!/kube-proxy/.test(cmd) || /--cleanup/.test(cmd)) continue;
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) best = Math.max(best ?? 0, Number(m[1]) / 1024);
    } catch {
      // the process went away
    }
  }
  return best;
}

const bins = await ensureReferenceBinaries();
const cp = await startControlPlane({ binaries: bins });
const env = await DifferentialEnv.create({
  controlPlane: cp,
  topology: SCENARIO_TOPOLOGY,
  nodePortAddresses: ['198.19.0.2/32'],
});
try {
  await env.store.create({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'ServiceCIDR',
    metadata: { name: 'bench' },
    spec: { cidrs: [BENCH_CIDR] },
  });
  process.stderr.write(`side-by-side: creating ${N} services x ${E} endpoints in the API server ...\n`);
  const all = Array.from({ length: N }, (_, i) => objects(i));
  for (let i = 0; i < all.length; i += 16) {
    await Promise.all(
      all.slice(i, i + 16).map(async ([svc, slice]) => {
        await env.store.create(svc!);
        await env.store.create(slice!);
      }),
    );
  }
  // minSyncPeriod 0 for both (upstream's launcher sets it in its config), so a change syncs at once.
  const ours = (writer?: string) =>
    kubeProxyTsLauncher(
      [
        MODE === 'ipvs' ? '--ipvs-min-sync-period=0s' : '--iptables-min-sync-period=0s',
        ...(writer ? [`--nftables-writer=${writer}`] : []),
      ],
      {
        mode: MODE,
        ...(writer && { name: `kube-proxy-ts (${MODE}, ${writer} writer)` }),
      },
    );
  const launchers: ProxyLauncher[] = [
    upstreamLauncher(bins, MODE),
    ...(MODE === 'nftables' ? values.writers.split(',').map((w) => ours(w)) : [ours()]),
  ];
  const rows: { proxy: string; round: number; coldMs: number; warmMs: number; rssMiB: number | undefined }[] =
    [];
  let extra = N;
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const l of launchers) {
      process.stderr.write(`side-by-side: round ${round}: ${l.name} ...\n`);
      const t0 = performance.now();
      await env.startProxy(l);
      await env.sync('cold', Number(values['cold-timeout']) * 1000);
      const coldMs = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 2000)); // past minSyncPeriod, so the change syncs at once
      const [svc, slice] = objects(extra++);
      const t1 = performance.now();
      await env.store.create(svc!);
      await env.store.create(slice!);
      await env.sync('warm', Number(values['warm-timeout']) * 1000);
      const warmMs = performance.now() - t1;
      rows.push({ proxy: l.name, round, coldMs, warmMs, rssMiB: await peakRssMiB(env.topology.nodeNs) });
      await env.stopProxy();
    }
  }
  console.log(
    `side by side (${MODE} mode): ${N} services x ${E} endpoints (kube-apiserver ${bins.k8sVersion})`,
  );
  for (const r of rows) {
    console.log(
      `${r.proxy.padEnd(44)} round ${r.round}: cold ${Math.round(r.coldMs)} ms, warm ${Math.round(r.warmMs)} ms, peak RSS ${r.rssMiB?.toFixed(0) ?? '?'} MiB`,
    );
  }
  const avg = (name: string, f: (r: (typeof rows)[number]) => number) => {
    const xs = rows.filter((r) => r.proxy === name).map(f);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const [up, ...mine] = launchers.map((l) => l.name) as [string, ...string[]];
  for (const name of mine)
    console.log(
      `ratios upstream/${name}: cold ${(avg(up, (r) => r.coldMs) / avg(name, (r) => r.coldMs)).toFixed(2)}, warm ${(avg(up, (r) => r.warmMs) / avg(name, (r) => r.warmMs)).toFixed(2)}, peak RSS ${(avg(up, (r) => r.rssMiB ?? 0) / avg(name, (r) => r.rssMiB ?? 1)).toFixed(2)}`,
    );
} finally {
  await env.close();
  await cp.stop();
}
