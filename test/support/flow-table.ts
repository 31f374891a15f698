// The one packet-flow table format, shared by the tracer tests (test/unit/flows/, run through a
// tracer over the rules a proxier wrote) and the kernel tests (test/harness/flow-cases.ts, run as
// real traffic): a case reads like an upstream row, source, destination, port, expected output,
// masquerade. Output "a:p, b:p" is the endpoints, "REJECT", "DROP", or "" when no kube-proxy rule
// matched.
import assert from 'node:assert/strict';
import type { Packet, TraceResult } from '../../src/explain/nft-tracer.ts';

/** true: the backends see the node's address; "hairpin": only the source pod itself does (kernel tests). */
export type Masq = boolean | 'hairpin';

export interface FlowCase {
  /** e.g. "C6 blocked external to LB1". */
  readonly name: string;
  readonly src: string;
  readonly dst: string;
  readonly port: number;
  readonly proto?: 'tcp' | 'udp' | 'sctp';
  readonly output: string;
  readonly masq?: Masq;
}

export type Row = [name: string, src: string, dst: string, port: number, output: string, masq?: Masq];

/** Rows as cases, all of one protocol (default tcp). */
export function rows(list: readonly Row[], proto?: FlowCase['proto']): FlowCase[] {
  return list.map(([name, src, dst, port, output, masq]) => ({
    name,
    src,
    dst,
    port,
    output,
    ...(masq !== undefined && { masq }),
    ...(proto !== undefined && { proto }),
  }));
}

/** The table with some rows' output or masquerade replaced, keyed by row id ("J4"). */
export function overrideRows(
  list: readonly Row[],
  changes: Record<string, { output?: string; masq?: Masq }>,
): Row[] {
  return list.map(([name, src, dst, port, output, masq]) => {
    const c = changes[name.split(' ')[0]!] ?? {};
    return [name, src, dst, port, c.output ?? output, c.masq ?? masq];
  });
}

export interface Tracer {
  trace(p: Packet): TraceResult;
}

/** Traces every case (rows or cases) and asserts that each gives its output and masquerade. */
export function assertFlows(tracer: Tracer, cases: readonly (FlowCase | Row)[]): void {
  const failures: string[] = [];
  for (const c of cases) {
    const { name, src, dst, port, proto, output, masq = false } = Array.isArray(c) ? rows([c])[0]! : c;
    const got = tracer.trace({
      sourceIP: src,
      destIP: dst,
      destPort: port,
      ...(proto !== undefined && { protocol: proto }),
    });
    const want = { output, masq: masq !== false };
    if (got.output !== want.output || got.masq !== want.masq)
      failures.push(
        `${name}: got ${JSON.stringify({ output: got.output, masq: got.masq })}, want ${JSON.stringify(want)}`,
      );
  }
  assert.deepEqual(failures, []);
}
