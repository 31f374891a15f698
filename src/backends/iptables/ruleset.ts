// Renders one sync of iptables mode as `iptables-restore --noflush --counters` input. Pure: the
// caller passes the service ports, their endpoints, what changed and which chains exist. Layout and
// rule texts follow upstream v1.37.2 pkg/proxy/iptables/proxier.go; see README.md beside this file.
import type { Endpoint } from '../../model/endpoint.ts';
import { type ServicePort, serviceKeyOf } from '../../model/service-port.ts';
import type { IptablesLocalMatch } from '../../proxy/local-detector.ts';
import type { CategorizedEndpoints } from '../../topology/categorize-endpoints.ts';
import { type IPFamily, parseIP } from '../../util/ip.ts';
import * as N from './names.ts';
import { PortRenderCache } from './port-render-cache.ts';
import { bare, chainLine, LineBuffer, masqueradeMark } from './rule-text.ts';

export { NFACCT_LOCALHOST_NODEPORTS } from './service-rules.ts';
export const NFACCT_INVALID_DROPPED = 'ct_state_invalid_dropped_pkts';

/** The core's local traffic detector, as iptables arguments (src/proxy/local-detector.ts). */
export type IptablesLocalDetector = IptablesLocalMatch;

export interface IptablesRulesetOptions {
  readonly family: IPFamily;
  readonly masqueradeAll: boolean;
  /** Default 14 → mark 0x00004000. */
  readonly masqueradeBit: number;
  readonly localDetector: IptablesLocalDetector;
  /** 'all': NodePorts on every local address (addrtype LOCAL); else the node's addresses to accept NodePorts on. */
  readonly nodePortAddresses: 'all' | readonly string[];
  /** IPv4 only; ignored for IPv6 (see effectiveLocalhostNodePorts). */
  readonly localhostNodePorts: boolean;
  /** Caller decides: more than 1000 endpoints. Drops the per-endpoint comments. */
  readonly largeClusterMode: boolean;
  /** The node's IP of this family: a LoadBalancer source range containing it also admits the VIPs as sources. */
  readonly nodeIP?: string | undefined;
  /** nf_conntrack_tcp_be_liberal is set: no DROP of INVALID packets in KUBE-FORWARD. */
  readonly conntrackTCPLiberal?: boolean | undefined;
  /** nfacct counters that exist (upstream counts with them only when it could create them). */
  readonly nfacct?:
    | { readonly invalidDropped: boolean; readonly localhostNodePortsAccepted: boolean }
    | undefined;
}

export interface ServicePortInput {
  readonly sp: ServicePort;
  /** All endpoints of the port. */
  readonly endpoints: readonly Endpoint[];
  /** From categorizeEndpoints(); a function when it is only worth computing for ports not cached. */
  readonly cat: CategorizedEndpoints | (() => CategorizedEndpoints);
}

export interface IptablesSyncInput {
  readonly full: boolean;
  /** "ns/name" of services whose chains must be rewritten in a partial sync. */
  readonly changedServices: ReadonlySet<string>;
  /** Every service port of this family. */
  readonly ports: Iterable<ServicePortInput>;
  /**
   * KUBE-SVC/SVL/EXT/FW/SEP chains present in the nat table now; those no longer active are
   * deleted. Pass an empty set to skip the cleanup (upstream skips it in large-cluster mode until
   * a sync period has passed since the last one). Undefined: delete the chains that `cache` saw
   * go out of use (exact when the kernel holds what the cache's earlier syncs wrote).
   */
  readonly existingNatChains: ReadonlySet<string> | undefined;
  readonly options: IptablesRulesetOptions;
  /** Kept by the caller across syncs: unchanged ports' lines are replayed from it. */
  readonly cache?: PortRenderCache;
  /** false: `ports` is a subset (a pass over some services); the cache keeps the others. */
  readonly sweepCache?: boolean;
  /** What categorisation depends on besides the port and its endpoints (node name, zone): part of the cache key. */
  readonly topologyKey?: string;
}

export interface IptablesSyncCounts {
  readonly filterRules: number;
  readonly filterChains: number;
  /** Lines written to the nat table section: rules and `-X` chain deletions. */
  readonly natRules: number;
  readonly natChains: number;
  /** The gauges upstream publishes (sync_proxy_rules_iptables_last / _total): filter rules written. */
  readonly filterRulesWritten: number;
  /** nat rules written, without the `-X` lines. */
  readonly natRulesWritten: number;
  /** filter is rewritten completely every sync: the same as filterRulesWritten. */
  readonly filterRulesTotal: number;
  /** nat rules kube-proxy owns after the restore, unchanged services' chains included. */
  readonly natRulesTotal: number;
  readonly deletedNatChains: number;
}

export interface IptablesSyncOutput {
  /** "*filter\n…COMMIT\n*nat\n…COMMIT\n", for one `iptables-restore --noflush --counters`. */
  readonly restoreInput: string;
  /** The same input as lines (no trailing newline entries): what the backend post-processes. */
  readonly restoreLines: readonly string[];
  /** Per-service nat chains that exist after the restore (input for the next sync's existingNatChains). */
  readonly activeNatChains: ReadonlySet<string>;
  readonly counts: IptablesSyncCounts;
  readonly noLocalEndpoints: { readonly internal: number; readonly external: number };
}

/** Whether localhost NodePorts (and so route_localnet and the KUBE-FIREWALL rule) are in effect. */
export function effectiveLocalhostNodePorts(
  o: Pick<IptablesRulesetOptions, 'family' | 'localhostNodePorts' | 'nodePortAddresses'>,
): boolean {
  if (o.family !== 'IPv4' || !o.localhostNodePorts) return false;
  // Upstream turns it off when --nodeport-addresses excludes 127.0.0.0/8; the matched node addresses
  // then hold no loopback address (lo always carries 127.0.0.1).
  return o.nodePortAddresses === 'all' || o.nodePortAddresses.some(isIPv4Loopback);
}

function isIPv4Loopback(ip: string): boolean {
  return ip.startsWith('127.') && parseIP(ip)?.family === 'IPv4';
}

function isLoopback(ip: string): boolean {
  return isIPv4Loopback(ip) || parseIP(ip)?.text === '::1';
}

const NODEPORTS_COMMENT = '"kubernetes service nodeports; NOTE: this must be the last rule in this chain"';

function byKey(a: ServicePortInput, b: ServicePortInput): number {
  return a.sp.key < b.sp.key ? -1 : a.sp.key > b.sp.key ? 1 : 0;
}

export function renderIptablesSync(input: IptablesSyncInput): IptablesSyncOutput {
  const o = input.options;
  const isIPv6 = o.family === 'IPv6';
  const localhostNodePorts = effectiveLocalhostNodePorts(o);
  const mark = masqueradeMark(o.masqueradeBit);
  const ifLocal = o.localDetector.ifLocal?.map(bare);
  const ifNotLocal = o.localDetector.ifNotLocal?.map(bare);
  const nodeIP = o.nodeIP === undefined ? undefined : parseIP(o.nodeIP);

  const filterChains = new LineBuffer();
  const filterRules = new LineBuffer();
  const natChains = new LineBuffer();
  const natRules = new LineBuffer();
  const skippedNatChains = new LineBuffer(false);
  const skippedNatRules = new LineBuffer(false);

  for (const c of [
    N.KUBE_SERVICES,
    N.KUBE_EXTERNAL_SERVICES,
    N.KUBE_FORWARD,
    N.KUBE_NODEPORTS,
    N.KUBE_PROXY_FIREWALL,
  ])
    filterChains.write(chainLine(c));
  for (const c of [N.KUBE_SERVICES, N.KUBE_NODEPORTS, N.KUBE_POSTROUTING, N.KUBE_MARK_MASQ])
    natChains.write(chainLine(c));

  natRules.write(`-A ${N.KUBE_POSTROUTING} -m mark ! --mark ${mark}/${mark} -j RETURN`);
  // Clearing the mark keeps a packet that traverses the stack again from being masqueraded twice.
  natRules.write(`-A ${N.KUBE_POSTROUTING} -j MARK --xor-mark ${mark}`);
  natRules.write(
    `-A ${N.KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`,
  );
  natRules.write(`-A ${N.KUBE_MARK_MASQ} -j MARK --or-mark ${mark}`);

  if (localhostNodePorts) {
    // route_localnet would let remote hosts reach 127.0.0.0/8 (https://issue.k8s.io/90259). kubelet
    // installs the same rule; it has to stay identical to kubelet's.
    filterChains.write(chainLine(N.KUBE_FIREWALL));
    filterRules.write(
      `-A ${N.KUBE_FIREWALL} -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
    );
  }

  const activeLists: (readonly string[])[] = [];
  const portContext = {
    masqueradeAll: o.masqueradeAll,
    ifLocal,
    ifNotLocal,
    localhostNodePortCounter: localhostNodePorts && (o.nfacct?.localhostNodePortsAccepted ?? false),
    nodeIP,
    largeClusterMode: o.largeClusterMode,
  };
  // Everything a port's lines depend on besides the port itself and its endpoints.
  const fingerprint = JSON.stringify({
    ...portContext,
    nodeIP: nodeIP?.text,
    topology: input.topologyKey ?? '',
  });
  const buffers = {
    filterRules,
    natRules,
    natChains,
    skippedNatChains,
    skippedNatRules,
    activeNatChains: activeLists,
  };
  const cache = input.cache ?? new PortRenderCache();

  let noLocalInternal = 0;
  let noLocalExternal = 0;
  // Sorted so that the same state always renders the same text.
  for (const { sp, endpoints, cat } of [...input.ports].sort(byKey)) {
    const changed = input.full || input.changedServices.has(serviceKeyOf(sp.name.namespace, sp.name.name));
    const r = cache.write(
      buffers,
      portContext,
      fingerprint,
      sp,
      endpoints,
      typeof cat === 'function' ? cat : () => cat,
      changed,
    );
    if (r.noLocalInternal) noLocalInternal++;
    if (r.noLocalExternal) noLocalExternal++;
  }
  if (input.sweepCache !== false) cache.sweep();

  // Stale chains are unreferenced once KUBE-SERVICES is rewritten; declaring them flushes them,
  // which iptables requires before -X.
  let deletedNatChains = 0;
  let active: Set<string> | undefined;
  const activeNatChains = (): Set<string> => {
    active ??= new Set(activeLists.flat());
    return active;
  };
  // The cache's retired chains are drained by every final render, so none waits for a later sync in
  // which its port may need it again; a chain is only deleted when no port has it now.
  const retired = input.sweepCache === false ? [] : cache.takeStale();
  const candidates = input.existingNatChains ?? retired;
  for (const chain of [...candidates].sort()) {
    if (!N.isServiceChainName(chain) || activeNatChains().has(chain)) continue;
    natChains.write(chainLine(bare(chain)));
    natRules.write(`-X ${chain}`);
    deletedNatChains++;
  }

  // The NodePort jump has to be the last rule of KUBE-SERVICES: every service IP matches first.
  if (o.nodePortAddresses === 'all') {
    let dest = '-m addrtype --dst-type LOCAL';
    // Localhost NodePorts never work on IPv6, and on IPv4 only with route_localnet.
    if (isIPv6) dest += ' ! -d ::1/128';
    else if (!localhostNodePorts) dest += ' ! -d 127.0.0.0/8';
    natRules.write(
      `-A ${N.KUBE_SERVICES} -m comment --comment ${NODEPORTS_COMMENT} ${dest} -j ${N.KUBE_NODEPORTS}`,
    );
  } else {
    for (const ip of o.nodePortAddresses) {
      if (isLoopback(ip) && (isIPv6 || !localhostNodePorts)) continue;
      natRules.write(
        `-A ${N.KUBE_SERVICES} -m comment --comment ${NODEPORTS_COMMENT} -d ${bare(ip)} -j ${N.KUBE_NODEPORTS}`,
      );
    }
  }

  // Without tcp_be_liberal, conntrack marks out-of-window packets INVALID and they would reach the
  // pod un-DNATed and be answered with a RST (https://issues.k8s.io/74839).
  if (!o.conntrackTCPLiberal) {
    const counter = o.nfacct?.invalidDropped ? ` -m nfacct --nfacct-name ${NFACCT_INVALID_DROPPED}` : '';
    filterRules.write(`-A ${N.KUBE_FORWARD} -m conntrack --ctstate INVALID${counter} -j DROP`);
  }
  // Marked (to be masqueraded) traffic is forwarded even under a FORWARD policy of DROP.
  filterRules.write(
    `-A ${N.KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
  );
  filterRules.write(
    `-A ${N.KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );

  // Appended with loops: a large cluster has more lines than a spread (`...`) can pass as arguments.
  const restoreLines: string[] = ['*filter'];
  const append = (b: LineBuffer) => {
    for (const l of b.lines) restoreLines.push(l);
  };
  append(filterChains);
  append(filterRules);
  restoreLines.push('COMMIT', '*nat');
  append(natChains);
  append(natRules);
  restoreLines.push('COMMIT');
  let text: string | undefined;
  return {
    get restoreInput() {
      text ??= `${restoreLines.join('\n')}\n`;
      return text;
    },
    restoreLines,
    get activeNatChains() {
      return activeNatChains();
    },
    counts: {
      filterRules: filterRules.count,
      filterChains: filterChains.count,
      natRules: natRules.count,
      natChains: natChains.count,
      filterRulesWritten: filterRules.count,
      natRulesWritten: natRules.count - deletedNatChains,
      filterRulesTotal: filterRules.count,
      natRulesTotal: natRules.count + skippedNatRules.count - deletedNatChains,
      deletedNatChains,
    },
    noLocalEndpoints: { internal: noLocalInternal, external: noLocalExternal },
  };
}

/** A rule in a built-in chain that jumps into ours (upstream iptablesJumpChains), kept outside the restore. */
export interface JumpRule {
  readonly table: 'filter' | 'nat';
  /** The built-in chain holding the rule. */
  readonly chain: string;
  readonly target: string;
  /** '' for none. */
  readonly comment: string;
  readonly extraArgs: readonly string[];
  readonly prepend: boolean;
}

const CT_NEW = ['-m', 'conntrack', '--ctstate', 'NEW'] as const;

const JUMP_RULES: readonly JumpRule[] = [
  jump('filter', 'INPUT', N.KUBE_EXTERNAL_SERVICES, 'kubernetes externally-visible service portals', CT_NEW),
  jump(
    'filter',
    'FORWARD',
    N.KUBE_EXTERNAL_SERVICES,
    'kubernetes externally-visible service portals',
    CT_NEW,
  ),
  jump('filter', 'INPUT', N.KUBE_NODEPORTS, 'kubernetes health check service ports', []),
  jump('filter', 'FORWARD', N.KUBE_SERVICES, 'kubernetes service portals', CT_NEW),
  jump('filter', 'OUTPUT', N.KUBE_SERVICES, 'kubernetes service portals', CT_NEW),
  jump('filter', 'FORWARD', N.KUBE_FORWARD, 'kubernetes forwarding rules', []),
  jump('filter', 'INPUT', N.KUBE_PROXY_FIREWALL, 'kubernetes load balancer firewall', CT_NEW),
  jump('filter', 'OUTPUT', N.KUBE_PROXY_FIREWALL, 'kubernetes load balancer firewall', CT_NEW),
  jump('filter', 'FORWARD', N.KUBE_PROXY_FIREWALL, 'kubernetes load balancer firewall', CT_NEW),
  jump('nat', 'OUTPUT', N.KUBE_SERVICES, 'kubernetes service portals', []),
  jump('nat', 'PREROUTING', N.KUBE_SERVICES, 'kubernetes service portals', []),
  jump('nat', 'POSTROUTING', N.KUBE_POSTROUTING, 'kubernetes postrouting rules', []),
  // kubelet's copies (upstream iptablesKubeletJumpChains): ensured, never removed by cleanup.
  jump('filter', 'INPUT', N.KUBE_FIREWALL, '', []),
  jump('filter', 'OUTPUT', N.KUBE_FIREWALL, '', []),
];

function jump(
  table: 'filter' | 'nat',
  chain: string,
  target: string,
  comment: string,
  extraArgs: readonly string[],
): JumpRule {
  return { table, chain, target, comment, extraArgs, prepend: true };
}

/**
 * The jump rules, in upstream's order; each is ensured (`-C`, else `-I` at the top) on full syncs.
 * The last two are kubelet's KUBE-FIREWALL jumps, which cleanup must leave alone.
 */
export function jumpRules(): readonly JumpRule[] {
  return JUMP_RULES;
}

/** The arguments of a jump rule after `-C|-I|-A CHAIN`, as upstream builds them. */
export function jumpRuleArgs(j: JumpRule): string[] {
  const args = [...j.extraArgs];
  if (j.comment !== '') args.push('-m', 'comment', '--comment', j.comment);
  args.push('-j', j.target);
  return args;
}
