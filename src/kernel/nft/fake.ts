// An in-memory nftables for tests without root. It applies a transaction to a copy of its tables and
// keeps the copy only if every operation succeeded, as the kernel does; dump() renders the state
// back as `nft -f` text in a stable order for golden comparisons, and parseDump() reads such text
// back into the tables (knftables' Fake.ParseDump), so tests change the "kernel" in its own words.
import { KubeProxyError } from '../../errors.ts';
import type { KernelElement, Nftables, TableCounts } from './nftables.ts';
import {
  type ChainObject,
  type Family,
  type NftObject,
  type Operation,
  render,
  type SetObject,
  type Verb,
} from './objects.ts';
import type { Transaction } from './transaction.ts';

interface FakeChain {
  def: ChainObject;
  rules: { rule: string; comment: string | undefined }[];
}

interface FakeSet {
  def: SetObject;
  elements: Map<
    string,
    {
      key: readonly string[];
      value: string | undefined;
      comment: string | undefined;
      expiresSeconds?: number | undefined;
    }
  >;
}

export interface FakeTable {
  comment: string | undefined;
  chains: Map<string, FakeChain>;
  sets: Map<string, FakeSet>;
}

function notFound(what: string): KubeProxyError {
  return new KubeProxyError('KP_ERR_NFT_NOT_FOUND', `${what}: No such file or directory`);
}

function cloneTable(t: FakeTable): FakeTable {
  return {
    comment: t.comment,
    chains: new Map([...t.chains].map(([k, c]) => [k, { def: c.def, rules: [...c.rules] }])),
    sets: new Map([...t.sets].map(([k, s]) => [k, { def: s.def, elements: new Map(s.elements) }])),
  };
}

const REFERENCE = /\b(?:jump|goto) ([A-Za-z_.][A-Za-z0-9/\-_.]*)/g;

function invalidDump(line: string): KubeProxyError {
  return new KubeProxyError('KP_ERR_NFT_INVALID', `cannot parse dump line: ${line}`);
}

/** `thing ;` clauses between the braces of a chain, set or map: `type nat hook ... ;`, `comment "x" ;`. */
function clauses(body: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (body ?? '').split(/ ;(?: |$)/)) {
    const p = part.trim();
    if (p === '') continue;
    const sp = p.indexOf(' ');
    out.set(p.slice(0, sp), p.slice(sp + 1));
  }
  return out;
}

function unquote(s: string | undefined): string | undefined {
  return s === undefined ? undefined : s.replace(/^"(.*)"$/, '$1');
}

/** One line of dump() (render()'s `nft -f` text) back into the table it names and its operation. */
export function parseDumpLine(line: string): { family: Family; table: string; op: Operation } {
  const m = /^(add|flush|delete) (table|chain|rule|set|map|element) (ip6?) (\S+)(?: (.*))?$/.exec(
    line.trim(),
  );
  if (!m) throw invalidDump(line);
  const verb = m[1] as Verb;
  const family = m[3] as Family;
  const table = m[4]!;
  const rest = m[5] ?? '';
  const braced = /^(\S+)(?: \{ (.*) \})?$/;
  let object: NftObject;
  switch (m[2]) {
    case 'table': {
      const c = /^\{ comment "([^"]*)" ; \}$/.exec(rest);
      object = { kind: 'table', ...(c && { comment: c[1]! }) };
      break;
    }
    case 'chain': {
      const b = braced.exec(rest);
      if (!b) throw invalidDump(line);
      const cl = clauses(b[2]);
      const type = cl.get('type');
      const base = type && /^(filter|nat) hook (\S+) priority (-?\d+)$/.exec(type);
      if (type && !base) throw invalidDump(line);
      const comment = unquote(cl.get('comment'));
      object = {
        kind: 'chain',
        name: b[1]!,
        ...(base && {
          base: { type: base[1] as 'filter' | 'nat', hook: base[2]!, priority: Number(base[3]) },
        }),
        ...(comment !== undefined && { comment }),
      };
      break;
    }
    case 'rule': {
      const r = /^(\S+) (.*?)(?: comment "([^"]*)")?$/.exec(rest);
      if (!r) throw invalidDump(line);
      object = { kind: 'rule', chain: r[1]!, rule: r[2]!, ...(r[3] !== undefined && { comment: r[3] }) };
      break;
    }
    case 'set':
    case 'map': {
      const b = braced.exec(rest);
      if (!b) throw invalidDump(line);
      const cl = clauses(b[2]);
      const timeout = cl.get('timeout');
      const comment = unquote(cl.get('comment'));
      object = {
        kind: m[2],
        name: b[1]!,
        type: cl.get('type') ?? '',
        ...(cl.has('flags') && { flags: cl.get('flags')!.split(',') }),
        ...(timeout !== undefined && { timeoutSeconds: Number(timeout.replace(/s$/, '')) }),
        ...(comment !== undefined && { comment }),
      };
      break;
    }
    default: {
      const e = /^(\S+) \{ (.*?)(?: expires (\d+)s)?(?: comment "([^"]*)")?(?: : (.*))? \}$/.exec(rest);
      if (!e) throw invalidDump(line);
      object = {
        kind: 'element',
        set: e[1]!,
        key: e[2]!.split(' . '),
        ...(e[5] !== undefined && { value: e[5] }),
        ...(e[3] !== undefined && { expiresSeconds: Number(e[3]) }),
        ...(e[4] !== undefined && { comment: e[4] }),
      };
    }
  }
  return { family, table, op: { verb, object } };
}

export class FakeNftables implements Nftables {
  tables = new Map<string, FakeTable>();
  lastTransaction: Transaction | undefined;
  /** Set to make the next run fail, to exercise error paths. */
  failNext: KubeProxyError | undefined;
  runCount = 0;
  /** nf_tables' generation: bumped by every run; tests that tamper with `tables` bump it too. */
  generation = 0;

  async run(tx: Transaction): Promise<void> {
    this.runCount++;
    if (tx.error) throw tx.error;
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = undefined;
      throw err;
    }
    this.lastTransaction = tx;
    this.tables = this.#applied(tx);
    this.generation++;
  }

  async check(tx: Transaction): Promise<void> {
    if (tx.error) throw tx.error;
    this.#applied(tx);
  }

  /** The tables after `tx`, applied to a copy in the order nft receives the operations. */
  #applied(tx: Transaction): Map<string, FakeTable> {
    const next = new Map([...this.tables].map(([k, t]) => [k, cloneTable(t)]));
    const { others, elements, rules } = tx.orderedOperations();
    const key = `${tx.family} ${tx.table}`;
    for (const op of others) this.#apply(next, key, op);
    for (const ops of elements.values()) for (const op of ops) this.#apply(next, key, op);
    for (const ops of rules.values()) for (const op of ops) this.#apply(next, key, op);
    return next;
  }

  async hasTable(family: Family, table: string): Promise<boolean> {
    return this.tables.has(`${family} ${table}`);
  }

  async list(family: Family, table: string, kind: 'chains' | 'sets' | 'maps'): Promise<string[]> {
    const t = this.tables.get(`${family} ${table}`);
    if (!t) return [];
    return kind === 'chains'
      ? [...t.chains.keys()]
      : [...t.sets.values()].filter((s) => `${s.def.kind}s` === kind).map((s) => s.def.name);
  }

  async tableCounts(family: Family, table: string, unless?: number): Promise<TableCounts | undefined> {
    if (unless === this.generation)
      return { generation: this.generation, unchanged: true, chains: new Map(), sets: new Map() };
    const t = this.tables.get(`${family} ${table}`);
    if (!t) return undefined;
    return {
      generation: this.generation,
      chains: new Map([...t.chains].map(([name, c]) => [name, c.rules.length])),
      sets: new Map([...t.sets].map(([name, s]) => [name, s.elements.size])),
    };
  }

  /** Elements as added by transactions (the fake has no data path adding elements of its own). */
  async listElements(family: Family, table: string, map: string): Promise<KernelElement[]> {
    const s = this.tables.get(`${family} ${table}`)?.sets.get(map);
    if (!s) throw notFound(`map ${map}`);
    return [...s.elements.values()].map((e) => ({
      key: e.key,
      value: e.value === undefined ? [] : e.value.split(' . '),
      expiresSeconds: e.expiresSeconds ?? s.def.timeoutSeconds,
    }));
  }

  /**
   * Makes the tables exactly what `text` describes: dump() output, or any `nft -f` lines of the
   * kinds render() writes, applied in order. A change behind the proxy's back, so the generation
   * moves on (no transaction is run or recorded).
   */
  parseDump(text: string): void {
    const tables = new Map<string, FakeTable>();
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const { family, table, op } = parseDumpLine(line);
      this.#apply(tables, `${family} ${table}`, op);
    }
    this.tables = tables;
    this.generation++;
  }

  /** The table as sorted `nft -f` lines: table, chains, rules in order, sets, elements sorted. */
  dump(family: Family, table: string): string {
    const t = this.tables.get(`${family} ${table}`);
    if (!t) return '';
    const lines: string[] = [
      render(family, table, { verb: 'add', object: { kind: 'table', comment: t.comment } }),
    ];
    const chains = [...t.chains.values()].sort((a, b) => (a.def.name < b.def.name ? -1 : 1));
    const sets = [...t.sets.values()].sort((a, b) => (a.def.name < b.def.name ? -1 : 1));
    for (const c of chains) lines.push(render(family, table, { verb: 'add', object: c.def }));
    for (const s of sets) lines.push(render(family, table, { verb: 'add', object: s.def }));
    for (const c of chains) {
      for (const r of c.rules) {
        lines.push(render(family, table, { verb: 'add', object: { kind: 'rule', chain: c.def.name, ...r } }));
      }
    }
    for (const s of sets) {
      const elems = [...s.elements.values()].map((e) =>
        render(family, table, { verb: 'add', object: { kind: 'element', set: s.def.name, ...e } }),
      );
      lines.push(...elems.sort());
    }
    return `${lines.join('\n')}\n`;
  }

  #apply(tables: Map<string, FakeTable>, tableKey: string, op: Operation): void {
    const { verb, object: obj } = op;
    if (obj.kind === 'table') {
      if (verb === 'add') {
        if (!tables.has(tableKey))
          tables.set(tableKey, { comment: obj.comment, chains: new Map(), sets: new Map() });
      } else if (!tables.has(tableKey)) throw notFound(`table ${tableKey}`);
      else if (verb === 'delete') tables.delete(tableKey);
      else for (const c of tables.get(tableKey)!.chains.values()) c.rules = [];
      return;
    }
    const t = tables.get(tableKey);
    if (!t) throw notFound(`table ${tableKey}`);
    switch (obj.kind) {
      case 'chain': {
        const c = t.chains.get(obj.name);
        if (verb === 'add') {
          if (!c) t.chains.set(obj.name, { def: obj, rules: [] });
        } else if (!c) throw notFound(`chain ${obj.name}`);
        else if (verb === 'flush') c.rules = [];
        else {
          // The kernel deletes a chain with rules in it, but not one that something jumps to.
          if (this.#referenced(t, obj.name)) {
            throw new KubeProxyError(
              'KP_ERR_NFT_FAILED',
              `chain ${obj.name} is referenced: Device or resource busy`,
            );
          }
          t.chains.delete(obj.name);
        }
        return;
      }
      case 'rule': {
        const c = t.chains.get(obj.chain);
        if (!c) throw notFound(`chain ${obj.chain}`);
        for (const m of obj.rule.matchAll(REFERENCE))
          if (!t.chains.has(m[1]!)) throw notFound(`chain ${m[1]}`);
        c.rules.push({ rule: obj.rule, comment: obj.comment });
        return;
      }
      case 'set':
      case 'map': {
        const s = t.sets.get(obj.name);
        if (verb === 'add') {
          if (!s) t.sets.set(obj.name, { def: obj, elements: new Map() });
        } else if (!s) throw notFound(`${obj.kind} ${obj.name}`);
        else if (verb === 'flush') s.elements.clear();
        else t.sets.delete(obj.name);
        return;
      }
      case 'element': {
        const s = t.sets.get(obj.set);
        if (!s) throw notFound(`set ${obj.set}`);
        const key = obj.key.join(' . ');
        if (verb === 'delete') {
          if (!s.elements.delete(key)) throw notFound(`element ${key} in ${obj.set}`);
          return;
        }
        const existing = s.elements.get(key);
        if (existing && existing.value !== obj.value) {
          throw new KubeProxyError('KP_ERR_NFT_EXISTS', `element ${key} in ${obj.set}: File exists`);
        }
        if (obj.value) {
          for (const m of obj.value.matchAll(REFERENCE))
            if (!t.chains.has(m[1]!)) throw notFound(`chain ${m[1]}`);
        }
        s.elements.set(key, {
          key: obj.key,
          value: obj.value,
          comment: obj.comment,
          ...(obj.expiresSeconds !== undefined && { expiresSeconds: obj.expiresSeconds }),
        });
        return;
      }
    }
  }

  #referenced(t: FakeTable, chain: string): boolean {
    const refersTo = (text: string | undefined) =>
      text !== undefined && [...text.matchAll(REFERENCE)].some((m) => m[1] === chain);
    for (const c of t.chains.values()) if (c.rules.some((r) => refersTo(r.rule))) return true;
    for (const s of t.sets.values()) for (const e of s.elements.values()) if (refersTo(e.value)) return true;
    return false;
  }
}
