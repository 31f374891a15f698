// One benchmark run inside a throwaway network namespace (started by bench/run.ts): a cold sync of
// a synthetic cluster into the real kernel (nftables or iptables mode), then a series of
// one-EndpointSlice changes. Prints JSON.
import { appendFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { IptablesProxier } from '../src/backends/iptables/proxier.ts';
import { IpvsProxier } from '../src/backends/ipvs/proxier.ts';
import { NftablesProxier } from '../src/backends/nftables/proxier.ts';
import { ProcessExecer } from '../src/kernel/exec.ts';
import { IpsetCli } from '../src/kernel/ipset/ipset.ts';
import { IptablesCli, type IptablesTable } from '../src/kernel/iptables/iptables.ts';
import { IpvsNetlink } from '../src/kernel/ipvs/netlink.ts';
import type {
  Ipvs,
  IpvsOp,
  IpvsOpFailure,
  IpvsTimeouts,
  RealServer,
  VirtualServer,
} from '../src/kernel/ipvs/types.ts';
import { IpRouteCli } from '../src/kernel/links.ts';
import { NftNetlink } from '../src/kernel/nft/netlink/writer.ts';
import { type Nftables, NftCli } from '../src/kernel/nft/nftables.ts';
import type { Transaction } from '../src/kernel/nft/transaction.ts';
import { silentLogger } from '../src/log/logger.ts';
import { detectLocalByCIDR } from '../src/proxy/local-detector.ts';
import { realClock } from '../src/util/clock.ts';
import {
  BENCH_NODE,
  BENCH_POD_CIDR,
  BENCH_SERVICE_CIDR,
  syntheticCluster,
  syntheticSlice,
} from './synthetic.ts';

const { values } = parseArgs({
  options: {
    services: { type: 'string' },
    endpoints: { type: 'string' },
    changes: { type: 'string', default: '0' },
    dump: { type: 'string' },
    'dump-change': { type: 'string' },
    mode: { type: 'string', default: 'nftables' },
    variant: { type: 'string', default: 'nft' },
    // nftables mode: how the transaction reaches the kernel.
    writer: { type: 'string', default: 'netlink' },
    // Loads the modules and exits (fills Node's compile cache; see bench/run.ts).
    'warm-up': { type: 'boolean', default: false },
  },
});
if (values['warm-up']) process.exit(0);
const services = Number(values.services);
const endpoints = Number(values.endpoints);
const changes = Number(values.changes);

/** Measures what the proxier hands to nft: render time, script size, apply time. */
class MeasuringNftables implements Nftables {
  readonly #cli = new NftCli(new ProcessExecer());
  last = { renderMs: 0, applyMs: 0, bytes: 0, operations: 0 };
  dumpNext: string | undefined;
  async run(tx: Transaction): Promise<void> {
    // Stream the script into nft as the proxier does, timing the rendering and copying the
    // chunks to the dump file on the way.
    const dump = this.dumpNext;
    this.dumpNext = undefined;
    if (dump) writeFileSync(dump, '');
    let renderMs = 0;
    let bytes = 0;
    const chunks = (function* () {
      const it = tx.renderChunks();
      for (;;) {
        const t = performance.now();
        const next = it.next();
        renderMs += performance.now() - t;
        if (next.done) return;
        bytes += next.value.length;
        if (dump) appendFileSync(dump, next.value);
        yield next.value;
      }
    })();
    const t0 = performance.now();
    await this.#cli.runChunks(chunks);
    this.last = { renderMs, applyMs: performance.now() - t0 - renderMs, bytes, operations: tx.numOperations };
  }
  check(tx: Transaction) {
    return this.#cli.check(tx);
  }
  hasTable(f: 'ip' | 'ip6', t: string) {
    return this.#cli.hasTable(f, t);
  }
  list(f: 'ip' | 'ip6', t: string, k: 'chains' | 'sets' | 'maps') {
    return this.#cli.list(f, t, k);
  }
  tableCounts(f: 'ip' | 'ip6', t: string) {
    return this.#cli.tableCounts(f, t);
  }
  listElements(f: 'ip' | 'ip6', t: string, m: string) {
    return this.#cli.listElements(f, t, m);
  }
}

/**
 * The netlink writer, measured: encoding the batch counts as rendering, its send as applying. A
 * dumped sync is the nft text (for the nft floor) and the batch bytes (DUMP.bin, for the kernel floor).
 */
class MeasuringNetlink extends NftNetlink {
  last = { renderMs: 0, applyMs: 0, bytes: 0, operations: 0 };
  dumpNext: string | undefined;
  override async run(tx: Transaction): Promise<void> {
    const dump = this.dumpNext;
    this.dumpNext = undefined;
    const t0 = performance.now();
    const batch = await this.encode(tx);
    const renderMs = performance.now() - t0;
    if (dump) {
      writeFileSync(dump, tx.render());
      writeFileSync(`${dump}.bin`, batch.bytes);
    }
    const t1 = performance.now();
    await this.send(batch);
    this.last = {
      renderMs,
      applyMs: performance.now() - t1,
      bytes: batch.bytes.length,
      operations: tx.numOperations,
    };
  }
}

/**
 * Measures what the proxier hands to iptables-restore over one sync (one or more restores): input
 * size and apply time (rendering counts as compute). A dumped sync is one file per restore,
 * DUMP.0, DUMP.1, …, which the floor replays in order.
 */
class MeasuringIptables extends IptablesCli {
  last = { renderMs: 0, applyMs: 0, bytes: 0, operations: 0 };
  dumpNext: string | undefined;
  #dump: string | undefined;
  #parts = 0;
  beginSync(): void {
    this.#dump = this.dumpNext;
    this.dumpNext = undefined;
    this.#parts = 0;
    this.last = { renderMs: 0, applyMs: 0, bytes: 0, operations: 0 };
  }
  override async restore(input: string, opts?: { counters?: boolean }): Promise<void> {
    if (this.#dump) writeFileSync(`${this.#dump}.${this.#parts}`, input);
    this.#parts++;
    const t0 = performance.now();
    await super.restore(input, opts);
    let lines = 0;
    for (let i = input.indexOf('\n-'); i >= 0; i = input.indexOf('\n-', i + 1)) lines++;
    this.last.applyMs += performance.now() - t0;
    this.last.bytes += input.length;
    this.last.operations += lines;
  }
  override save(table: IptablesTable): Promise<string> {
    return super.save(table);
  }
}

/** ipvsadm's own notation of an operation, for the `ipvsadm -R` floor. */
function ipvsadmLine(op: IpvsOp): string {
  const proto = { TCP: '-t', UDP: '-u', SCTP: '--sctp-service' }[op.vs.protocol];
  const vip = op.vs.family === 'IPv6' ? `[${op.vs.address}]:${op.vs.port}` : `${op.vs.address}:${op.vs.port}`;
  if (!('rs' in op)) {
    const verb = op.op === 'add-service' ? '-A' : op.op === 'update-service' ? '-E' : '-D';
    const persist = op.vs.flags & 1 ? ` -p ${op.vs.timeout}` : '';
    return verb === '-D' ? `-D ${proto} ${vip}` : `${verb} ${proto} ${vip} -s ${op.vs.scheduler}${persist}`;
  }
  const rip = op.vs.family === 'IPv6' ? `[${op.rs.address}]:${op.rs.port}` : `${op.rs.address}:${op.rs.port}`;
  if (op.op === 'delete-dest') return `-d ${proto} ${vip} -r ${rip}`;
  return `${op.op === 'add-dest' ? '-a' : '-e'} ${proto} ${vip} -r ${rip} -m -w ${op.rs.weight}`;
}

/**
 * IPVS over netlink, measured: the time of its changes is the apply time; a dumped sync is the
 * changes in ipvsadm's notation (DUMP.ipvsadm), for the floor.
 */
class MeasuringIpvs implements Ipvs {
  readonly #inner: Ipvs;
  last = { renderMs: 0, applyMs: 0, bytes: 0, operations: 0 };
  dumpNext: string | undefined;
  constructor(inner: Ipvs) {
    this.#inner = inner;
  }
  beginSync(): void {
    this.last = { renderMs: 0, applyMs: 0, bytes: 0, operations: 0 };
  }
  virtualServers(): Promise<VirtualServer[]> {
    return this.#inner.virtualServers();
  }
  realServers(vs: VirtualServer): Promise<RealServer[]> {
    return this.#inner.realServers(vs);
  }
  async apply(ops: readonly IpvsOp[]): Promise<IpvsOpFailure[]> {
    if (this.dumpNext) writeFileSync(`${this.dumpNext}.ipvsadm`, `${ops.map(ipvsadmLine).join('\n')}\n`);
    this.dumpNext = undefined;
    const t0 = performance.now();
    const failures = await this.#inner.apply(ops);
    this.last.applyMs += performance.now() - t0;
    this.last.operations += ops.length;
    // The proxier only logs a refused change (and resyncs): a benchmark of refused changes is void.
    if (failures.length > 0)
      throw new Error(
        `IPVS refused ${failures.length} of ${ops.length} changes, e.g. ${failures[0]!.error.message}`,
      );
    return failures;
  }
  flush(): Promise<void> {
    return this.#inner.flush();
  }
  configureTimeouts(t: IpvsTimeouts): Promise<void> {
    return this.#inner.configureTimeouts(t);
  }
  close(): void {
    this.#inner.close();
  }
}

const mode = values.mode;
if (mode !== 'nftables' && mode !== 'iptables' && mode !== 'ipvs')
  throw new Error(`--mode: nftables, iptables or ipvs, not ${mode}`);
if (mode === 'nftables' && values.writer !== 'netlink' && values.writer !== 'cli')
  throw new Error('--writer: netlink or cli');
const nft = values.writer === 'netlink' ? new MeasuringNetlink() : new MeasuringNftables();
if (values.variant !== 'nft' && values.variant !== 'legacy') throw new Error(`--variant: nft or legacy`);
const ipt = new MeasuringIptables(new ProcessExecer(), 'IPv4', values.variant);
const ipvs = mode === 'ipvs' ? new MeasuringIpvs(await IpvsNetlink.open()) : undefined;
const kernel = mode === 'iptables' ? ipt : (ipvs ?? nft);
kernel.dumpNext = values.dump;
let failed: unknown;
const core = {
  family: 'IPv4' as const,
  hostname: BENCH_NODE,
  logger: silentLogger,
  minSyncPeriodMs: 0,
  syncPeriodMs: 30_000,
  masqueradeAll: false,
  masqueradeBit: 14,
  localDetector: detectLocalByCIDR(BENCH_POD_CIDR),
  nodePortAddresses: ['primary'],
  localAddresses: () => [],
  // The benchmark drives syncs itself: no timers; time runs (stale chains go after their grace period).
  clock: { ...realClock, setTimeout: () => ({}), clearTimeout: () => {} },
  observer: { failed: (_f: unknown, err: unknown) => (failed = err) },
};
const proxier = ipvs
  ? new IpvsProxier({
      ...core,
      ipvs,
      ipsets: new IpsetCli(new ProcessExecer()),
      links: new IpRouteCli(new ProcessExecer()),
      iptables: ipt,
      scheduler: '',
      excludeCIDRs: [],
    })
  : mode === 'iptables'
    ? new IptablesProxier({ ...core, iptables: ipt, localhostNodePorts: true, monitorCanaries: false })
    : new NftablesProxier({ ...core, nft });

const cluster = syntheticCluster(services, endpoints);
const t0 = performance.now();
proxier.onNodeAdd({
  metadata: { name: BENCH_NODE },
  status: { addresses: [{ type: 'InternalIP', address: '198.19.255.2' }] },
});
proxier.onServiceCIDRsChanged([BENCH_SERVICE_CIDR]);
for (const s of cluster.services) proxier.onServiceAdd(s);
for (const s of cluster.slices) proxier.onEndpointSliceAdd(s);
proxier.onServicesSynced();
proxier.onEndpointSlicesSynced();
const ingestMs = performance.now() - t0;
const t1 = performance.now();
if (mode === 'iptables') ipt.beginSync();
ipvs?.beginSync();
await proxier.syncProxyRules();
const coldMs = performance.now() - t1;
if (failed) throw failed;
const cold = {
  ...kernel.last,
  totalMs: coldMs,
  computeMs: coldMs - kernel.last.applyMs - kernel.last.renderMs,
  ingestMs,
};

const changeTimes: number[] = [];
const changeOps: number[] = [];
for (let k = 0; k < changes; k++) {
  const i = (k * 7919) % services;
  const before = syntheticSlice(i, endpoints, k);
  const after = syntheticSlice(i, endpoints, k + 1);
  const start = performance.now();
  proxier.onEndpointSliceUpdate(before, after);
  if (k === 0) kernel.dumpNext = values['dump-change'];
  if (mode === 'iptables') ipt.beginSync();
  ipvs?.beginSync();
  await proxier.syncProxyRules();
  changeTimes.push(performance.now() - start);
  changeOps.push(kernel.last.operations);
  if (failed) throw failed;
}
await proxier.close();
const sorted = [...changeTimes].sort((a, b) => a - b);
const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
process.stdout.write(
  `${JSON.stringify({
    services,
    endpoints,
    cold,
    change: changes
      ? { count: changes, p50Ms: pct(50), p99Ms: pct(99), maxMs: sorted.at(-1), operations: changeOps[0] }
      : undefined,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  })}\n`,
);
