// The project's main job on the bundled example: a sandbox node whose pods match examples/, the
// proxy programming it, and live traffic from an off-cluster client and from a pod to every
// service, tallied per backend. Needs root; touches only namespaces it creates.
//
//   node scripts/demo.ts [--duration SECONDS] [--manifests DIR] [--proxy-mode nftables|iptables] [--proxy-bin PATH]
//
// Exits 1 when a service with endpoints was never answered by all of them (or the proxy died).
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readObjects, type Target, workloadFrom } from '../src/sandbox/example-workload.ts';
import type { FlowResult } from '../src/sandbox/flows.ts';
import type { ProxyProcess } from '../src/sandbox/proxy.ts';
import { createSandbox, type PodSpec, type Sandbox } from '../src/sandbox/topology.ts';
import { TrafficTally } from '../src/sandbox/traffic-table.ts';

const FLOWS_PER_ROUND = 10;
const DROP_TIMEOUT_MS = 700;
const ROUND_MS = 1000;
const ORIGINS = ['client', 'probe-pod'];

const { values } = parseArgs({
  options: {
    duration: { type: 'string' },
    manifests: { type: 'string', default: 'examples' },
    'proxy-bin': { type: 'string' },
    'proxy-mode': { type: 'string', default: 'nftables' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write(
    'usage: node scripts/demo.ts [--duration SECONDS] [--manifests DIR] [--proxy-mode nftables|iptables] [--proxy-bin PATH]\n',
  );
  process.exit(0);
}
const durationMs = values.duration === undefined ? Number.POSITIVE_INFINITY : Number(values.duration) * 1000;
if (!(durationMs > 0)) {
  process.stderr.write(`demo: --duration wants a positive number of seconds, got ${values.duration}\n`);
  process.exit(2);
}
const mode = values['proxy-mode'];
if (mode !== 'nftables' && mode !== 'iptables') {
  process.stderr.write(`demo: --proxy-mode wants nftables or iptables, got ${mode}\n`);
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  process.stderr.write('demo: needs root (it builds network namespaces and programs rules inside them)\n');
  process.exit(1);
}

const manifestDir = resolve(values.manifests);
const workload = workloadFrom(await readObjects(manifestDir));
const probePod: PodSpec = { name: 'probe-pod', ip: freePodIP(workload.pods), ports: [] };
const tty = process.stdout.isTTY;

let stopping = false;
let wake = (): void => {};
const onSignal = (): void => {
  // A second Ctrl-C does not wait for a graceful stop; the exit hook still deletes the namespaces.
  if (stopping) process.exit(130);
  stopping = true;
  wake();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const tally = new TrafficTally();
let failure: string | undefined;
const sandbox = await createSandbox({ prefix: 'kpdemo', pods: [...workload.pods, probePod] });
let proxy: ProxyProcess | undefined;
try {
  proxy = sandbox.startProxy(
    [
      '--proxy-mode',
      mode,
      '--manifests',
      manifestDir,
      '--hostname-override',
      'node-a',
      '--cluster-cidr',
      '198.18.0.0/16',
    ],
    values['proxy-bin'] === undefined ? {} : { bin: resolve(values['proxy-bin']) },
  );
  void proxy.exited.then((s) => {
    if (!stopping) failure = `kube-proxy-ts exited early (code ${s.code}, signal ${s.signal})`;
    wake();
  });
  await programmed(sandbox, 10_000);
  const deadline = performance.now() + durationMs;
  while (!stopping && failure === undefined && performance.now() < deadline) {
    const started = performance.now();
    await Promise.all(ORIGINS.map((from) => round(sandbox, from, workload.targets)));
    tally.rounds++;
    show(proxy);
    await pause(Math.min(ROUND_MS - (performance.now() - started), deadline - performance.now()));
  }
} finally {
  stopping = true;
  await proxy?.stop();
  await sandbox.close();
}

const problems = failure ? [failure] : tally.problems();
process.stdout.write(`\n${tally.render()}\n\n`);
if (failure && proxy) process.stdout.write(`proxy output:\n${proxy.tail(30)}\n\n`);
process.stdout.write(
  problems.length === 0
    ? `OK: every service with endpoints was balanced over all of them (${tally.rounds} rounds)\n`
    : `FAILED:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`,
);
process.exitCode = problems.length === 0 ? 0 : 1;

async function round(sb: Sandbox, from: string, targets: readonly Target[]): Promise<void> {
  const flows = targets.flatMap((t) =>
    Array.from({ length: FLOWS_PER_ROUND }, () => ({ ...t.flow, timeoutMs: DROP_TIMEOUT_MS })),
  );
  let results: FlowResult[];
  try {
    results = await sb.probe(from, flows);
  } catch (err) {
    if (stopping) return;
    throw err;
  }
  targets.forEach((t, i) => {
    tally.add(t, from, results.slice(i * FLOWS_PER_ROUND, (i + 1) * FLOWS_PER_ROUND));
  });
}

function show(p: ProxyProcess): void {
  if (!tty) {
    const last = tally.rows.map((r) => r.last);
    const sum = (f: (d: (typeof last)[number]) => number): number => last.reduce((a, d) => a + f(d), 0);
    process.stdout.write(
      `round ${tally.rounds}: ${sum((d) => d.total)} flows, ` +
        `${sum((d) => d.total - d.reject - d.drop - d.error)} answered, ` +
        `${sum((d) => d.reject)} rejected, ${sum((d) => d.drop)} dropped, ${sum((d) => d.error)} errors\n`,
    );
    return;
  }
  const header =
    `kube-proxy-ts demo: sandbox ${sandbox.id}, manifests ${manifestDir}, round ${tally.rounds}` +
    ` (${FLOWS_PER_ROUND} flows per service and origin per round; Ctrl-C stops)`;
  const logs = p.stderrLines.slice(-5).map((l) => `  ${l.slice(0, 160)}`);
  process.stdout.write(`\x1b[H\x1b[J${header}\n\n${tally.render()}\n\nproxy log:\n${logs.join('\n')}\n`);
}

/** Waits for the proxy's table so the first round measures the rules, not the start-up. */
async function programmed(sb: Sandbox, timeoutMs: number): Promise<void> {
  process.stdout.write('waiting for kube-proxy-ts to program table ip kube-proxy ...\n');
  const deadline = performance.now() + timeoutMs;
  while (!stopping && failure === undefined && performance.now() < deadline) {
    const ok = await sb.nft(['list', 'table', 'ip', 'kube-proxy']).then(
      () => true,
      () => false,
    );
    if (ok) return;
    await pause(100);
  }
  if (failure === undefined && !stopping)
    process.stdout.write(`no table after ${timeoutMs} ms; probing anyway\n`);
}

function pause(ms: number): Promise<void> {
  if (!(ms > 0) || stopping) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    wake = () => {
      clearTimeout(timer);
      done();
    };
  });
}

function freePodIP(pods: readonly PodSpec[]): string {
  for (let host = 250; host > 1; host--) {
    const ip = `198.18.1.${host}`;
    if (!pods.some((p) => p.ip === ip)) return ip;
  }
  throw new Error('no free pod IP in 198.18.1.0/24 for the probe pod');
}
