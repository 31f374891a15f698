// `npm run bench` (as root): cold syncs, the nft floor, one-change latency and memory at several
// scales, each in a throwaway network namespace, plus the data-plane connection rate. Prints a table
// and writes JSON to bench/results/. Not part of the test suite: timings need a quiet machine.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jumpRuleArgs, jumpRules } from '../src/backends/iptables/ruleset.ts';
import { measureDataPlane } from './data-plane.ts';

const REPO = new URL('..', import.meta.url).pathname;
const NODE = join(REPO, 'node_modules/.bin/node');
const { values } = parseArgs({
  options: {
    scales: { type: 'string', default: '1000x10,10000x10,30000x4' },
    changes: { type: 'string', default: '100' },
    'changes-at': { type: 'string', default: '10000' },
    'data-plane': { type: 'string', default: '1,30000' },
    quick: { type: 'boolean', default: false },
    mode: { type: 'string', default: 'nftables' },
    // iptables mode: which iptables the node uses.
    variant: { type: 'string', default: 'nft' },
    // nftables mode: the writers to compare, side by side in this run.
    writers: { type: 'string', default: 'netlink,cli' },
  },
});
const MODE = values.mode;
if (MODE !== 'nftables' && MODE !== 'iptables' && MODE !== 'ipvs') {
  console.error(`bench: --mode nftables, iptables or ipvs, not ${MODE}`);
  process.exit(2);
}
/** The bare kernel tool applying a dumped script: the floor our sync is compared with. */
const FLOOR =
  MODE === 'iptables' ? [`iptables-${values.variant}-restore`, '-w', '5', '--noflush'] : ['nft', '-f'];
if (process.getuid?.() !== 0) {
  console.error('bench: run as root (it creates network namespaces and programs nftables inside them)');
  process.exit(1);
}

// The product's start-up environment (bin/kube-proxy-ts): Node's compile cache, which also keeps
// the type-stripped modules, so the measured process does not carry the TypeScript stripper. A
// tiny run fills the cache first.
const CHILD_ENV = { ...process.env, NODE_COMPILE_CACHE: join(REPO, '.cache/node-compile') };
spawnSync(NODE, ['--max-semi-space-size=2', join(REPO, 'bench/sync-child.ts'), '--warm-up'], {
  env: CHILD_ENV,
});

const nsNames: string[] = [];
function netns(): string {
  const name = `kpbench-${process.pid}-${nsNames.length}`;
  spawnSync('ip', ['netns', 'add', name], { stdio: 'inherit' });
  // lo up, as on a node: with lo down IPVS refuses every real server ("address not unicast").
  spawnSync('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up'], { stdio: 'inherit' });
  nsNames.push(name);
  return name;
}
function dropNetns(name: string): void {
  spawnSync('ip', ['netns', 'del', name]);
}
process.on('exit', () => {
  for (const n of nsNames) dropNetns(n);
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

interface ScaleResult {
  writer: string;
  services: number;
  endpoints: number;
  cold: {
    totalMs: number;
    computeMs: number;
    renderMs: number;
    applyMs: number;
    bytes: number;
    operations: number;
    ingestMs: number;
  };
  change?: { count: number; p50Ms: number; p99Ms: number; maxMs: number; operations: number };
  peakRssMiB: number;
  floorMs: number;
  changeFloorMs?: number;
  /** Netlink writer: the same batch sent alone on a netlink socket (the kernel's own time). */
  kernelFloorMs?: number;
  kernelChangeFloorMs?: number;
}

/** Sends a dumped netlink batch into the namespace on a fresh socket; ms of the send alone. */
function replayNetlink(ns: string, file: string): number {
  const r = spawnSync('ip', ['netns', 'exec', ns, NODE, join(REPO, 'bench/netlink-replay.ts'), file], {
    encoding: 'utf8',
    env: CHILD_ENV,
  });
  if (r.status !== 0) throw new Error(`netlink replay ${file} failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/** Applies a dumped sync with the bare tool (iptables mode: its restores DUMP.0, DUMP.1, … in order); ms. */
function replay(ns: string, dump: string): number {
  // IPVS mode: the same virtual and real servers restored by ipvsadm (IPVS is the bulk of a sync).
  if (MODE === 'ipvs') {
    const t0 = performance.now();
    const r = spawnSync(
      'ip',
      ['netns', 'exec', ns, 'sh', '-c', 'ipvsadm -R < "$1"', 'sh', `${dump}.ipvsadm`],
      {
        encoding: 'utf8',
      },
    );
    if (r.status !== 0) {
      process.stderr.write(`bench: ipvsadm -R ${dump}.ipvsadm failed (no floor): ${r.stderr}\n`);
      return Number.NaN;
    }
    return performance.now() - t0;
  }
  const files = MODE === 'iptables' ? [...Array(100_000).keys()].map((i) => `${dump}.${i}`) : [dump];
  let ms = 0;
  for (const f of files) {
    if (!existsSync(f)) break;
    const t0 = performance.now();
    const r = spawnSync('ip', ['netns', 'exec', ns, ...FLOOR, f], { encoding: 'utf8' });
    ms += performance.now() - t0;
    if (r.status !== 0) throw new Error(`${FLOOR.join(' ')} ${f} failed: ${r.stderr}`);
  }
  return ms;
}

function runScale(services: number, endpoints: number, changes: number, writer: string): ScaleResult {
  const dir = mkdtempSync(join(tmpdir(), 'kpbench-'));
  const dump = join(dir, 'cold.nft');
  const dumpChange = join(dir, 'change.nft');
  try {
    const ns = netns();
    const child = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        ns,
        NODE,
        // The same V8 flags as bin/kube-proxy-ts, so the numbers are the product's.
        '--max-semi-space-size=2',
        join(REPO, 'bench/sync-child.ts'),
        '--services',
        String(services),
        '--endpoints',
        String(endpoints),
        '--changes',
        String(changes),
        '--dump',
        dump,
        '--dump-change',
        dumpChange,
        '--mode',
        MODE,
        '--variant',
        values.variant,
        '--writer',
        writer,
      ],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: CHILD_ENV },
    );
    dropNetns(ns);
    if (child.status !== 0) throw new Error(`sync-child failed: ${child.stderr}`);
    const result = JSON.parse(child.stdout) as Omit<ScaleResult, 'floorMs' | 'writer'>;
    const netlink = MODE === 'nftables' && writer === 'netlink';
    let kernelFloorMs: number | undefined;
    let kernelChangeFloorMs: number | undefined;
    if (netlink) {
      const kernelNs = netns();
      kernelFloorMs = replayNetlink(kernelNs, `${dump}.bin`);
      if (changes > 0) kernelChangeFloorMs = replayNetlink(kernelNs, `${dumpChange}.bin`);
      dropNetns(kernelNs);
    }
    // The floor: the same script applied by nft alone into an empty namespace.
    const floorNs = netns();
    const floorMs = replay(floorNs, dump);
    // The proxy's jump rules from the built-in chains (not timed): with them in place the kernel
    // validates every chain reachable from a hook on each commit, which a change pays for.
    if (MODE === 'iptables') {
      const ipt = (...args: string[]) =>
        spawnSync('ip', ['netns', 'exec', floorNs, `iptables-${values.variant}`, '-w', '5', ...args], {
          encoding: 'utf8',
        });
      for (const j of jumpRules()) {
        ipt('-t', j.table, '-N', j.target);
        const r = ipt('-t', j.table, '-I', j.chain, ...jumpRuleArgs(j));
        if (r.status !== 0) throw new Error(`jump rule ${j.chain} -> ${j.target}: ${r.stderr}`);
      }
    }
    // The one-change floor: the first change's script applied alone on top of the cold ruleset.
    let changeFloorMs: number | undefined;
    if (changes > 0) {
      changeFloorMs = replay(floorNs, dumpChange);
    }
    dropNetns(floorNs);
    return {
      ...result,
      writer: MODE === 'nftables' ? writer : MODE === 'ipvs' ? 'ipvs netlink' : `iptables-${values.variant}`,
      floorMs,
      ...(changeFloorMs !== undefined && { changeFloorMs }),
      ...(kernelFloorMs !== undefined && { kernelFloorMs }),
      ...(kernelChangeFloorMs !== undefined && { kernelChangeFloorMs }),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    void statSync;
  }
}

const scales =
  values.scales === ''
    ? []
    : values.scales.split(',').map((s) => s.split('x').map(Number) as [number, number]);
const results: ScaleResult[] = [];
const writers = MODE === 'nftables' ? values.writers.split(',') : ['-'];
for (const w of writers)
  if (MODE === 'nftables' && w !== 'netlink' && w !== 'cli') {
    console.error(`bench: --writers netlink and/or cli, not ${w}`);
    process.exit(2);
  }
for (const [services, endpoints] of scales) {
  const changes = services === Number(values['changes-at']) ? Number(values.changes) : 0;
  for (const writer of writers) {
    process.stderr.write(
      `bench (${MODE}${MODE === 'iptables' ? `, ${values.variant}` : `, ${writer} writer`}): ${services} services x ${endpoints} endpoints ...\n`,
    );
    results.push(runScale(services, endpoints, changes, writer));
  }
}
// The data-plane probe builds its namespaces with nftables; IPVS mode runs in a guest kernel without them.
const dataPlaneScales =
  values['data-plane'] === '' || MODE === 'ipvs' ? [] : values['data-plane'].split(',').map(Number);
const dataPlane = [];
for (const n of dataPlaneScales) {
  process.stderr.write(`bench: data plane with ${n} services programmed ...\n`);
  dataPlane.push(await measureDataPlane(n, values.quick ? 3 : 8, MODE as 'nftables' | 'iptables'));
}

const f = (n: number, d = 0) => n.toFixed(d);
const rows = [
  [
    'scale',
    'writer',
    'cold total ms',
    'compute ms',
    MODE === 'iptables' ? 'render ms' : 'render/encode ms',
    MODE === 'iptables' ? 'restore ms' : MODE === 'ipvs' ? 'IPVS apply ms' : 'apply ms',
    'MB sent',
    MODE === 'iptables' ? 'restore floor ms' : MODE === 'ipvs' ? 'ipvsadm -R floor ms' : 'nft -f floor ms',
    'kernel floor ms',
    'peak RSS MiB',
    'change p50/p99 ms',
    'change nft -f / kernel floor ms',
    'change ops',
  ],
  ...results.map((r) => [
    `${r.services}x${r.endpoints}`,
    r.writer,
    f(r.cold.totalMs),
    f(r.cold.computeMs),
    f(r.cold.renderMs),
    f(r.cold.applyMs),
    f(r.cold.bytes / 1e6, 1),
    f(r.floorMs),
    r.kernelFloorMs !== undefined ? f(r.kernelFloorMs) : '-',
    f(r.peakRssMiB),
    r.change ? `${f(r.change.p50Ms, 1)}/${f(r.change.p99Ms, 1)}` : '-',
    `${r.changeFloorMs !== undefined ? f(r.changeFloorMs, 1) : '-'} / ${r.kernelChangeFloorMs !== undefined ? f(r.kernelChangeFloorMs, 1) : '-'}`,
    r.change ? String(r.change.operations) : '-',
  ]),
];
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
if (dataPlane.length) {
  console.log('');
  for (const d of dataPlane)
    console.log(
      `data plane: ${d.services} services programmed: ${f(d.connectionsPerSecond)} new TCP connections/s through one ClusterIP`,
    );
  if (dataPlane.length >= 2)
    console.log(
      `data plane ratio (largest/smallest): ${f(dataPlane.at(-1)!.connectionsPerSecond / dataPlane[0]!.connectionsPerSecond, 3)}`,
    );
}
// KPTS_BENCH_RESULTS: another directory (the UML guest sees the checkout read-only).
const resultsDir = process.env.KPTS_BENCH_RESULTS ?? join(REPO, 'bench/results');
mkdirSync(resultsDir, { recursive: true });
const out = join(resultsDir, `bench-${new Date().toISOString().replaceAll(':', '-')}.json`);
writeFileSync(
  out,
  `${JSON.stringify({ date: new Date().toISOString(), mode: MODE, results, dataPlane }, null, 2)}\n`,
);
console.log(`\nresults: ${out}`);
