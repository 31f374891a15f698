// Partial syncs leave out the fixed chains whose rules did not change since the last successful
// restore. Upstream rewrites every fixed chain on every sync, so one endpoint change at 10,000
// services re-sends KUBE-SERVICES' 10,000 rules; under --noflush a chain that is not declared is
// left as it is, so the kernel ends up in the same state either way. Only partial syncs skip:
// full syncs (start-up, failures, flushes behind our back) always write everything.
import { isServiceChainName } from './names.ts';
import { declaredChain, ruleChain } from './restore-chunks.ts';

/** The text of each fixed chain the kernel holds, by "table chain". */
export type ChainTexts = Map<string, string>;

interface ChainBlock {
  decl: string | undefined;
  rules: string[];
}

/**
 * Splits a restore input into its fixed chains' texts and, when `previous` is given, drops the
 * declarations and rules of fixed chains whose text equals it. Per-service chains, `-X` lines and
 * everything else pass through in order.
 */
export function skipUnchangedChains(
  input: string | readonly string[],
  previous: ChainTexts | undefined,
): { lines: readonly string[]; texts: ChainTexts; skipped: number } {
  const lines = typeof input === 'string' ? input.split('\n') : input;
  let table = '';
  const blocks = new Map<string, ChainBlock>();
  const block = (chain: string) => {
    const key = `${table} ${chain}`;
    let b = blocks.get(key);
    if (!b) {
      b = { decl: undefined, rules: [] };
      blocks.set(key, b);
    }
    return b;
  };
  for (const line of lines) {
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith(':')) {
      const chain = declaredChain(line);
      if (!isServiceChainName(chain)) block(chain).decl = line;
    } else if (line.startsWith('-A ')) {
      const chain = ruleChain(line);
      if (!isServiceChainName(chain)) block(chain).rules.push(line);
    }
  }
  const texts: ChainTexts = new Map();
  const skip = new Set<string>();
  for (const [key, b] of blocks) {
    // A chain only appended to (not declared) is not ours to rewrite whole.
    if (b.decl === undefined) continue;
    const text = b.rules.join('\n');
    texts.set(key, text);
    if (previous?.get(key) === text) skip.add(key);
  }
  if (skip.size === 0) return { lines, texts, skipped: 0 };
  const out: string[] = [];
  table = '';
  for (const line of lines) {
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith(':') || line.startsWith('-A ')) {
      const chain = line.startsWith(':') ? declaredChain(line) : ruleChain(line);
      if (skip.has(`${table} ${chain}`)) continue;
    }
    out.push(line);
  }
  return { lines: out, texts, skipped: skip.size };
}
