// iptables-nft-restore (1.8.9, as Debian ships it) takes time that grows much faster than the size
// of its input: measured here, one restore of 2,000 services x 10 endpoints took 21.8 s while the
// same rules in four restores took 4.4 s, and 4,000 services took 130 s in one. Upstream sends a
// full sync as one input. We send a large one as several: first the per-service chains, a batch
// of whole services at a time, then one last restore with the fixed chains (KUBE-SERVICES, …) and
// the stale-chain deletions. At every step the kernel is consistent: a per-service chain is only
// ever replaced whole together with the chains it jumps to, and nothing reaches a new chain before
// the last restore writes the fixed chains that point to it.
import { isServiceChainName, KUBE_MARK_MASQ } from './names.ts';

interface Block {
  readonly decls: string[];
  readonly rules: string[];
}

function chainOfRule(line: string): string {
  return line.slice(3, line.indexOf(' ', 3));
}

/** The per-service chains a rule jumps or goes to. */
function targets(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/ -[jg] (\S+)/g)) if (isServiceChainName(m[1]!)) out.push(m[1]!);
  return out;
}

/**
 * Splits a restore input whose nat per-service rules exceed `maxLines` into several inputs, to be
 * restored in order; smaller inputs come back as they are.
 */
export function splitRestore(input: string | readonly string[], maxLines: number): string[] {
  const lines = typeof input === 'string' ? input.split('\n') : input;
  const whole = () => (typeof input === 'string' ? input : joinLines(lines));
  // Where the nat table is, and which of its chains are per-service chains that stay (not deleted).
  const natStart = lines.indexOf('*nat');
  if (natStart < 0) return [whole()];
  let natEnd = lines.indexOf('COMMIT', natStart);
  if (natEnd < 0) natEnd = lines.length;
  const deleted = new Set<string>();
  let serviceRules = 0;
  for (let i = natStart + 1; i < natEnd; i++) {
    const l = lines[i]!;
    if (l.startsWith('-X ')) deleted.add(l.slice(3).trim());
    else if (l.startsWith('-A ') && isServiceChainName(chainOfRule(l))) serviceRules++;
  }
  if (serviceRules <= maxLines) return [whole()];

  const movable = (chain: string) => isServiceChainName(chain) && !deleted.has(chain);
  // Union-find over jumps between per-service chains: a component is one service port's chains.
  const parent = new Map<string, string>();
  const find = (c: string): string => {
    let r = c;
    while (parent.get(r) !== r) r = parent.get(r)!;
    let x = c;
    while (parent.get(x) !== r) {
      const next = parent.get(x)!;
      parent.set(x, r);
      x = next;
    }
    return r;
  };
  const union = (a: string, b: string) => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(rb, ra);
  };
  const blocks = new Map<string, Block>();
  const block = (c: string) => {
    let b = blocks.get(c);
    if (!b) {
      b = { decls: [], rules: [] };
      blocks.set(c, b);
      parent.set(c, c);
    }
    return b;
  };
  const keep: string[] = [];
  const markMasq: string[] = [];
  for (let i = natStart + 1; i < natEnd; i++) {
    const l = lines[i]!;
    if (l.startsWith(':')) {
      const chain = l.slice(1, l.indexOf(' '));
      if (movable(chain)) {
        block(chain).decls.push(l);
        continue;
      }
    } else if (l.startsWith('-A ')) {
      const chain = chainOfRule(l);
      if (chain === KUBE_MARK_MASQ) markMasq.push(l);
      if (movable(chain)) {
        block(chain).rules.push(l);
        for (const t of targets(l))
          if (movable(t)) {
            block(t);
            union(chain, t);
          }
        continue;
      }
    }
    keep.push(l);
  }
  // Components in order of first appearance, packed into batches of about maxLines rules.
  const components = new Map<string, string[]>();
  for (const chain of blocks.keys()) {
    const root = find(chain);
    const list = components.get(root) ?? [];
    list.push(chain);
    components.set(root, list);
  }
  const chunks: string[] = [];
  let decls: string[] = [];
  let rules: string[] = [];
  const flush = () => {
    if (decls.length === 0 && rules.length === 0) return;
    // Endpoint chains jump to KUBE-MARK-MASQ, which must exist (on a fresh node it does not yet);
    // declaring it again with its one static rule replaces it with itself.
    chunks.push(joinLines(['*nat', `:${KUBE_MARK_MASQ} - [0:0]`, ...decls, ...markMasq, ...rules, 'COMMIT']));
    decls = [];
    rules = [];
  };
  for (const chains of components.values()) {
    for (const c of chains) {
      const b = blocks.get(c)!;
      decls.push(...b.decls);
      rules.push(...b.rules);
    }
    if (rules.length >= maxLines) flush();
  }
  flush();
  const last = lines.slice(0, natStart + 1);
  for (const l of keep) last.push(l);
  for (let i = natEnd; i < lines.length; i++) last.push(lines[i]!);
  chunks.push(typeof input === 'string' ? last.join('\n') : joinLines(last));
  return chunks;
}

/**
 * Only the per-service chains of a restore input, as one nat restore: what a pass over a group of
 * services sends before the fixed chains (see IptablesBackend). Undefined when there are none.
 */
export function serviceChainsOnly(lines: readonly string[]): string | undefined {
  const decls: string[] = [];
  const rules: string[] = [];
  const markMasq: string[] = [];
  let nat = false;
  for (const l of lines) {
    if (l.startsWith('*')) nat = l === '*nat';
    else if (!nat) continue;
    else if (l.startsWith(':')) {
      if (isServiceChainName(l.slice(1, l.indexOf(' ')))) decls.push(l);
    } else if (l.startsWith('-A ')) {
      const chain = chainOfRule(l);
      if (isServiceChainName(chain)) rules.push(l);
      else if (chain === KUBE_MARK_MASQ) markMasq.push(l);
    }
  }
  if (decls.length === 0) return undefined;
  const out = ['*nat', `:${KUBE_MARK_MASQ} - [0:0]`];
  for (const l of decls) out.push(l);
  for (const l of markMasq) out.push(l);
  for (const l of rules) out.push(l);
  out.push('COMMIT');
  return joinLines(out);
}

/** Lines as restore input: newline-terminated, without the empty last entry a split leaves. */
export function joinLines(lines: readonly string[]): string {
  const n = lines.length > 0 && lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
  return `${lines.slice(0, n).join('\n')}\n`;
}
