// The iptables rules of IPVS mode (upstream writeIptablesRules): a fixed set of chains whose rules
// match ipsets, so their number does not grow with the services — only the sets do. Written whole
// on every sync with `iptables-restore --noflush`, which flushes and refills our chains alone.
import type { IPFamily } from '../../util/ip.ts';
import { bare, chainLine, masqueradeMark, quoted } from '../iptables/rule-text.ts';
import {
  CHAINS,
  KUBE_FORWARD,
  KUBE_IPVS_FILTER,
  KUBE_IPVS_OUT_FILTER,
  KUBE_LOAD_BALANCER,
  KUBE_MARK_MASQ,
  KUBE_NODE_PORT,
  KUBE_POSTROUTING,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  KUBE_SOURCE_RANGES_FIREWALL,
  SET,
  SET_INFO,
  type SetName,
  setName,
} from './names.ts';
import type { NoNodeAccess } from './plan.ts';

export interface RulesInput {
  readonly family: IPFamily;
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
  /** iptables arguments matching traffic not from local pods, or undefined when detection is off. */
  readonly ifNotLocal: readonly string[] | undefined;
  /** Which sets have entries (rules that match an empty set are left out, as upstream). */
  readonly nonEmpty: ReadonlySet<SetName>;
  readonly noNodeAccess: readonly NoNodeAccess[];
}

/** ipsetWithIptablesChain: one rule per non-empty set, in upstream's order. */
const SET_RULES: readonly {
  set: SetName;
  table: 'nat' | 'filter';
  from: string;
  to: string;
  match: string;
  protocol?: string;
}[] = [
  { set: SET.LOOP_BACK, table: 'nat', from: KUBE_POSTROUTING, to: 'MASQUERADE', match: 'dst,dst,src' },
  { set: SET.LOAD_BALANCER, table: 'nat', from: KUBE_SERVICES, to: KUBE_LOAD_BALANCER, match: 'dst,dst' },
  { set: SET.LOAD_BALANCER_LOCAL, table: 'nat', from: KUBE_LOAD_BALANCER, to: 'RETURN', match: 'dst,dst' },
  {
    set: SET.NODE_PORT_LOCAL_TCP,
    table: 'nat',
    from: KUBE_NODE_PORT,
    to: 'RETURN',
    match: 'dst',
    protocol: 'tcp',
  },
  {
    set: SET.NODE_PORT_TCP,
    table: 'nat',
    from: KUBE_NODE_PORT,
    to: KUBE_MARK_MASQ,
    match: 'dst',
    protocol: 'tcp',
  },
  {
    set: SET.NODE_PORT_LOCAL_UDP,
    table: 'nat',
    from: KUBE_NODE_PORT,
    to: 'RETURN',
    match: 'dst',
    protocol: 'udp',
  },
  {
    set: SET.NODE_PORT_UDP,
    table: 'nat',
    from: KUBE_NODE_PORT,
    to: KUBE_MARK_MASQ,
    match: 'dst',
    protocol: 'udp',
  },
  {
    set: SET.NODE_PORT_LOCAL_SCTP,
    table: 'nat',
    from: KUBE_NODE_PORT,
    to: 'RETURN',
    match: 'dst,dst',
    protocol: 'sctp',
  },
  {
    set: SET.NODE_PORT_SCTP,
    table: 'nat',
    from: KUBE_NODE_PORT,
    to: KUBE_MARK_MASQ,
    match: 'dst,dst',
    protocol: 'sctp',
  },
  {
    set: SET.LOAD_BALANCER_FW,
    table: 'filter',
    from: KUBE_PROXY_FIREWALL,
    to: KUBE_SOURCE_RANGES_FIREWALL,
    match: 'dst,dst',
  },
  {
    set: SET.LOAD_BALANCER_SOURCE_CIDR,
    table: 'filter',
    from: KUBE_SOURCE_RANGES_FIREWALL,
    to: 'RETURN',
    match: 'dst,dst,src',
  },
  {
    set: SET.LOAD_BALANCER_SOURCE_IP,
    table: 'filter',
    from: KUBE_SOURCE_RANGES_FIREWALL,
    to: 'RETURN',
    match: 'dst,dst,src',
  },
];

/** The iptables-restore input of one sync: nat then filter, each with its COMMIT. */
export function renderRules(o: RulesInput): string {
  const name = (s: SetName) => setName(s, o.family);
  const comment = (s: SetName) => quoted(SET_INFO.get(s)?.comment ?? s);
  const mark = masqueradeMark(o.masqueradeBit);
  const nat: string[] = [];
  const filter: string[] = [];

  nat.push(`-A ${KUBE_SERVICES} -s ${o.family === 'IPv4' ? '127.0.0.0/8' : '::1/128'} -j RETURN`);

  for (const r of SET_RULES) {
    if (!o.nonEmpty.has(r.set)) continue;
    const proto = r.protocol ? ` -p ${r.protocol}` : '';
    const line = `-A ${r.from}${proto} -m comment --comment ${comment(r.set)} -m set --match-set ${name(r.set)} ${r.match} -j ${r.to}`;
    (r.table === 'nat' ? nat : filter).push(line);
  }

  if (o.nonEmpty.has(SET.CLUSTER_IP)) {
    const head = `-A ${KUBE_SERVICES} -m comment --comment ${comment(SET.CLUSTER_IP)} -m set --match-set ${name(SET.CLUSTER_IP)}`;
    if (o.masqueradeAll) nat.push(`${head} dst,dst -j ${KUBE_MARK_MASQ}`);
    else if (o.ifNotLocal)
      nat.push(`${head} dst,dst ${o.ifNotLocal.map(bare).join(' ')} -j ${KUBE_MARK_MASQ}`);
    // Without local detection, node-originated traffic from a VIP source (the dummy device makes
    // the VIP the chosen source) is masqueraded.
    else nat.push(`${head} src,dst -j ${KUBE_MARK_MASQ}`);
  }

  const externalIPRules = (head: string) => {
    // Traffic from off the node (not from a bridge port, not from a local address)…
    nat.push(`${head} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`);
    // …and traffic to external IPs that are the node's own.
    nat.push(`${head} -m addrtype --dst-type LOCAL -j ACCEPT`);
  };
  if (o.nonEmpty.has(SET.EXTERNAL_IP)) {
    const head = `-A ${KUBE_SERVICES} -m comment --comment ${comment(SET.EXTERNAL_IP)} -m set --match-set ${name(SET.EXTERNAL_IP)} dst,dst`;
    nat.push(`${head} -j ${KUBE_MARK_MASQ}`);
    externalIPRules(head);
  }
  if (o.nonEmpty.has(SET.EXTERNAL_IP_LOCAL)) {
    externalIPRules(
      `-A ${KUBE_SERVICES} -m comment --comment ${comment(SET.EXTERNAL_IP_LOCAL)} -m set --match-set ${name(SET.EXTERNAL_IP_LOCAL)} dst,dst`,
    );
  }

  nat.push(`-A ${KUBE_SERVICES} -m addrtype --dst-type LOCAL -j ${KUBE_NODE_PORT}`);
  nat.push(`-A ${KUBE_LOAD_BALANCER} -j ${KUBE_MARK_MASQ}`);
  filter.push(`-A ${KUBE_SOURCE_RANGES_FIREWALL} -j DROP`);
  for (const e of o.noNodeAccess)
    filter.push(
      `-A ${KUBE_IPVS_OUT_FILTER} -s ${bare(e.ip)} -m ipvs --vaddr ${bare(e.ip)} --vproto ${bare(e.protocol)} --vport ${e.port} -j DROP`,
    );

  // Accept traffic to virtual servers in case later rules would drop it (acceptIPVSTraffic).
  for (const s of [SET.CLUSTER_IP, SET.LOAD_BALANCER] as const)
    if (o.nonEmpty.has(s)) nat.push(`-A ${KUBE_SERVICES} -m set --match-set ${name(s)} dst,dst -j ACCEPT`);

  filter.push(
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
  );
  filter.push(
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );
  filter.push(
    `-A ${KUBE_NODE_PORT} -m comment --comment ${comment(SET.HEALTH_CHECK_NODE_PORT)} -m set --match-set ${name(SET.HEALTH_CHECK_NODE_PORT)} dst -j ACCEPT`,
  );
  // No access to the node's own ports through service addresses (kubernetes#72236).
  for (const s of [SET.LOAD_BALANCER, SET.CLUSTER_IP, SET.EXTERNAL_IP, SET.EXTERNAL_IP_LOCAL] as const)
    filter.push(`-A ${KUBE_IPVS_FILTER} -m set --match-set ${name(s)} dst,dst -j RETURN`);
  filter.push(`-A ${KUBE_IPVS_FILTER} -m set --match-set ${name(SET.HEALTH_CHECK_NODE_PORT)} dst -j RETURN`);
  filter.push(
    `-A ${KUBE_IPVS_FILTER} -m conntrack --ctstate NEW -m set --match-set ${name(SET.IPVS_IPS)} dst -j REJECT`,
  );

  nat.push(`-A ${KUBE_POSTROUTING} -m mark ! --mark ${mark}/${mark} -j RETURN`);
  nat.push(`-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${mark}`);
  nat.push(
    `-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`,
  );
  nat.push(`-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${mark}`);

  const chains = (table: 'nat' | 'filter') =>
    CHAINS.filter((c) => c.table === table).map((c) => chainLine(c.chain));
  return [
    '*nat',
    ...chains('nat'),
    ...nat,
    'COMMIT',
    '*filter',
    ...chains('filter'),
    ...filter,
    'COMMIT',
    '',
  ].join('\n');
}
