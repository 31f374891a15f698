// What the kernel holds for one Service, next to what the proxy believes, and the differences:
// nftables mode reads the service's chains (their DNAT targets) and its elements of service-ips,
// no-endpoint-services, firewall-ips, service-nodeports and no-endpoint-nodeports from
// `nft -a list table`; iptables mode reads its KUBE-SVC/SVL/EXT/FW/SEP chains (the endpoints
// behind the SEP chains) and its entry rules in KUBE-SERVICES / KUBE-NODEPORTS /
// KUBE-EXTERNAL-SERVICES from iptables-save. The expectations are derived from the beliefs with
// the backends' own chain names. Pure.
import * as IN from '../backends/iptables/names.ts';
import * as N from '../backends/nftables/names.ts';
import { type Protocol, parseProtocol } from '../model/names.ts';
import type { ServicePortName } from '../model/service-port.ts';
import { parseIP } from '../util/ip.ts';
import type { ListedTable } from './nft-listing.ts';
import type { FamilyBeliefs, PortBelief } from './service-beliefs.ts';

/** One entry point of a service port: a map element (nftables) or a rule (iptables). */
export interface KernelEntry {
  /** The map (nftables) or "TABLE CHAIN" (iptables) that holds it. */
  readonly where: string;
  /** "ip . proto . port" or "proto . port". */
  readonly key: string;
  /** The verdict: "goto CHAIN", "drop", "goto reject-chain" (nftables); the jump target (iptables). */
  readonly value: string;
}

export interface KernelPort {
  readonly name: string;
  readonly entries: readonly KernelEntry[];
  /** Service chains of this port the kernel holds. */
  readonly chains: readonly string[];
  /** The endpoints the kernel's Cluster / Local policy chain DNATs to (absent: no such chain). */
  readonly clusterEndpoints?: readonly string[];
  readonly localEndpoints?: readonly string[];
}

export type DifferenceKind =
  | 'missing-table'
  | 'missing-chain'
  | 'stale-chain'
  | 'missing-entry'
  | 'stale-entry'
  | 'wrong-entry'
  | 'missing-endpoint'
  | 'stale-endpoint';

export interface Difference {
  readonly kind: DifferenceKind;
  /** The port's "ns/name:port", when the difference belongs to one. */
  readonly port?: string;
  readonly detail: string;
}

export interface KernelView {
  readonly ports: readonly KernelPort[];
  /** Service chains and entries of this service that belong to no port the proxy believes in. */
  readonly stale: { readonly chains: readonly string[]; readonly entries: readonly KernelEntry[] };
  readonly differences: readonly Difference[];
}

function spnOf(ns: string, name: string, p: PortBelief): ServicePortName {
  return { namespace: ns, name, port: p.portName, protocol: parseProtocol(p.protocol) as Protocol };
}

function splitService(service: string): [string, string] {
  const [ns = '', name = ''] = service.split('/');
  return [ns, name];
}

/** "ip:port" / "[ip]:port" in canonical spelling, or undefined. */
function canonicalEndpoint(text: string): string | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text) ?? /^([0-9.]+):(\d+)$/.exec(text);
  const ip = m ? parseIP(m[1]!) : undefined;
  if (!m || !ip) return undefined;
  return ip.family === 'IPv6' ? `[${ip.text}]:${m[2]}` : `${ip.text}:${m[2]}`;
}

const entryId = (e: KernelEntry) => `${e.where} ${e.key}`;

function compareEntries(
  port: string | undefined,
  expected: readonly KernelEntry[],
  actual: readonly KernelEntry[],
  out: Difference[],
): void {
  const have = new Map(actual.map((e) => [entryId(e), e]));
  const want = new Map(expected.map((e) => [entryId(e), e]));
  for (const [id, e] of want) {
    const k = have.get(id);
    if (!k)
      out.push({ kind: 'missing-entry', ...(port && { port }), detail: `${id} : ${e.value} is missing` });
    else if (k.value !== e.value)
      out.push({
        kind: 'wrong-entry',
        ...(port && { port }),
        detail: `${id} is ${k.value}, the proxy expects ${e.value}`,
      });
  }
  for (const [id, e] of have)
    if (!want.has(id))
      out.push({
        kind: 'stale-entry',
        ...(port && { port }),
        detail: `${id} : ${e.value} is not the proxy's`,
      });
}

function compareEndpoints(
  port: string,
  policy: 'Cluster' | 'Local',
  chain: string,
  believed: readonly string[],
  actual: readonly string[] | undefined,
  out: Difference[],
): void {
  const have = new Set(actual ?? []);
  const want = new Set(believed);
  for (const ep of want)
    if (!have.has(ep))
      out.push({
        kind: 'missing-endpoint',
        port,
        detail: `${policy}-policy endpoint ${ep} chosen by the proxy is not in ${chain}`,
      });
  for (const ep of have)
    if (!want.has(ep))
      out.push({
        kind: 'stale-endpoint',
        port,
        detail: `${chain} sends to ${ep}, which the proxy did not choose for ${policy}-policy traffic`,
      });
}

function compareChains(
  port: string | undefined,
  expected: readonly string[],
  actual: readonly string[],
  out: Difference[],
): void {
  for (const c of expected)
    if (!actual.includes(c))
      out.push({ kind: 'missing-chain', ...(port && { port }), detail: `chain ${c} is missing` });
  for (const c of actual)
    if (!expected.includes(c))
      out.push({ kind: 'stale-chain', ...(port && { port }), detail: `chain ${c} is not the proxy's` });
}

const NFT_MAPS = [
  N.SERVICE_IPS_MAP,
  N.NO_ENDPOINT_SERVICES_MAP,
  N.FIREWALL_IPS_MAP,
  N.SERVICE_NODEPORTS_MAP,
  N.NO_ENDPOINT_NODEPORTS_MAP,
] as const;

/** The elements the nftables backend writes for a port believed like this (as writeServicePort). */
export function expectedNftEntries(p: PortBelief, names: N.ServicePortChainNames): KernelEntry[] {
  const proto = p.protocol.toLowerCase();
  const out: KernelEntry[] = [];
  const add = (where: string, key: string, value: string) => out.push({ where, key, value });
  const hasAny = p.internal.verdict !== 'reject';
  const noEndpoints = (v: PortBelief['internal']['verdict']) =>
    v === 'reject' ? `goto ${N.REJECT_CHAIN}` : 'drop';
  const ipKey = (ip: string) => `${ip} . ${proto} . ${p.port}`;
  if (p.internal.verdict === 'endpoints')
    add(
      N.SERVICE_IPS_MAP,
      ipKey(p.clusterIP),
      `goto ${p.internal.policy === 'Local' ? names.local : names.cluster}`,
    );
  else add(N.NO_ENDPOINT_SERVICES_MAP, ipKey(p.clusterIP), noEndpoints(p.internal.verdict));
  const ext = p.external;
  if (!ext) return out;
  for (const ip of [...p.externalIPs, ...p.loadBalancerIPs]) {
    if (hasAny) add(N.SERVICE_IPS_MAP, ipKey(ip), `goto ${names.external}`);
    if (p.chains.firewall && p.loadBalancerIPs.includes(ip))
      add(N.FIREWALL_IPS_MAP, ipKey(ip), `goto ${names.firewall}`);
    if (ext.verdict !== 'endpoints') add(N.NO_ENDPOINT_SERVICES_MAP, ipKey(ip), noEndpoints(ext.verdict));
  }
  if (p.nodePort !== 0) {
    const key = `${proto} . ${p.nodePort}`;
    if (hasAny) add(N.SERVICE_NODEPORTS_MAP, key, `goto ${names.external}`);
    if (ext.verdict !== 'endpoints') add(N.NO_ENDPOINT_NODEPORTS_MAP, key, noEndpoints(ext.verdict));
  }
  return out;
}

function dnatTargets(rules: readonly { rule: string }[]): string[] {
  const out = new Set<string>();
  for (const r of rules) {
    const m = / dnat (?:ip6? )?to (\S+)$/.exec(r.rule);
    const ep = m ? canonicalEndpoint(m[1]!) : undefined;
    if (ep) out.add(ep);
  }
  return [...out].sort();
}

/** nftables mode: the service's objects in `nft -a list table FAMILY kube-proxy`, compared. */
export function nftKernelView(
  beliefs: FamilyBeliefs,
  service: string,
  table: ListedTable | undefined,
): KernelView {
  const [ns, name] = splitService(service);
  if (!table)
    return {
      ports: [],
      stale: { chains: [], entries: [] },
      differences: [
        {
          kind: 'missing-table',
          detail: `table ${beliefs.family === 'IPv4' ? 'ip' : 'ip6'} kube-proxy is missing`,
        },
      ],
    };
  const marker = `-${ns}/${name}/`;
  const ownChain = (c: string) => /^(?:service|local|external|firewall)-/.test(c) && c.includes(marker);
  const ownComment = (c: string | undefined) =>
    c !== undefined && (c === service || c.startsWith(`${service}:`));
  const serviceChains = [...table.chains.keys()].filter(ownChain);
  const differences: Difference[] = [];
  const claimedChains = new Set<string>();
  const claimedEntries = new Set<string>();
  const allEntries: (KernelEntry & { comment?: string })[] = [];
  for (const map of NFT_MAPS)
    for (const [key, e] of table.sets.get(map)?.elements ?? [])
      allEntries.push({ where: map, key, value: e.value ?? '', ...(e.comment && { comment: e.comment }) });
  const ports: KernelPort[] = [];
  for (const p of beliefs.ports) {
    const names = N.servicePortChainNames(spnOf(ns, name, p));
    const mine = new Set(Object.values(names));
    const expected = expectedNftEntries(p, names);
    const expectedIds = new Set(expected.map(entryId));
    const entries = allEntries.filter((e) => {
      const target = /^goto (\S+)$/.exec(e.value)?.[1];
      return (
        (target !== undefined && mine.has(target)) || expectedIds.has(entryId(e)) || e.comment === p.name
      );
    });
    for (const e of entries) claimedEntries.add(entryId(e));
    const chains = serviceChains.filter((c) => mine.has(c));
    for (const c of chains) claimedChains.add(c);
    const kp: KernelPort = {
      name: p.name,
      entries: entries.map(({ where, key, value }) => ({ where, key, value })),
      chains,
      ...(table.chains.has(names.cluster) && {
        clusterEndpoints: dnatTargets(table.chains.get(names.cluster)!.rules),
      }),
      ...(table.chains.has(names.local) && {
        localEndpoints: dnatTargets(table.chains.get(names.local)!.rules),
      }),
    };
    ports.push(kp);
    compareEntries(p.name, expected, kp.entries, differences);
    const wantChains = [
      ...(p.chains.cluster ? [names.cluster] : []),
      ...(p.chains.local ? [names.local] : []),
      ...(p.chains.external ? [names.external] : []),
      ...(p.chains.firewall ? [names.firewall] : []),
    ];
    compareChains(p.name, wantChains, chains, differences);
    if (p.chains.cluster && kp.clusterEndpoints)
      compareEndpoints(
        p.name,
        'Cluster',
        names.cluster,
        p.clusterEndpoints,
        kp.clusterEndpoints,
        differences,
      );
    if (p.chains.local && kp.localEndpoints)
      compareEndpoints(p.name, 'Local', names.local, p.localEndpoints, kp.localEndpoints, differences);
  }
  const staleChains = serviceChains.filter((c) => !claimedChains.has(c));
  const staleEntries = allEntries
    .filter((e) => !claimedEntries.has(entryId(e)))
    .filter((e) => {
      const target = /^goto (\S+)$/.exec(e.value)?.[1];
      return (target !== undefined && ownChain(target)) || ownComment(e.comment);
    })
    .map(({ where, key, value }) => ({ where, key, value }));
  compareChains(undefined, [], staleChains, differences);
  compareEntries(undefined, [], staleEntries, differences);
  return { ports, stale: { chains: staleChains, entries: staleEntries }, differences };
}

interface SaveRule {
  readonly table: string;
  readonly chain: string;
  readonly text: string;
  readonly comment?: string;
}

/** iptables-save output (any tables) into its chains and rules. */
export function parseIptablesSave(save: string): { chains: Map<string, string>; rules: SaveRule[] } {
  const chains = new Map<string, string>();
  const rules: SaveRule[] = [];
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    else if (line.startsWith(':')) chains.set(line.slice(1).split(' ')[0]!, table);
    else if (line.startsWith('-A ')) {
      const chain = line.split(' ')[1]!;
      const c = /--comment (?:"([^"]*)"|(\S+))/.exec(line);
      rules.push({ table, chain, text: line, ...(c && { comment: c[1] ?? c[2]! }) });
    }
  }
  return { chains, rules };
}

function ruleTarget(text: string): string {
  return / -[jg] (\S+)/.exec(text)?.[1] ?? '';
}

/** The entry rules the iptables backend writes for a port believed like this (KUBE-SERVICES …). */
export function expectedIptablesEntries(p: PortBelief, names: IN.ServiceChainNames): KernelEntry[] {
  const proto = p.protocol.toLowerCase();
  const out: KernelEntry[] = [];
  const add = (where: string, key: string, value: string) => out.push({ where, key, value });
  const ipKey = (ip: string) => `${ip} . ${proto} . ${p.port}`;
  const hasAny = p.internal.verdict !== 'reject';
  if (p.internal.verdict === 'endpoints')
    add(`nat ${IN.KUBE_SERVICES}`, ipKey(p.clusterIP), p.internal.policy === 'Local' ? names.svl : names.svc);
  else
    add(
      `filter ${IN.KUBE_SERVICES}`,
      ipKey(p.clusterIP),
      p.internal.verdict === 'reject' ? 'REJECT' : 'DROP',
    );
  const ext = p.external;
  if (!ext) return out;
  const externalTarget = hasAny ? 'DROP' : 'REJECT';
  for (const ip of p.externalIPs) {
    if (hasAny) add(`nat ${IN.KUBE_SERVICES}`, ipKey(ip), names.ext);
    if (ext.verdict !== 'endpoints') add(`filter ${IN.KUBE_EXTERNAL_SERVICES}`, ipKey(ip), externalTarget);
  }
  for (const ip of p.loadBalancerIPs) {
    if (hasAny) add(`nat ${IN.KUBE_SERVICES}`, ipKey(ip), p.chains.firewall ? names.fw : names.ext);
    if (ext.verdict !== 'endpoints') add(`filter ${IN.KUBE_EXTERNAL_SERVICES}`, ipKey(ip), externalTarget);
  }
  if (p.nodePort !== 0) {
    const key = `${proto} . ${p.nodePort}`;
    if (hasAny) add(`nat ${IN.KUBE_NODEPORTS}`, key, names.ext);
    if (ext.verdict !== 'endpoints') add(`filter ${IN.KUBE_EXTERNAL_SERVICES}`, key, externalTarget);
  }
  return out;
}

/** The entry a KUBE-SERVICES / KUBE-NODEPORTS / KUBE-EXTERNAL-SERVICES rule stands for. */
function iptablesEntry(r: SaveRule): KernelEntry | undefined {
  if (r.chain !== IN.KUBE_SERVICES && r.chain !== IN.KUBE_NODEPORTS && r.chain !== IN.KUBE_EXTERNAL_SERVICES)
    return undefined;
  const proto = / -p (tcp|udp|sctp)\b/.exec(r.text)?.[1];
  const port = / --dport (\d+)/.exec(r.text)?.[1];
  const target = ruleTarget(r.text);
  if (!proto || !port || !target || target === 'ACCEPT') return undefined;
  const d = / -d (\S+?)(?:\/(?:32|128))?(?= )/.exec(r.text)?.[1];
  const ip = d ? parseIP(d) : undefined;
  if (d && !ip) return undefined; // 127.0.0.0/8 (localhost NodePorts): the NodePort's own rule covers it.
  const key = ip ? `${ip.text} . ${proto} . ${port}` : `${proto} . ${port}`;
  return { where: `${r.table} ${r.chain}`, key, value: target };
}

/** iptables mode: the service's chains and rules in iptables-save (nat and filter), compared. */
export function iptablesKernelView(beliefs: FamilyBeliefs, service: string, save: string): KernelView {
  const [ns, name] = splitService(service);
  const { chains, rules } = parseIptablesSave(save);
  const ownComment = (c: string | undefined) =>
    c !== undefined && (c === service || c.startsWith(`${service}:`) || c.startsWith(`${service} `));
  const byChain = new Map<string, SaveRule[]>();
  for (const r of rules) byChain.set(r.chain, [...(byChain.get(r.chain) ?? []), r]);
  // Service chains whose rules name this service (KUBE-SEP, KUBE-SVC, …), and entries that do.
  const serviceChains = [...chains.keys()].filter(
    (c) => IN.isServiceChainName(c) && (byChain.get(c) ?? []).some((r) => ownComment(r.comment)),
  );
  const allEntries = rules
    .filter((r) => ownComment(r.comment) || r.chain === IN.KUBE_EXTERNAL_SERVICES)
    .map((r) => ({ r, e: iptablesEntry(r) }))
    .filter((x): x is { r: SaveRule; e: KernelEntry } => x.e !== undefined);
  const endpointsOf = (chain: string): string[] | undefined => {
    if (!chains.has(chain)) return undefined;
    const out = new Set<string>();
    for (const r of byChain.get(chain) ?? []) {
      const sep = ruleTarget(r.text);
      if (!sep.startsWith(IN.SEP_PREFIX)) continue;
      for (const s of byChain.get(sep) ?? []) {
        const to = / --to-destination (\S+)/.exec(s.text)?.[1];
        const ep = to ? canonicalEndpoint(to) : undefined;
        if (ep) out.add(ep);
      }
    }
    return [...out].sort();
  };
  const differences: Difference[] = [];
  const claimedChains = new Set<string>();
  const claimedEntries = new Set<string>();
  const ports: KernelPort[] = [];
  for (const p of beliefs.ports) {
    const spn = spnOf(ns, name, p);
    const names = IN.serviceChainNames(spn);
    const reachable = [...new Set([...p.clusterEndpoints, ...p.localEndpoints])];
    const seps = new Map(reachable.map((ep) => [IN.endpointChainName(spn, { key: ep }), ep]));
    const expected = expectedIptablesEntries(p, names);
    const expectedIds = new Set(expected.map(entryId));
    const portComment = (c: string | undefined) =>
      c !== undefined && (c === p.name || c.startsWith(`${p.name} `));
    const entries = allEntries
      .filter(({ r, e }) => expectedIds.has(entryId(e)) || portComment(r.comment))
      .map(({ e }) => e);
    for (const e of entries) claimedEntries.add(entryId(e));
    const mine = new Set<string>([names.svc, names.svl, names.ext, names.fw]);
    const portChains = [...chains.keys()].filter(
      (c) =>
        mine.has(c) ||
        seps.has(c) ||
        (c.startsWith(IN.SEP_PREFIX) && (byChain.get(c) ?? []).some((r) => portComment(r.comment))),
    );
    for (const c of portChains) claimedChains.add(c);
    const svcEndpoints = endpointsOf(names.svc);
    const svlEndpoints = endpointsOf(names.svl);
    ports.push({
      name: p.name,
      entries: entries,
      chains: portChains,
      ...(svcEndpoints && { clusterEndpoints: svcEndpoints }),
      ...(svlEndpoints && { localEndpoints: svlEndpoints }),
    });
    compareEntries(p.name, expected, entries, differences);
    compareChains(
      p.name,
      [
        ...(p.chains.cluster ? [names.svc] : []),
        ...(p.chains.local ? [names.svl] : []),
        ...(p.chains.external ? [names.ext] : []),
        ...(p.chains.firewall ? [names.fw] : []),
        ...seps.keys(),
      ],
      portChains,
      differences,
    );
    if (p.chains.cluster && svcEndpoints)
      compareEndpoints(p.name, 'Cluster', names.svc, p.clusterEndpoints, svcEndpoints, differences);
    if (p.chains.local && svlEndpoints)
      compareEndpoints(p.name, 'Local', names.svl, p.localEndpoints, svlEndpoints, differences);
  }
  const staleChains = serviceChains.filter((c) => !claimedChains.has(c));
  const staleEntries = allEntries
    .filter(({ r, e }) => ownComment(r.comment) && !claimedEntries.has(entryId(e)))
    .map(({ e }) => e);
  compareChains(undefined, [], staleChains, differences);
  compareEntries(undefined, [], staleEntries, differences);
  return { ports, stale: { chains: staleChains, entries: staleEntries }, differences };
}
