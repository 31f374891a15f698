// Upstream's NodeManager (pkg/proxy/node.go) semantics, as pure functions: which IPs and pod
// CIDRs a Node has, and which changes of them end the process (it restarts with the new state).
import type { Node } from '../../model/k8s.ts';
import { parseIP } from '../../util/ip.ts';

/**
 * utilnode.GetNodeHostIPs: InternalIPs first, then ExternalIPs; the first address, plus the first
 * one of the other family. Canonical text; empty when the node has none.
 */
export function nodeHostIPs(node: Node | undefined): string[] {
  const all: { family: string; text: string }[] = [];
  for (const type of ['InternalIP', 'ExternalIP']) {
    for (const a of node?.status?.addresses ?? []) {
      if (a.type !== type || typeof a.address !== 'string') continue;
      const ip = parseIP(a.address);
      if (ip) all.push(ip);
    }
  }
  const first = all[0];
  if (!first) return [];
  const other = all.find((ip) => ip.family !== first.family);
  return other ? [first.text, other.text] : [first.text];
}

/** node.spec.podCIDRs as given (upstream compares them as strings). */
export function podCIDRsOf(node: Node | undefined): string[] {
  return [...(node?.spec?.podCIDRs ?? [])];
}

export interface NodeState {
  readonly node: Node | undefined;
  readonly nodeIPs: readonly string[];
  readonly podCIDRs: readonly string[];
}

export function nodeState(node: Node | undefined): NodeState {
  return { node, nodeIPs: nodeHostIPs(node), podCIDRs: podCIDRsOf(node) };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Why this node's new state must end the process (NodeManager.OnNodeChange), or undefined.
 * The baseline is the state seen at startup, including "no IPs" when the wait timed out.
 */
export function fatalNodeChange(initial: NodeState, node: Node, watchPodCIDRs: boolean): string | undefined {
  if (watchPodCIDRs) {
    const cidrs = podCIDRsOf(node);
    if (!sameList(cidrs, initial.podCIDRs)) {
      return `PodCIDRs changed for the node: [${initial.podCIDRs.join(',')}] -> [${cidrs.join(',')}]`;
    }
  }
  const ips = nodeHostIPs(node);
  if (!sameList(ips, initial.nodeIPs)) {
    return `NodeIPs changed for the node: [${initial.nodeIPs.join(',')}] -> [${ips.join(',')}]`;
  }
  return undefined;
}
