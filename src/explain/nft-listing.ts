// Reads `nft -a list table FAMILY kube-proxy` (nft's own text, with rule handles) into the table
// the tracer walks: chains with their rules (text, comment, handle) and sets/maps with elements.
// nft prints rules in its canonical spelling (`numgen random mod 2 0`, `meta mark set meta mark |
// 0x4000`), which the tracer reads as well as ours.
import { KubeProxyError } from '../errors.ts';
import { parseIP } from '../util/ip.ts';
import type { TraceTable } from './nft-tracer.ts';

interface Rule {
  rule: string;
  comment?: string;
  handle?: number;
}

export interface ListedTable extends TraceTable {
  readonly chains: Map<string, { rules: Rule[] }>;
  readonly sets: Map<string, { elements: Map<string, ListedElement> }>;
}

/** An element's value (maps) and comment, by its canonical key ("198.18.0.1 . tcp . 80"). */
export interface ListedElement {
  readonly value?: string;
  readonly comment?: string;
}

const HANDLE = / # handle (\d+)$/;
const COMMENT = / comment "([^"]*)"/;

/** Splits at top-level commas, keeping quoted text whole. */
function splitElements(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '') out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

function canonicalField(f: string): string {
  return parseIP(f)?.text ?? f;
}

/** One element as nft prints it: `KEY [timeout T] [expires E] [comment "C"] [: VALUE]`. */
function parseElement(text: string): { key: string; value?: string; comment?: string } {
  const sep = text.indexOf(' : ');
  let key = sep < 0 ? text : text.slice(0, sep);
  const value = sep < 0 ? undefined : text.slice(sep + 3).trim();
  const comment = COMMENT.exec(key)?.[1];
  key = key
    .replace(COMMENT, '')
    .replace(/ (?:timeout|expires) \S+/g, '')
    .trim();
  return {
    key: key
      .split(' . ')
      .map((f) => canonicalField(f.trim()))
      .join(' . '),
    ...(value !== undefined && { value: canonicalField(value) }),
    ...(comment !== undefined && { comment }),
  };
}

export function parseNftListing(text: string): ListedTable {
  const chains = new Map<string, { rules: Rule[] }>();
  const sets = new Map<string, { elements: Map<string, ListedElement> }>();
  const lines = text.split('\n');
  let chain: { rules: Rule[] } | undefined;
  let set: { elements: Map<string, ListedElement> } | undefined;
  let table = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    let m = /^table (?:ip6?|inet) \S+ \{/.exec(line);
    if (m) {
      table = true;
      continue;
    }
    m = /^chain (\S+) \{/.exec(line);
    if (m) {
      chain = { rules: [] };
      set = undefined;
      chains.set(m[1]!, chain);
      continue;
    }
    m = /^(?:set|map) (\S+) \{/.exec(line);
    if (m) {
      set = { elements: new Map() };
      chain = undefined;
      sets.set(m[1]!, set);
      continue;
    }
    if (line === '}') {
      chain = undefined;
      set = undefined;
      continue;
    }
    if (set) {
      if (!line.startsWith('elements = {')) continue;
      // The element list runs until its closing brace, over as many lines as nft wrapped it into.
      let body = line.slice('elements = {'.length);
      while (!body.trimEnd().endsWith('}') && i + 1 < lines.length) body += ` ${lines[++i]!.trim()}`;
      body = body.trimEnd().slice(0, -1);
      for (const e of splitElements(body)) {
        const { key, ...rest } = parseElement(e);
        set.elements.set(key, rest);
      }
      continue;
    }
    if (chain) {
      if (/^(?:type|policy|comment|flags|devices) /.test(line)) continue;
      let rule = line;
      const h = HANDLE.exec(rule);
      const handle = h ? Number(h[1]) : undefined;
      if (h) rule = rule.slice(0, h.index);
      const c = COMMENT.exec(rule);
      if (c) rule = (rule.slice(0, c.index) + rule.slice(c.index + c[0].length)).trim();
      chain.rules.push({
        rule,
        ...(c && { comment: c[1]! }),
        ...(handle !== undefined && { handle }),
      });
    }
  }
  if (!table) throw new KubeProxyError('KP_ERR_NFT_INVALID', 'not an nft table listing');
  return { chains, sets };
}
