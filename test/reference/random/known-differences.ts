// The one list of deliberate differences between upstream kube-proxy and kube-proxy-ts that the
// randomised differential accepts. Anything else is a failure. Each entry says why it exists; an
// entry must match narrowly (mode, kind of flow, the exact outcomes), so it cannot hide a new bug.
import type { FlowOutcome } from '../differential.ts';
import type { ProbeFlow } from './probes.ts';

export interface FlowDifference {
  /** The mode description's name ("nftables", "iptables-nft", ...). */
  mode: string;
  flow: ProbeFlow;
  upstream: FlowOutcome;
  ours: FlowOutcome;
  problems: string[];
}

export interface KnownDifference {
  id: string;
  /** Why kube-proxy-ts differs on purpose (or why the difference is not a behaviour of either). */
  reason: string;
  matches(d: FlowDifference): boolean;
}

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [];

export function knownDifference(d: FlowDifference): KnownDifference | undefined {
  return KNOWN_DIFFERENCES.find((k) => k.matches(d));
}
