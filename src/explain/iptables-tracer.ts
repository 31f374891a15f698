// A packet tracer over iptables rules (in the spirit of upstream's iptablesTracer): it "runs" one
// packet through nat PREROUTING, then, against the DNATed destination, through the filter chains
// kube-proxy hooks (run directly, as upstream does, since the packet's direction is unknown), and
// reports the outcome in the same shape as the nftables tracer. Like upstream's it follows every
// `-m statistic` branch, treats a jump to KUBE-MARK-MASQ as "masq", treats `--src-type/--dst-type
// LOCAL` as membership in the node's IPs (and loopback), and never matches a rule that checks past
// state (`-m recent --rcheck`, `-m mark --mark`, `-m conntrack --ctstate`).
import { KubeProxyError } from '../errors.ts';
import { FakeIptables, type FakeRule, type FakeTable, quoteRuleWord } from '../kernel/iptables/fake.ts';
import type { IptablesTable } from '../kernel/iptables/iptables.ts';
import { cidrContains, parseCIDR, parseIP } from '../util/ip.ts';
import type { Packet, TraceResult } from './nft-tracer.ts';

export type { Packet, TraceResult } from './nft-tracer.ts';

/** The filter chains upstream's tracePacket runs after nat, in its order. */
const FILTER_CHAINS = ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-NODEPORTS', 'KUBE-PROXY-FIREWALL'];

/**
 * The chains a packet from the node itself meets (origin 'local'): filter OUTPUT jumps to these
 * (KUBE-EXTERNAL-SERVICES and KUBE-NODEPORTS hang off INPUT and FORWARD only), then, if the
 * (DNATed) destination is the node's own, the INPUT ones after loopback delivery.
 */
const OUTPUT_FILTER_CHAINS = ['KUBE-PROXY-FIREWALL', 'KUBE-SERVICES'];
const INPUT_FILTER_CHAINS = ['KUBE-PROXY-FIREWALL', 'KUBE-NODEPORTS', 'KUBE-EXTERNAL-SERVICES'];

export interface TracerOptions {
  /** The nat chain a packet enters; default PREROUTING (nat OUTPUT for origin 'local'). */
  readonly natEntry?: string;
  /**
   * 'local': the packet comes from the node itself (nat OUTPUT, then the filter chains OUTPUT and,
   * for a local destination, INPUT jump to). Default 'any': like upstream's tracer, every filter
   * chain kube-proxy hooks, as the packet's direction is unknown.
   */
  readonly origin?: 'local' | 'any';
}

interface State {
  outputs: string[];
  masq: boolean;
  /** Rules that matched, for failure messages. */
  matches: string[];
}

type Pkt = Required<Omit<Packet, 'iifname'>> & Packet;

function canonical(ip: string): string | undefined {
  return parseIP(ip)?.text;
}

/** "1.2.3.4:80" or "[fd00::1]:80" → the address. */
function hostOf(endpoint: string): string {
  if (endpoint.startsWith('[')) return endpoint.slice(1, endpoint.indexOf(']'));
  return endpoint.split(':')[0]!;
}

function addressMatches(value: string, ip: string): boolean {
  const addr = parseIP(ip);
  if (!addr) throw new KubeProxyError('KP_ERR_TRACE', `tracer: bad IP ${ip}`);
  if (value.includes('/')) {
    const c = parseCIDR(value);
    if (!c) throw new KubeProxyError('KP_ERR_TRACE', `tracer: bad CIDR ${value} in a rule`);
    return cidrContains(c, addr);
  }
  const other = canonical(value);
  if (!other) throw new KubeProxyError('KP_ERR_TRACE', `tracer: bad IP ${value} in a rule`);
  return other === addr.text;
}

/** "80", "80:90", "80,443" (multiport) against a port. */
function portMatches(value: string, port: number): boolean {
  return value.split(',').some((part) => {
    const [lo, hi] = part.split(':');
    return hi === undefined ? Number(lo) === port : port >= Number(lo || 0) && port <= Number(hi || 65535);
  });
}

/** `-i` takes a name or a "prefix+" wildcard; a packet without an input interface matches neither. */
function interfaceMatches(pattern: string, iif: string | undefined): boolean {
  if (iif === undefined) return false;
  return pattern.endsWith('+') ? iif.startsWith(pattern.slice(0, -1)) : iif === pattern;
}

export class IptablesTracer {
  readonly #ipt: FakeIptables;
  readonly #localIPs: Set<string>;
  readonly #natEntry: string;
  readonly #local: boolean;

  /**
   * `rules` is a fake, or iptables-save text holding (at least) the filter and nat tables. Restore
   * input alone (a golden file) lacks the PREROUTING jump the proxier adds with ensureRule: trace it
   * with `natEntry: 'KUBE-SERVICES'`. No fallback is automatic, so a missing hook fails a test.
   */
  constructor(rules: FakeIptables | string, nodeIPs: readonly string[], opts: TracerOptions = {}) {
    this.#ipt = typeof rules === 'string' ? FakeIptables.fromSave(rules) : rules;
    this.#localIPs = new Set(['127.0.0.1', '::1', ...nodeIPs].map((ip) => canonical(ip) ?? ip));
    this.#local = opts.origin === 'local';
    this.#natEntry = opts.natEntry ?? (this.#local ? 'OUTPUT' : 'PREROUTING');
  }

  trace(p: Packet): TraceResult {
    return this.traceWithMatches(p).result;
  }

  /** The result and the rules that matched on the way, in order (for a failing test's message). */
  traceWithMatches(p: Packet): { result: TraceResult; matches: string[] } {
    const pkt: Pkt = { protocol: 'tcp', ...p };
    const st: State = { outputs: [], masq: false, matches: [] };
    this.#runChain('nat', this.#natEntry, pkt, st);
    // Pending DNATs happen after PREROUTING: the filter rules see the (first) chosen endpoint.
    const first = st.outputs[0];
    const after = first !== undefined && !/^[A-Z]+$/.test(first) ? { ...pkt, destIP: hostOf(first) } : pkt;
    const chains = !this.#local
      ? FILTER_CHAINS
      : this.#localIPs.has(canonical(after.destIP) ?? '')
        ? [...OUTPUT_FILTER_CHAINS, ...INPUT_FILTER_CHAINS]
        : OUTPUT_FILTER_CHAINS;
    for (const chain of chains) if (this.#runChain('filter', chain, after, st) && this.#local) break;
    return { result: { output: [...st.outputs].sort().join(', '), masq: st.masq }, matches: st.matches };
  }

  /** Runs the packet through a chain; true if it reached a terminal verdict. A missing chain is empty. */
  #runChain(table: IptablesTable, name: string, pkt: Pkt, st: State): boolean {
    const chain = this.#table(table).get(name);
    if (!chain) return false;
    for (const rule of chain.rules) {
      if (rule.target === undefined || !this.#matches(rule, pkt)) continue;
      st.matches.push(`-A ${name} ${rule.words.map(quoteRuleWord).join(' ')}`);
      const probabilistic = rule.words.includes('--probability') || rule.words.includes('--every');
      switch (rule.target) {
        case 'KUBE-MARK-MASQ':
          st.masq = true;
          continue;
        case 'MASQUERADE':
          st.masq = true;
          return true;
        case 'RETURN':
          return false;
        case 'ACCEPT':
          return true;
        case 'DROP':
        case 'REJECT':
          st.outputs.push(rule.target);
          return true;
        case 'DNAT': {
          const to = rule.words[rule.words.indexOf('--to-destination') + 1];
          if (to === undefined)
            throw new KubeProxyError(
              'KP_ERR_TRACE',
              `tracer: DNAT without --to-destination in ${rule.words.join(' ')}`,
            );
          st.outputs.push(to);
          return true;
        }
        case 'MARK':
        case 'CONNMARK':
        case 'LOG':
          continue;
        default: {
          if (!this.#table(table).has(rule.target))
            throw new KubeProxyError('KP_ERR_TRACE', `tracer: unknown target ${rule.target}`);
          const terminated = this.#runChain(table, rule.target, pkt, st);
          // A probabilistic jump may not have been taken: keep collecting the other branches.
          if (terminated && !probabilistic) return true;
          if (rule.goto && !probabilistic) return terminated;
        }
      }
    }
    return false;
  }

  #table(table: IptablesTable): FakeTable {
    const t = this.#ipt.tables.get(table);
    if (!t) throw new KubeProxyError('KP_ERR_TRACE', `tracer: no table ${table}`);
    return t;
  }

  /** All of the rule's matches hold (the ones the tracer cannot judge are assumed to). */
  #matches(rule: FakeRule, pkt: Pkt): boolean {
    const w = rule.words;
    for (let i = 0; i < w.length; i++) {
      let negated = false;
      if (w[i] === '!') {
        negated = true;
        i++;
      }
      const opt = w[i]!;
      const value = w[i + 1] ?? '';
      let matched: boolean | undefined;
      switch (opt) {
        case '-s':
        case '--source':
          matched = addressMatches(value, pkt.sourceIP);
          break;
        case '-d':
        case '--destination':
          matched = addressMatches(value, pkt.destIP);
          break;
        case '-p':
        case '--protocol':
          matched = value === 'all' || value === pkt.protocol;
          break;
        case '--dport':
        case '--destination-port':
        case '--dports':
        case '--destination-ports':
          matched = portMatches(value, pkt.destPort);
          break;
        case '--src-type':
          matched = value === 'LOCAL' && this.#localIPs.has(canonical(pkt.sourceIP) ?? '');
          break;
        case '--dst-type':
          matched = value === 'LOCAL' && this.#localIPs.has(canonical(pkt.destIP) ?? '');
          break;
        case '-i':
        case '--in-interface':
          matched = interfaceMatches(value, pkt.iifname);
          break;
        case '--rcheck':
        case '--update':
        case '--mark':
        case '--ctstate':
        case '--state':
          // Past state (affinity, marks, conntrack): the tracer's packet has none, and upstream's
          // tracer treats such a rule as not matching whichever way it is negated.
          return false;
        default:
          // Other options (and their values) are assumed to match.
          continue;
      }
      i++;
      if (matched === negated) return false;
    }
    return true;
  }
}

/** Convenience as upstream's tracePacket: one packet through a fake or iptables-save text. */
export function tracePacket(
  rules: FakeIptables | string,
  nodeIPs: readonly string[],
  p: Packet,
  opts: TracerOptions = {},
): TraceResult {
  return new IptablesTracer(rules, nodeIPs, opts).trace(p);
}
