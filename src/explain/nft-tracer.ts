// A packet tracer over the kube-proxy table (in the spirit of upstream's nftablesTracer): it "runs"
// one packet through the table's chains and reports the outcome, and the rules that decided it.
// The table is the in-memory nftables of the tests, or the kernel's own listing (nft-listing.ts)
// for `kube-proxy-ts explain`. Like upstream's it follows every random branch, treats a jump to
// mark-for-masquerade as "masq", treats `fib ... type local` as membership in the node's IPs, and
// ignores conntrack state: every packet is the first of its connection. Session affinity is
// followed when the map holds the client (the kernel's listing), otherwise the random pick stands.
import { KubeProxyError } from '../errors.ts';
import type { FakeNftables } from '../kernel/nft/fake.ts';
import { cidrContains, parseCIDR, parseIP } from '../util/ip.ts';

export interface Packet {
  readonly sourceIP: string;
  readonly protocol?: 'tcp' | 'udp' | 'sctp';
  readonly destIP: string;
  readonly destPort: number;
  /** Input interface, for BridgeInterface / InterfaceNamePrefix detection. */
  readonly iifname?: string;
}

export interface TraceResult {
  /** Comma-joined "ip:port" endpoints, "DROP", "REJECT", or "" when nothing matched. */
  readonly output: string;
  readonly masq: boolean;
}

/** A rule that matched on the packet's way, and what it did. */
export interface TraceStep {
  readonly chain: string;
  readonly rule: string;
  readonly comment?: string;
  /** The kernel's rule handle (from a live listing). */
  readonly handle?: number;
  /** What the rule did: "jump X", "goto X" (possibly via a map element), "dnat A (probability p)", "drop", … */
  readonly action: string;
}

/** The result with the path that led to it and what the tracer could not know. */
export interface Explanation extends TraceResult {
  readonly steps: readonly TraceStep[];
  readonly notes: readonly string[];
}

/** What the tracer reads of a table: chains with their rules in order, sets and maps with elements. */
export interface TraceTable {
  readonly chains: ReadonlyMap<
    string,
    { readonly rules: readonly { rule: string; comment?: string | undefined; handle?: number }[] }
  >;
  readonly sets: ReadonlyMap<
    string,
    { readonly elements: ReadonlyMap<string, { value?: string | undefined }> }
  >;
}

type Verdict = { kind: 'none' } | { kind: 'return' } | { kind: 'terminal' };

interface State {
  outputs: string[];
  masq: boolean;
  steps: TraceStep[];
  notes: string[];
}

interface RuleContext {
  readonly chain: string;
  readonly rule: string;
  readonly comment?: string | undefined;
  readonly handle?: number | undefined;
  /** The probability that a packet reaching this rule takes its random branch (numgen). */
  probability?: string;
}

function traceError(message: string): KubeProxyError {
  return new KubeProxyError('KP_ERR_NFT_INVALID', `tracer: ${message}`);
}

function inAddr(value: string, ip: string): boolean {
  const addr = parseIP(ip);
  if (!addr) return false;
  if (value.includes('/')) {
    const c = parseCIDR(value);
    return c !== undefined && cidrContains(c, addr);
  }
  return parseIP(value)?.text === addr.text;
}

export class NftTracer {
  readonly #table: TraceTable;
  readonly #nodeIPs: readonly string[];
  readonly #ipX: 'ip' | 'ip6';

  /** `source`: the in-memory nftables (its `family kube-proxy` table) or a parsed kernel listing. */
  constructor(source: FakeNftables | TraceTable, family: 'ip' | 'ip6', nodeIPs: readonly string[]) {
    const t = 'tables' in source ? source.tables.get(`${family} kube-proxy`) : source;
    if (!t) throw new KubeProxyError('KP_ERR_NFT_NOT_FOUND', `no table ${family} kube-proxy`);
    this.#table = t;
    this.#nodeIPs = nodeIPs;
    this.#ipX = family;
  }

  trace(p: Packet): TraceResult {
    const { output, masq } = this.explain(p);
    return { output, masq };
  }

  /**
   * The packet through the hooks in the kernel's order: filter prerouting (-110, the source-range
   * firewall), nat prerouting (DNAT), nat postrouting per chosen endpoint (hairpin masquerade),
   * then filter forward and input against the DNATed destination (no-endpoint and invalid-port
   * rejects). A packet from the node itself (no input interface, a source address of the node or
   * loopback) takes the output hooks instead: filter output-pre-dnat, nat output, nat postrouting,
   * filter output, and filter input only when its (DNATed) destination is the node's own.
   */
  explain(p: Packet): Explanation {
    const pkt = { protocol: 'tcp' as const, ...p };
    const st: State = { outputs: [], masq: false, steps: [], notes: [] };
    const local = p.iifname === undefined && this.#isLocal(p.sourceIP);
    const pre = local ? 'filter-output-pre-dnat' : 'filter-prerouting-pre-dnat';
    if (this.#runChain(pre, pkt, st).kind === 'terminal') return this.#result(st);
    this.#runChain(local ? 'nat-output' : 'nat-prerouting', pkt, st);
    // Postrouting only marks for masquerade (hairpin); run it once per chosen endpoint.
    for (const out of [...st.outputs]) {
      if (out === 'DROP' || out === 'REJECT') continue;
      const epIP = out.startsWith('[') ? out.slice(1, out.indexOf(']')) : out.split(':')[0]!;
      const sink: State = { outputs: [], masq: false, steps: [], notes: [] };
      this.#runChain('nat-postrouting', { ...pkt, destIP: epIP }, sink, st);
      if (sink.masq) st.steps.push(...sink.steps.filter((s) => s.action.includes('mark-for-masquerade')));
    }
    let destIP = pkt.destIP;
    const first = st.outputs[0];
    if (first !== undefined)
      destIP = first.startsWith('[') ? first.slice(1, first.indexOf(']')) : first.split(':')[0]!;
    const after = { ...pkt, destIP };
    if (this.#runChain(local ? 'filter-output' : 'filter-forward', after, st).kind === 'terminal')
      return this.#result(st);
    if (!local || this.#isLocal(destIP)) this.#runChain('filter-input', after, st);
    return this.#result(st);
  }

  /** A node address (as `fib ... type local` sees it) or loopback. */
  #isLocal(ip: string): boolean {
    const text = parseIP(ip)?.text;
    return text === '127.0.0.1' || text === '::1' || this.#nodeIPs.some((n) => parseIP(n)?.text === text);
  }

  #result(st: State): Explanation {
    return { output: st.outputs.join(', '), masq: st.masq, steps: st.steps, notes: [...new Set(st.notes)] };
  }

  #runChain(
    name: string,
    pkt: Required<Omit<Packet, 'iifname'>> & Packet,
    st: State,
    masqSink?: State,
  ): Verdict {
    const chain = this.#table.chains.get(name);
    if (!chain) throw traceError(`no chain ${name}`);
    for (const { rule, comment, handle } of chain.rules) {
      const v = this.#runRule(rule, pkt, st, { chain: name, rule, comment, handle });
      if (masqSink && st.masq) masqSink.masq = true;
      if (v.kind !== 'none') return v;
    }
    return { kind: 'none' };
  }

  /** Evaluates one rule; returns the verdict it reaches (none: go on with the next rule). */
  #runRule(
    rule: string,
    pkt: Required<Omit<Packet, 'iifname'>> & Packet,
    st: State,
    ctx: RuleContext,
  ): Verdict {
    const step = (action: string) =>
      st.steps.push({
        chain: ctx.chain,
        rule: ctx.rule,
        ...(ctx.comment !== undefined && { comment: ctx.comment }),
        ...(ctx.handle !== undefined && { handle: ctx.handle }),
        action: ctx.probability === undefined ? action : `${action} (probability ${ctx.probability})`,
      });
    const tok = rule
      .replaceAll('{', ' { ')
      .replaceAll('}', ' } ')
      .replaceAll(',', ' , ')
      .split(/\s+/)
      .filter(Boolean);
    let i = 0;
    const field = (name: string): string | number => {
      switch (name) {
        case 'saddr':
          return pkt.sourceIP;
        case 'daddr':
          return pkt.destIP;
        case 'l4proto':
          return pkt.protocol;
        case 'dport':
          return pkt.destPort;
        default:
          throw traceError(`unknown field ${name} in ${rule}`);
      }
    };
    const readGroup = (): string[] => {
      const out: string[] = [];
      i++; // {
      while (tok[i] !== '}') {
        if (tok[i] !== ',') out.push(tok[i]!);
        i++;
      }
      i++;
      return out;
    };
    // A key made of "ip daddr . meta l4proto . th dport"-style parts, for a vmap lookup.
    const readKey = (firstValue: string | number): string[] => {
      const key = [
        typeof firstValue === 'string' ? (parseIP(firstValue)?.text ?? firstValue) : String(firstValue),
      ];
      while (tok[i] === '.') {
        i += 3; // ". meta l4proto" / ". th dport" / ". ip daddr"
        const v = field(tok[i - 1]!);
        key.push(typeof v === 'string' ? (parseIP(v)?.text ?? v) : String(v));
      }
      return key;
    };
    const applyVerdict = (verdict: string[], via = ''): Verdict => {
      const [action, target] = verdict;
      if (action === 'drop') {
        step(`drop${via}`);
        st.outputs.push('DROP');
        return { kind: 'terminal' };
      }
      if (action === 'reject') {
        step(`reject${via}`);
        st.outputs.push('REJECT');
        return { kind: 'terminal' };
      }
      if (action === 'accept') {
        step(`accept${via}`);
        return { kind: 'terminal' };
      }
      if (action === 'return') return { kind: 'return' };
      if (action === 'jump' || action === 'goto') {
        step(`${action} ${target}${via}`);
        if (target === 'mark-for-masquerade') {
          st.masq = true;
          return { kind: 'none' };
        }
        const v = this.#runChain(target!, pkt, st);
        if (v.kind === 'terminal') return v;
        // A goto does not come back to this chain; a jump does.
        return action === 'goto' ? { kind: 'return' } : { kind: 'none' };
      }
      throw traceError(`unknown verdict ${verdict.join(' ')}`);
    };
    const vmapLookup = (key: string[]): Verdict => {
      const mapName = tok[i + 1]!.slice(1);
      i += 2;
      const map = this.#table.sets.get(mapName);
      if (!map) throw traceError(`no map ${mapName}`);
      const el = map.elements.get(key.join(' . '));
      if (!el?.value) return { kind: 'none' };
      return applyVerdict(el.value.split(' '), ` (element ${key.join(' . ')} of @${mapName})`);
    };

    while (i < tok.length) {
      const t = tok[i]!;
      if (t === 'ct') {
        i += 3; // ct state new: the tracer ignores conntrack, every packet is new
        continue;
      }
      if (t === 'meta' && tok[i + 1] === 'mark') return { kind: 'none' }; // mark bookkeeping (nft's spelling)
      if (t === this.#ipX || t === 'th' || t === 'meta' || t === 'tcp' || t === 'udp' || t === 'sctp') {
        const fieldName = tok[i + 1]!;
        if (t === 'meta' && fieldName === 'l4proto' && tok[i + 2] !== '.' && tok[i + 3] === 'dnat') {
          if (tok[i + 2] !== pkt.protocol) return { kind: 'none' };
          // meta l4proto tcp dnat to ip saddr map @affinity : port — the client's recorded endpoint.
          const sticky = /dnat (?:ip6? )?to ip6? saddr map @(\S+?) ?: ?(\d+)/.exec(tok.slice(i).join(' '));
          if (sticky) {
            const el = this.#table.sets.get(sticky[1]!)?.elements.get(parseIP(pkt.sourceIP)?.text ?? '');
            if (!el?.value) return { kind: 'none' };
            const to = el.value.includes(':') ? `[${el.value}]:${sticky[2]}` : `${el.value}:${sticky[2]}`;
            step(`dnat to ${to} (session affinity: this client's entry in @${sticky[1]})`);
            st.outputs.push(to);
            return { kind: 'terminal' };
          }
          // meta l4proto tcp dnat to ip:port
          step(`dnat to ${tok[i + 5]}`);
          st.outputs.push(tok[i + 5]!);
          return { kind: 'terminal' };
        }
        const value =
          t === 'tcp' || t === 'udp' || t === 'sctp'
            ? pkt.protocol === t
              ? field(fieldName)
              : undefined
            : field(fieldName);
        i += 2;
        if (tok[i] === '.') {
          const key = readKey(value!);
          if (tok[i] === 'vmap') return vmapLookup(key);
          if (!tok[i]?.startsWith('@')) throw traceError(`concatenation without a lookup in ${rule}`);
          const set = this.#table.sets.get(tok[i]!.slice(1));
          i++;
          if (!set?.elements.has(key.join(' . '))) return { kind: 'none' };
          continue;
        }
        if (tok[i] === 'vmap') return vmapLookup([String(value)]);
        let negate = false;
        if (tok[i] === '!=') {
          negate = true;
          i++;
        }
        let matched: boolean;
        if (value === undefined) matched = false;
        else if (tok[i] === '{') matched = readGroup().some((v) => inAddr(v, String(value)));
        else if (tok[i]!.startsWith('@')) {
          const set = this.#table.sets.get(tok[i]!.slice(1));
          // Affinity sets start empty in the fake: like upstream's tracer, affinity never matches.
          matched = set !== undefined && [...set.elements.keys()].some((k) => inAddr(k, String(value)));
          i++;
        } else {
          const v = tok[i++]!;
          matched = typeof value === 'number' ? String(value) === v : value === v || inAddr(v, value);
        }
        if (matched === negate) return { kind: 'none' };
        continue;
      }
      if (t === 'fib') {
        const which = tok[i + 1]!;
        i += 4; // fib saddr type local
        const ip = which === 'saddr' ? pkt.sourceIP : pkt.destIP;
        if (!this.#nodeIPs.some((n) => parseIP(n)?.text === parseIP(ip)?.text)) return { kind: 'none' };
        continue;
      }
      if (t === 'iifname') {
        let negate = false;
        i++;
        if (tok[i] === '!=') {
          negate = true;
          i++;
        }
        // The kernel's listing quotes names ("kbr0", "kbr*"); the in-memory table does not.
        const pattern = tok[i++]!.replace(/^"(.*)"$/, '$1');
        const iif = pkt.iifname ?? '';
        const matched = pattern.endsWith('*') ? iif.startsWith(pattern.slice(0, -1)) : iif === pattern;
        if (matched === negate) return { kind: 'none' };
        continue;
      }
      if (t === 'numgen' && tok[i + 4] !== 'vmap') {
        // numgen random mod N == V <statements>: a random branch; follow it, then go on with the
        // next rule too, as the packet may not have taken it.
        const rest = tok.slice(tok[i + 4] === '==' ? i + 6 : i + 5).join(' ');
        this.#runRule(rest, pkt, st, { ...ctx, probability: `1/${tok[i + 3]}` });
        return { kind: 'none' };
      }
      if (t === 'numgen') {
        // numgen random mod N vmap { 0 : goto A , 1 : goto B }: follow every branch.
        i += 5;
        const group = readGroup();
        let result: Verdict = { kind: 'none' };
        for (let g = 0; g < group.length; g += 4) {
          const v = applyVerdict([group[g + 2]!, group[g + 3]!]);
          if (v.kind === 'terminal') result = v;
        }
        return result;
      }
      if (t === 'update' && tok[i + 2] === '{') {
        // update @affinity-map { ip saddr : ip . port }: records the pick; no effect on the verdict.
        st.notes.push(
          'session affinity: this pick is recorded for the client; a live entry for it would override the random choice',
        );
        i = tok.indexOf('}', i) + 1;
        continue;
      }
      if (t === 'update' || t === 'mark' || t === 'masquerade') return { kind: 'none' };
      return applyVerdict(tok.slice(i));
    }
    return { kind: 'none' };
  }
}
