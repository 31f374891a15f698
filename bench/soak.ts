// `npm run soak -- --minutes N` (as root): churn against a sandbox node for N minutes and print,
// every minute, what would show a leak: the proxy's RSS, V8 heap and open fds, the kernel's
// chain/set/element/rule counts, and the sync latency percentiles of that minute. A benchmark,
// not a timed test: it asserts nothing and needs no quiet machine, but read it knowing what
// else the machine was doing.
//
// Churn: the EndpointSlice of a steady Service is rewritten every 50 ms (one to four endpoints,
// rotating), and one of 40 churn Services (each with its slice) is created or deleted every
// 750 ms, so all 40 come and go once a minute and every row sees the same phase of the cycle. The
// steady Service is probed from the client every row: it must keep answering.
import { rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { register } from '../src/sandbox/cleanup.ts';
import { createSandbox, type Sandbox } from '../src/sandbox/topology.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    /** Seconds between report rows (60 for the real thing; shorter to try the script). */
    interval: { type: 'string', default: '60' },
    'proxy-mode': { type: 'string', default: 'nftables' },
    services: { type: 'string', default: '40' },
    'slice-ms': { type: 'string', default: '50' },
  },
});
const MINUTES = Number(values.minutes);
const INTERVAL_S = Number(values.interval);
const MODE = values['proxy-mode'];
const CHURN = Number(values.services);
const SLICE_MS = Number(values['slice-ms']);
if (!(MINUTES > 0) || !(INTERVAL_S > 0) || !(CHURN > 0) || !(SLICE_MS > 0)) {
  console.error('soak: --minutes, --interval, --services and --slice-ms must be positive numbers');
  process.exit(2);
}
if (MODE !== 'nftables' && MODE !== 'iptables') {
  console.error(`soak: --proxy-mode nftables or iptables, not ${MODE}`);
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  console.error('soak: run as root (it creates network namespaces and programs the kernel inside them)');
  process.exit(1);
}

const NODE_NAME = 'node-a';
const STEADY_IP = '198.19.16.10';
const BACKENDS = ['198.18.1.10', '198.18.1.11', '198.18.1.12', '198.18.1.13'];
/** One create or delete per tick, so that all churn services come and go once a minute. */
const TICK_MS = 60_000 / (2 * CHURN);

const cluster = [
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'ServiceCIDR',
    metadata: { name: 'kubernetes' },
    spec: { cidrs: ['198.19.16.0/20'] },
  },
  {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: NODE_NAME },
    status: { addresses: [{ type: 'InternalIP', address: '198.19.0.2' }] },
  },
];

function service(name: string, clusterIP: string, type = 'ClusterIP', nodePort?: number): object {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'soak', name },
    spec: {
      type,
      clusterIP,
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, ...(nodePort && { nodePort }) }],
    },
  };
}

function slice(service: string, ips: readonly string[], name = `${service}-abc12`): object {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'soak', name, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true }, nodeName: NODE_NAME })),
  };
}

async function writeAtomic(dir: string, file: string, objects: object[]): Promise<void> {
  const tmp = join(dir, `.${file}.tmp`);
  await writeFile(tmp, objects.map((o) => stringify(o)).join('---\n'));
  await rename(tmp, join(dir, file));
}

interface KernelCounts {
  chains: number;
  sets: number;
  elements: number;
  rules: number;
}

async function kernelCounts(sandbox: Sandbox): Promise<KernelCounts> {
  if (MODE === 'iptables') {
    let chains = 0;
    let rules = 0;
    for (const bin of ['iptables-nft-save', 'ip6tables-nft-save']) {
      const { stdout } = await sandbox.exec('node', bin, []);
      for (const line of stdout.split('\n')) {
        if (line.startsWith(':')) chains++;
        else if (line.startsWith('-A')) rules++;
      }
    }
    return { chains, sets: 0, elements: 0, rules };
  }
  const json = JSON.parse(await sandbox.nft(['-j', 'list', 'ruleset'])) as {
    nftables: Record<string, { elem?: unknown[] }>[];
  };
  const counts: KernelCounts = { chains: 0, sets: 0, elements: 0, rules: 0 };
  for (const entry of json.nftables) {
    if (entry.chain) counts.chains++;
    else if (entry.rule) counts.rules++;
    else if (entry.set || entry.map) {
      counts.sets++;
      counts.elements += (entry.set ?? entry.map)?.elem?.length ?? 0;
    }
  }
  return counts;
}

async function procStats(pid: number): Promise<{ rssMiB: number; fds: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
  const fds = (await readdir(`/proc/${pid}/fd`)).length;
  return { rssMiB: rssKiB / 1024, fds };
}

/** V8's used heap, from the proxy's own /metrics (prom-client's default process metrics). */
async function heapMiB(sandbox: Sandbox): Promise<number> {
  const script =
    "fetch('http://127.0.0.1:10249/metrics').then(r=>r.text()).then(t=>process.stdout.write(t)).catch(e=>{console.error(e);process.exit(1)})";
  const { stdout } = await sandbox.exec('node', process.execPath, ['-e', script]);
  const m = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(stdout);
  return m ? Number(m[1]) / 1048576 : Number.NaN;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kpt-soak-'));
  const unregister = register({ teardownSync: () => rmSync(dir, { recursive: true, force: true }) });
  const sandbox = await createSandbox({
    pods: BACKENDS.map((ip, i) => ({
      name: `backend-${i}`,
      ip,
      ports: [{ protocol: 'TCP' as const, port: 8080 }],
    })),
  });
  try {
    await writeAtomic(dir, '00-cluster.yaml', cluster);
    await writeAtomic(dir, '10-steady.yaml', [service('steady', STEADY_IP), slice('steady', [BACKENDS[0]!])]);
    const proxy = sandbox.startProxy([
      '--proxy-mode',
      MODE,
      '--manifests',
      dir,
      '--hostname-override',
      NODE_NAME,
      '--cluster-cidr',
      '198.18.0.0/16',
      '--iptables-min-sync-period=100ms',
      '-v=2',
    ]);
    const pid = proxy.pid;
    if (pid === undefined) throw new Error('proxy did not start');
    await proxy.waitForLog(/SyncProxyRules complete/, 20_000);

    let stop = false;
    let sliceWrites = 0;
    let serviceChanges = 0;
    const live = new Set<number>();
    // The slice of the steady Service: BACKENDS[0] always, plus a rotating set of the others.
    const sliceLoop = (async () => {
      for (let gen = 0; !stop; gen++) {
        const extra = BACKENDS.slice(1, 1 + (gen % BACKENDS.length));
        await writeAtomic(dir, '10-steady.yaml', [
          service('steady', STEADY_IP),
          slice('steady', [BACKENDS[0]!, ...extra]),
        ]);
        sliceWrites++;
        await sleep(SLICE_MS);
      }
    })();
    // Ticks on a fixed schedule (not sleep after work), so every row samples the same phase.
    const churnStart = performance.now();
    const serviceLoop = (async () => {
      for (let tick = 0; !stop; tick++) {
        const i = tick % CHURN;
        const file = `20-churn-${i}.yaml`;
        if (live.has(i)) {
          await rm(join(dir, file), { force: true });
          live.delete(i);
        } else {
          const ip = `198.19.17.${i + 1}`;
          const nodePort = i % 4 === 0 ? 30000 + i : undefined;
          await writeAtomic(dir, file, [
            service(`churn-${i}`, ip, nodePort ? 'NodePort' : 'ClusterIP', nodePort),
            slice(`churn-${i}`, BACKENDS.slice(0, 1 + (i % BACKENDS.length))),
          ]);
          live.add(i);
        }
        serviceChanges++;
        await sleep(Math.max(0, churnStart + (tick + 1) * TICK_MS - performance.now()));
      }
    })();

    const syncMs = (from: number): number[] =>
      proxy.stderrLines
        .slice(from)
        .flatMap((l) => {
          const m = /SyncProxyRules complete.*elapsed="([\d.]+)ms"/.exec(l);
          return m ? [Number(m[1])] : [];
        })
        .sort((a, b) => a - b);

    // stderrLines keeps the last 5000 lines: count syncs by scanning what is new since last time.
    let seen = proxy.stderrLines.length;
    let lastLine = proxy.stderrLines.at(-1);
    const newLinesStart = (): number => {
      const lines = proxy.stderrLines;
      // Lines are dropped from the front when the buffer is full; find where we stopped.
      const idx = lastLine === undefined ? -1 : lines.lastIndexOf(lastLine);
      return idx >= 0 ? idx + 1 : Math.min(seen, lines.length);
    };

    const header =
      '| minute | RSS MiB | heap MiB | fds | churn svcs live | chains | sets+maps | elements | rules | syncs | sync p50 ms | p90 ms | p99 ms | max ms | steady svc answers |';
    const rule = `|${header
      .split('|')
      .slice(1, -1)
      .map(() => '---')
      .join('|')}|`;
    const rows: string[] = [];
    const print = (row: string) => {
      rows.push(row);
      console.log(row);
    };
    console.log(
      `soak: ${MODE} mode, ${MINUTES} min, a row every ${INTERVAL_S} s; slice rewritten every ${SLICE_MS} ms, ${CHURN} churn services (one created or deleted every ${TICK_MS} ms); proxy pid ${pid}`,
    );
    console.log(header);
    console.log(rule);

    const sample = async (label: string) => {
      const liveAtSample = live.size;
      const start = newLinesStart();
      const syncs = syncMs(start);
      seen = proxy.stderrLines.length;
      lastLine = proxy.stderrLines.at(-1);
      const [proc, heap, kernel, probes] = await Promise.all([
        procStats(pid),
        heapMiB(sandbox).catch(() => Number.NaN),
        kernelCounts(sandbox),
        sandbox.probe(
          'client',
          Array.from({ length: 10 }, () => ({
            proto: 'tcp' as const,
            dst: STEADY_IP,
            port: 80,
            timeoutMs: 1000,
          })),
        ),
      ]);
      const answered = probes.filter((r) => r.outcome === 'answer').length;
      print(
        `| ${label} | ${fmt(proc.rssMiB)} | ${fmt(heap)} | ${proc.fds} | ${liveAtSample} | ${kernel.chains} | ${kernel.sets} | ${kernel.elements} | ${kernel.rules} | ${syncs.length} | ${fmt(percentile(syncs, 50))} | ${fmt(percentile(syncs, 90))} | ${fmt(percentile(syncs, 99))} | ${fmt(syncs.at(-1) ?? Number.NaN)} | ${answered}/10 |`,
      );
    };

    await sample('0');
    const started = performance.now();
    const end = started + MINUTES * 60_000;
    for (let n = 1; performance.now() < end; n++) {
      const next = started + n * INTERVAL_S * 1000;
      const exited = await Promise.race([
        sleep(Math.max(0, next - performance.now())).then(() => false),
        proxy.exited.then(() => true),
      ]);
      if (exited) throw new Error(`the proxy exited during the soak:\n${proxy.tail()}`);
      await sample(fmt((n * INTERVAL_S) / 60, INTERVAL_S % 60 === 0 ? 0 : 1));
    }
    stop = true;
    await Promise.all([sliceLoop, serviceLoop]);
    console.log(
      `\nsoak: done; ${sliceWrites} slice rewrites, ${serviceChanges} service creations/deletions; the proxy logged ${proxy.stderrLines.filter((l) => l.startsWith('E')).length} error lines (of the last 5000)`,
    );
    const errors = [
      ...new Set(
        proxy.stderrLines.filter((l) => l.startsWith('E')).map((l) => l.replace(/^\S+ \S+\s+\d+ /, '')),
      ),
    ];
    for (const e of errors.slice(0, 10)) console.log(`  ${e}`);
    await proxy.stop();
  } finally {
    await sandbox.close();
    rmSync(dir, { recursive: true, force: true });
    unregister();
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
