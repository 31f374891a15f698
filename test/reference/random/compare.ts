// How two outcomes of the same probe compare. Without affinity: the same set of answering backends
// (or the same REJECT / DROP / MIXED), and every backend saw the same source addresses (masquerade,
// hairpin included). With ClientIP affinity the pick is random, so the two pick different backends
// legitimately: each side must stick to exactly one backend, that backend must be one the Service
// could send it to (candidates), and when both picks are of the same kind (the sender itself, a
// local or a remote endpoint) they must have seen the same source.
import type { FlowOutcome } from '../differential.ts';
import { BACKENDS } from './cluster.ts';
import type { ProbeFlow } from './probes.ts';

/** At most one sample of another kind among this many answers is noise (see shape()). */
const STRAY_MIN_ANSWERS = 20;

function strays(o: FlowOutcome): number {
  return o.counts.reject + o.counts.drop + o.counts.error;
}

/** The answering backends of a flow that was answered (but for one stray sample), else []. */
function answered(o: FlowOutcome): string[] {
  const clean = strays(o) === 0 || (o.counts.answer >= STRAY_MIN_ANSWERS && strays(o) === 1);
  return o.counts.answer > 0 && clean ? Object.keys(o.backends).sort() : [];
}

/**
 * The outcome without its proportions: which kinds of result occurred (answer, reject, drop,
 * error) and which backends answered. A MIXED outcome's counts follow random picks (a flow that
 * drops when one of two endpoints is picked), so only its shape is compared.
 */
export function shape(o: FlowOutcome): string {
  let kinds = Object.entries(o.counts)
    .filter(([, n]) => n > 0)
    .map(([k]) => k);
  // REJECTs that went unanswered: the kernel's ICMP error sockets are per CPU and shared by every
  // namespace on the machine, so a burst of errors (here or in another test) can lose some of them.
  // A flow that was rejected at all and never answered is a REJECT; a DROP stays a DROP.
  if (o.counts.answer === 0 && o.counts.reject > 0) kinds = kinds.filter((k) => k !== 'drop');
  // One sample of another kind among many answers is noise of a loaded machine (1.5 s without an
  // answer; a reset from a reused source port), not a random pick: with at most three endpoints a
  // pick has probability >= 1/3, and 30 samples show it at most once with probability < 1e-4.
  if (o.counts.answer >= STRAY_MIN_ANSWERS && strays(o) === 1) kinds = ['answer'];
  return `${kinds.join('+')} ${Object.keys(o.backends).sort().join(',')}`;
}

/** "self" (the sender reaching itself), "local" or "remote" endpoint, or "host" (the node). */
export function backendKind(flow: ProbeFlow, echoName: string): string {
  const ip = echoName.replace(/:\d+$/, '');
  if (flow.senderPod === ip) return 'self';
  return BACKENDS.find((b) => b.ip4 === ip)?.where ?? echoName;
}

function sameSources(a: FlowOutcome, b: FlowOutcome, backend: string, other = backend): boolean {
  return (
    JSON.stringify(a.sourcesByBackend[backend] ?? []) === JSON.stringify(b.sourcesByBackend[other] ?? [])
  );
}

/** What differs between upstream's and our outcome of one probe ([] when they agree). */
export function compareFlow(flow: ProbeFlow, upstream: FlowOutcome, ours: FlowOutcome): string[] {
  const problems: string[] = [];
  const [u, o] = [answered(upstream), answered(ours)];
  if (flow.affinity && (u.length > 0 || o.length > 0)) {
    if (u.length !== 1 || o.length !== 1) {
      problems.push(
        `affinity: want one sticky backend each, upstream ${upstream.output}, ours ${ours.output}`,
      );
      return problems;
    }
    const cands = flow.candidates ?? [];
    for (const [who, pick] of [
      ['upstream', u[0]!],
      ['ours', o[0]!],
    ] as const) {
      if (!cands.includes(pick))
        problems.push(`affinity: ${who} picked ${pick}, not one of [${cands.join(', ')}]`);
    }
    if (backendKind(flow, u[0]!) === backendKind(flow, o[0]!) && !sameSources(upstream, ours, u[0]!, o[0]!)) {
      problems.push(
        `masquerade: upstream's ${u[0]} saw ${upstream.sourcesByBackend[u[0]!]}, ours's ${o[0]} saw ${ours.sourcesByBackend[o[0]!]}`,
      );
    }
    return problems;
  }
  if (shape(upstream) !== shape(ours)) {
    problems.push(`upstream ${upstream.output}, ours ${ours.output}`);
    return problems;
  }
  for (const b of u) {
    if (!sameSources(upstream, ours, b)) {
      problems.push(
        `masquerade: ${b} (${backendKind(flow, b)}) saw ${upstream.sourcesByBackend[b]} under upstream, ${ours.sourcesByBackend[b]} under ours`,
      );
    }
  }
  return problems;
}

/**
 * Whether more samples of ours could settle the difference: ours saw a subset of what upstream saw
 * (fewer backends, or not yet the drop of a random pick), never something upstream did not see.
 */
export function worthResampling(flow: ProbeFlow, upstream: FlowOutcome, ours: FlowOutcome): boolean {
  if (flow.affinity || shape(upstream) === shape(ours)) return false;
  // Every REJECT of ours lost (see shape()): more samples tell.
  if (shape(upstream) === 'reject ' && ours.counts.answer === 0 && ours.counts.reject === 0) return true;
  const kinds = (o: FlowOutcome) =>
    Object.keys(o.counts).filter((k) => o.counts[k as keyof typeof o.counts] > 0);
  const within = (a: string[], b: string[]) => a.every((x) => b.includes(x));
  return (
    within(kinds(ours), kinds(upstream)) && within(Object.keys(ours.backends), Object.keys(upstream.backends))
  );
}
