// What a probe sends and what it observed, shared by the probe script and its callers.

export type Proto = 'tcp' | 'udp' | 'sctp' | 'http';
export const PROTOS: readonly Proto[] = ['tcp', 'udp', 'sctp', 'http'];

export interface Flow {
  /** http: a GET of `path` (default "/") over TCP; the answer carries status and body. sctp needs socat. */
  proto: Proto;
  dst: string;
  port: number;
  /** Source address to bind (it must be local to the probing namespace). Default: the kernel's choice. */
  src?: string;
  /** Fixed source port (UDP): every probe reuses one conntrack entry, like a long-lived UDP client. */
  sport?: number;
  /** http only. */
  path?: string;
  /** How long silence lasts before the flow counts as dropped. */
  timeoutMs?: number;
}

/**
 * answer: an echo server replied. reject: an ICMP error or RST refused the flow (`code` says which).
 * drop: nothing came back in time. error: anything else (a reply that is not an echo line, say).
 */
export type Outcome = 'answer' | 'reject' | 'drop' | 'error';

export interface FlowResult {
  outcome: Outcome;
  /** The echo server's pod name. */
  pod?: string;
  /** The source address the echo server saw for this flow. */
  sawSource?: string;
  code?: string;
  /** http: the response status and body. */
  status?: number;
  body?: string;
  headers?: Record<string, string>;
  ms: number;
}

export const DEFAULT_TIMEOUT_MS = 700;
/** How many flows one probe process tries at once unless told otherwise. */
export const DEFAULT_PROBE_CONCURRENCY = 100;

export interface Distribution {
  total: number;
  /** Answers per pod name. */
  pods: Record<string, number>;
  /** Answers per source address seen by the backends. */
  sources: Record<string, number>;
  reject: number;
  drop: number;
  error: number;
  /** Codes of rejects and errors, for failure messages. */
  codes: Record<string, number>;
}

export function summarize(results: readonly FlowResult[]): Distribution {
  const d: Distribution = { total: 0, pods: {}, sources: {}, reject: 0, drop: 0, error: 0, codes: {} };
  for (const r of results) {
    d.total++;
    if (r.outcome === 'answer') {
      const pod = r.pod ?? '?';
      d.pods[pod] = (d.pods[pod] ?? 0) + 1;
      const src = r.sawSource ?? '?';
      d.sources[src] = (d.sources[src] ?? 0) + 1;
    } else {
      d[r.outcome]++;
    }
    if (r.code) d.codes[r.code] = (d.codes[r.code] ?? 0) + 1;
  }
  return d;
}

/** Parses one echo line, "<pod> <source>" (a bracketed IPv6 source is unbracketed). */
export function parseEcho(text: string): { pod: string; sawSource: string } | undefined {
  const m = /^(\S+) \[?([^\s\]]+)\]?\n?$/.exec(text);
  return m ? { pod: m[1]!, sawSource: m[2]! } : undefined;
}
