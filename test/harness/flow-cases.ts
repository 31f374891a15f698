// Upstream's packet-flow tables (§3d, see test/kernel/README.md) played as real traffic. A case reads
// like an upstream row — source, destination, port, expected output, masquerade — with IPv4
// addresses; it runs once per family (IPv6 via v6Of). Outcomes are observed, never rule texts:
//
//   output "a:p, b:p"  every flow answered, by exactly the pods holding a, b (each at least once)
//   output "REJECT"    refused (ICMP unreachable), output "DROP": silence until the timeout
//   output ""          no kube-proxy rule matched: the node's own echo server ("host") answered
//   masq               false: backends saw the client's own address; true: they saw the node's
//                      address facing them (pod bridge for local pods, remote link for remote ones);
//                      "hairpin": only the source pod itself, when it answers, sees the node's address
//
// The source picks the namespace the flow starts in: a pod's address → that pod, a client address
// → the client, anything else → the node itself, bound to that address.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { canonical, FAMILIES, type Family, inFamily } from '../../src/sandbox/addresses.ts';
import type { Flow, FlowResult } from '../../src/sandbox/flows.ts';
import { HOST_ECHO_NAME } from '../../src/sandbox/topology.ts';
import type { FlowCase } from '../support/flow-table.ts';
import { PROXY_MODE } from './mode.ts';
import type { ProxyEnv } from './proxy-env.ts';
import { TIME_SCALE } from './wait.ts';

// The table format is the tracer tests' too (test/support/flow-table.ts).
export type { FlowCase, Masq, Row } from '../support/flow-table.ts';
export { overrideRows, rows } from '../support/flow-table.ts';

export interface RunOptions {
  families?: readonly Family[];
  /** Flows per answered case and round (default: 8 per expected endpoint, at least 12). */
  flowsPerCase?: number;
  /** Rounds for answered cases to show every expected endpoint (default 4). */
  rounds?: number;
  /** Silence that counts as DROP (default 700 ms; 1500 ms for TCP over IPv6, see below). */
  dropTimeoutMs?: number;
  /** Names shown before each case (e.g. the proxy variant). */
  label?: string;
}

// Scaled in the UML guest (wait.ts): there a probe spawns its SCTP clients ~0.1 s apart and every
// answer forks a shell on the backend. Silence that means DROP is not scaled: it only gets slower.
const ANSWER_TIMEOUT_MS = 3000 * TIME_SCALE;
// A TCP SYN over IPv6 that is refused within the sandbox is usually answered while connect() still
// holds the socket lock, and the kernel drops that ICMPv6 error (TcpExtLockDroppedIcmps): the
// refusal only lands with the SYN retransmit, ~1 s later. So IPv6 TCP silence is only a DROP
// after 1.5 s; IPv4 and UDP refusals arrive within milliseconds.
const IPV6_TCP_DROP_TIMEOUT_MS = 1500;

interface Planned {
  c: FlowCase;
  family: Family;
  from: string;
  flow: Flow;
  kind: 'answer' | 'REJECT' | 'DROP' | 'host';
  /** Pod names expected to answer (answer cases). */
  pods: string[];
  results: FlowResult[];
  /** Failure, set as soon as one is seen. */
  problem?: string;
}

/** The namespace a flow from `src` starts in: the pod holding it, the off-cluster client, or the node. */
export function originOf(env: ProxyEnv, src: string): string {
  const sb = env.sandbox;
  const pod = sb.podByIP(src);
  if (pod) return pod.name;
  const family = src.includes(':') ? 'IPv6' : 'IPv4';
  const plan = sb.plans[family];
  const client = [plan.clientIP, plan.secondaryClientIP, plan.externalClientIP, plan.blockedClientIP];
  return client.includes(canonical(src)) ? 'client' : 'node';
}

/** The address in `family`: IPv4 loopback maps to ::1, sandbox IPv4 addresses to their twins. */
function addr(ip: string, family: Family): string {
  if (ip === '127.0.0.1') return family === 'IPv4' ? ip : '::1';
  return inFamily(ip, family);
}

function plan(env: ProxyEnv, c: FlowCase, family: Family, opts: RunOptions): Planned {
  const src = addr(c.src, family);
  const dst = addr(c.dst, family);
  const from = originOf(env, src);
  let kind: Planned['kind'];
  let pods: string[] = [];
  if (c.output === 'REJECT' || c.output === 'DROP') kind = c.output;
  else if (c.output === '') kind = 'host';
  else {
    kind = 'answer';
    pods = c.output.split(',').map((s) => {
      const ip = s.trim().replace(/:\d+$/, '');
      const pod = env.sandbox.podByIP(addr(ip, family));
      if (!pod) throw new Error(`${c.name}: no sandbox pod holds ${ip} (${family})`);
      return pod.name;
    });
  }
  const slowReject = family === 'IPv6' && (c.proto ?? 'tcp') === 'tcp';
  const timeoutMs =
    kind === 'DROP'
      ? (opts.dropTimeoutMs ?? (slowReject ? IPV6_TCP_DROP_TIMEOUT_MS : 700))
      : ANSWER_TIMEOUT_MS;
  return {
    c,
    family,
    from,
    kind,
    pods,
    results: [],
    flow: { proto: c.proto ?? 'tcp', dst, port: c.port, src, timeoutMs },
  };
}

function flowsFor(p: Planned, opts: RunOptions): number {
  if (p.kind !== 'answer') return 2;
  return opts.flowsPerCase ?? Math.max(12, 8 * p.pods.length);
}

function describe(rs: readonly FlowResult[]): string {
  const tally = new Map<string, number>();
  for (const r of rs) {
    const key =
      r.outcome === 'answer'
        ? `answer ${r.pod} saw ${r.sawSource}`
        : `${r.outcome}${r.code ? ` ${r.code}` : ''}`;
    tally.set(key, (tally.get(key) ?? 0) + 1);
  }
  return [...tally].map(([k, n]) => `${n}× ${k}`).join('; ');
}

/** Checks the new results of one case; returns true when it needs another round. */
function judge(env: ProxyEnv, p: Planned, fresh: readonly FlowResult[]): boolean {
  p.results.push(...fresh);
  const src = canonical(p.flow.src!);
  for (const r of fresh) {
    if (p.kind === 'REJECT' || p.kind === 'DROP') {
      if (r.outcome !== p.kind.toLowerCase()) p.problem = `want ${p.kind}`;
      continue;
    }
    if (r.outcome !== 'answer') {
      p.problem = `want an answer${p.kind === 'host' ? ' from the node itself' : ''}`;
      continue;
    }
    if (p.kind === 'host') {
      if (r.pod !== HOST_ECHO_NAME) p.problem = 'want the node itself (no service rule) to answer';
      continue;
    }
    if (!p.pods.includes(r.pod!)) {
      p.problem = `answered by ${r.pod}, want only ${p.pods.join(', ')}`;
      continue;
    }
    const masq = p.c.masq === 'hairpin' ? env.sandbox.podByIP(src)?.name === r.pod : (p.c.masq ?? false);
    const want = masq ? env.sandbox.masqueradeSource(r.pod!, p.family) : src;
    if (canonical(r.sawSource!) !== want) {
      p.problem = `${r.pod} saw source ${r.sawSource}, want ${want} (masq ${String(p.c.masq ?? false)})`;
    }
  }
  if (p.problem || p.kind !== 'answer') return false;
  const seen = new Set(p.results.map((r) => r.pod));
  return p.pods.some((pod) => !seen.has(pod));
}

/**
 * Runs every case for every family: one probe process per origin namespace and round, all
 * origins at once. Then one subtest per case and family reports what was seen.
 */
export async function runFlowCases(
  t: TestContext,
  env: ProxyEnv,
  cases: readonly FlowCase[],
  opts: RunOptions = {},
): Promise<void> {
  const families = opts.families ?? FAMILIES;
  const planned = families.flatMap((f) => cases.map((c) => plan(env, c, f, opts)));
  let pending = planned;
  const rounds = opts.rounds ?? 4;
  for (let round = 0; round < rounds && pending.length > 0; round++) {
    const byOrigin = new Map<string, Planned[]>();
    for (const p of pending) byOrigin.set(p.from, [...(byOrigin.get(p.from) ?? []), p]);
    const again: Planned[] = [];
    await Promise.all(
      [...byOrigin].map(async ([from, list]) => {
        const flows: Flow[] = [];
        const owners: Planned[] = [];
        for (const p of list) {
          for (let i = 0; i < flowsFor(p, opts); i++) {
            flows.push(p.flow);
            owners.push(p);
          }
        }
        const results = await env.sandbox.probe(from, flows);
        for (const p of list) {
          if (
            judge(
              env,
              p,
              results.filter((_, i) => owners[i] === p),
            )
          )
            again.push(p);
        }
      }),
    );
    pending = again;
  }
  for (const p of pending) p.problem ??= `not every expected endpoint answered in ${rounds} rounds`;

  // KPTS_TEST_EXPLAIN=1: what `explain packet` says of each passed case (crossCheck, below).
  const explained = process.env.KPTS_TEST_EXPLAIN === '1' ? await crossCheck(env, planned) : new Map();
  // The proxy's output and the ruleset go with the first failure only: they are long.
  const firstFailed = planned.find((p) => p.problem !== undefined);
  const context = firstFailed ? await env.context() : '';
  for (const p of planned) {
    const label = `${opts.label ? `${opts.label} ` : ''}[${p.family}] ${p.c.name}`;
    await t.test(label, () => {
      const what = `${p.flow.proto} ${p.flow.src} → ${p.flow.dst}:${p.flow.port} from ${p.from}: ${describe(p.results)}`;
      assert.equal(p.problem, undefined, `${p.problem}\n  ${what}${p === firstFailed ? context : ''}`);
    });
    const x = explained.get(p);
    if (x)
      await t.test(`${label} — explain packet agrees`, () => {
        assert.equal(x.problem, undefined, `${x.problem}\n  explain ${x.argv.join(' ')}\n  ${x.said}`);
      });
  }
}

// --- KPTS_TEST_EXPLAIN=1: `explain packet` against what the packets did ---------------------------

const EXPLAIN_BATCH = fileURLToPath(new URL('./explain-batch.ts', import.meta.url));

interface PacketReport {
  verdict: 'dnat' | 'reject' | 'drop' | 'not-handled';
  endpoints: string[];
  masquerade: boolean;
}

interface Checked {
  argv: string[];
  said: string;
  problem?: string;
}

/** The interface a packet from this origin enters the node on; none for the node's own packets. */
function iifOf(env: ProxyEnv, p: Planned): string | undefined {
  if (p.from === 'node') return undefined;
  if (p.from === 'client') return 'vclient';
  return env.sandbox.podByIP(p.flow.src!)?.node === 'remote' ? 'vremote' : 'kbr0';
}

function hostOf(endpoint: string): string {
  return canonical(
    endpoint.startsWith('[') ? endpoint.slice(1, endpoint.indexOf(']')) : endpoint.split(':')[0]!,
  );
}

/**
 * For every case whose real flows passed: what `explain packet` prints for the same packet (same
 * source, destination, protocol, and the interface it enters on) must be what the packets did —
 * the same answering endpoints, REJECT, DROP or not handled, and the masquerade the case states.
 * All command lines run in one process in the node namespace (explain-batch.ts).
 */
async function crossCheck(env: ProxyEnv, planned: readonly Planned[]): Promise<Map<Planned, Checked>> {
  const out = new Map<Planned, Checked>();
  const passed = planned.filter((p) => p.problem === undefined);
  if (passed.length === 0) return out;
  const argvs = passed.map((p) => {
    const { src, dst, port, proto } = p.flow;
    const iif = iifOf(env, p);
    return [
      'packet',
      '--from',
      src!,
      '--to',
      dst.includes(':') ? `[${dst}]:${port}` : `${dst}:${port}`,
      '--proto',
      proto,
      ...(iif ? ['--iif', iif] : []),
      '--output',
      'json',
    ];
  });
  const r = await env.sandbox.exec('node', process.execPath, [EXPLAIN_BATCH], {
    input: JSON.stringify(argvs),
  });
  const results = JSON.parse(r.stdout) as { code: number; stdout: string }[];
  passed.forEach((p, i) => {
    const argv = argvs[i]!;
    const res = results[i]!;
    if (res.code !== 0) {
      out.set(p, { argv, said: r.stderr, problem: `explain exited ${res.code}` });
      return;
    }
    const rep = JSON.parse(res.stdout) as PacketReport;
    const said = `explain: ${rep.verdict} ${rep.endpoints.join(', ')} masquerade=${rep.masquerade}; packets: ${p.c.output || '(the node itself)'}${p.c.masq !== undefined ? ` masq=${String(p.c.masq)}` : ''}`;
    out.set(p, { argv, said, ...(verdictProblem(env, p, rep) ?? {}) });
  });
  return out;
}

function nodeAddresses(env: ProxyEnv, family: Family): string[] {
  const plan = env.sandbox.plans[family];
  return [plan.nodeIP, plan.secondaryNodeIP, plan.podGateway, plan.remoteLinkNodeIP];
}

function verdictProblem(env: ProxyEnv, p: Planned, rep: PacketReport): { problem: string } | undefined {
  const want = { REJECT: 'reject', DROP: 'drop', host: 'not-handled', answer: 'dnat' }[p.kind];
  // A limit of tracing kube-proxy's rules, not a disagreement: iptables mode has no rule for an
  // unknown port or an unallocated address of a ClusterIP (nor KUBE-EXTERNAL-SERVICES on OUTPUT),
  // so explain rightly says "not handled"; the sandbox then routes the packet back towards the
  // client, where it is lost (DROP). Only then: a destination that is not the node's own.
  if (
    PROXY_MODE === 'iptables' &&
    p.kind === 'DROP' &&
    rep.verdict === 'not-handled' &&
    !nodeAddresses(env, p.family).includes(canonical(p.flow.dst))
  )
    return undefined;
  if (rep.verdict !== want) return { problem: `explain says ${rep.verdict}, the packets: ${want}` };
  if (p.kind !== 'answer') return undefined;
  const got = [...new Set(rep.endpoints.map(hostOf))].sort();
  const pods = p.pods.map((name) => env.sandbox.podIP(name, p.family)).sort();
  if (got.join(' ') !== pods.join(' '))
    return { problem: `explain's endpoints ${got.join(', ')}, the answering pods ${pods.join(', ')}` };
  // The report's masquerade covers any endpoint; hairpin: only the source pod reaching itself is
  // masqueraded, so explain says yes exactly when the source pod is among the endpoints.
  const masq = p.c.masq === 'hairpin' ? p.pods.includes(p.from) : (p.c.masq ?? false);
  if (rep.masquerade !== masq)
    return { problem: `explain says masquerade ${rep.masquerade}, the packets ${masq}` };
  return undefined;
}
