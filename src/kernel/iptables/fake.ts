// An in-memory iptables for tests without root. Restore input is applied with --noflush semantics to
// a copy of the tables, which replaces them only if every line succeeded; errors carry the input
// line, as iptables-restore reports it. It checks what the kernel rejects and a renderer can get
// wrong: jumps to missing chains, deleting a chain that is referenced or not empty, NAT targets
// outside nat, unknown tables, malformed lines. Rules are kept as the words they were given in
// (the kernel canonicalizes them; the fake does not), so -C/-D match on identical words only.
import type { KubeProxyError } from '../../errors.ts';
import type { IPFamily } from '../../util/ip.ts';
import { type Iptables, IptablesError, type IptablesTable, type IptablesVariant } from './iptables.ts';

export interface FakeRule {
  /** The rule's words after `-A CHAIN`, unquoted. */
  readonly words: readonly string[];
  /** The -j/-g target, if any. */
  readonly target: string | undefined;
  readonly goto: boolean;
}

export interface FakeChain {
  readonly name: string;
  readonly builtin: boolean;
  /** ACCEPT/DROP for built-in chains, '-' for user chains. */
  policy: string;
  rules: FakeRule[];
}

export type FakeTable = Map<string, FakeChain>;

const BUILTIN_CHAINS: Record<IptablesTable, readonly string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
};

const TABLES = Object.keys(BUILTIN_CHAINS) as IptablesTable[];

/** Targets provided by extensions; any other target must be a user chain of the same table. */
const EXTENSION_TARGETS = new Set([
  'ACCEPT',
  'DROP',
  'RETURN',
  'REJECT',
  'DNAT',
  'SNAT',
  'MASQUERADE',
  'REDIRECT',
  'MARK',
  'CONNMARK',
  'LOG',
  'NFLOG',
  'NFQUEUE',
  'QUEUE',
  'CT',
  'NOTRACK',
  'TRACE',
  'TCPMSS',
  'CHECKSUM',
  'CLASSIFY',
  'DSCP',
  'TOS',
  'TTL',
  'HL',
  'SET',
  'AUDIT',
  'TPROXY',
]);
/** Targets the kernel only accepts in one table (xt_target.table). */
const TARGET_TABLE: Record<string, IptablesTable> = {
  DNAT: 'nat',
  SNAT: 'nat',
  MASQUERADE: 'nat',
  REDIRECT: 'nat',
  REJECT: 'filter',
  TPROXY: 'mangle',
};

export function isIptablesTable(name: string): name is IptablesTable {
  return (TABLES as readonly string[]).includes(name);
}

/** Splits a rule into words as iptables-restore does: whitespace-separated, "double quotes" with \" escapes. */
export function splitRuleWords(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i++;
    if (i >= line.length) break;
    let word = '';
    let quoted = false;
    while (i < line.length && (quoted || !/\s/.test(line[i]!))) {
      const c = line[i]!;
      if (c === '\\' && quoted && (line[i + 1] === '"' || line[i + 1] === '\\')) {
        word += line[i + 1];
        i += 2;
        continue;
      }
      if (c === '"') quoted = !quoted;
      else word += c;
      i++;
    }
    if (quoted) throw new Error('unterminated quoted string');
    words.push(word);
  }
  return words;
}

/** Quotes a word as iptables-save does: only when it would not survive splitting otherwise. */
export function quoteRuleWord(word: string): string {
  if (word !== '' && !/[\s"\\]/.test(word)) return word;
  return `"${word.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

function makeRule(words: readonly string[]): FakeRule {
  let target: string | undefined;
  let goto = false;
  for (let i = 0; i < words.length - 1; i++) {
    const w = words[i];
    if (w === '-j' || w === '--jump' || w === '-g' || w === '--goto') {
      target = words[i + 1];
      goto = w === '-g' || w === '--goto';
    }
  }
  return { words: [...words], target, goto };
}

function sameWords(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((w, i) => w === b[i]);
}

function newTable(table: IptablesTable): FakeTable {
  return new Map(
    BUILTIN_CHAINS[table].map((name) => [name, { name, builtin: true, policy: 'ACCEPT', rules: [] }]),
  );
}

function cloneTable(t: FakeTable): FakeTable {
  return new Map([...t].map(([k, c]) => [k, { ...c, rules: [...c.rules] }]));
}

/** A restore failure: what the error says and the input line it blames. */
class LineError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(message);
    this.line = line;
  }
}

export interface FakeIptablesOptions {
  readonly family?: IPFamily;
  readonly variant?: IptablesVariant;
  /**
   * The real iptables-restore commits each table at its COMMIT line, so a failure in a later table
   * leaves earlier ones applied. By default the fake is stricter (the whole input or nothing).
   */
  readonly commitPerTable?: boolean;
}

export class FakeIptables implements Iptables {
  readonly family: IPFamily;
  readonly variant: IptablesVariant;
  readonly #commitPerTable: boolean;
  tables: Map<IptablesTable, FakeTable>;
  /** Set to make the next restore fail, to exercise error paths. */
  failNext: KubeProxyError | undefined;
  restoreCount = 0;
  lastRestoreInput: string | undefined;

  constructor(opts: FakeIptablesOptions = {}) {
    this.family = opts.family ?? 'IPv4';
    this.variant = opts.variant ?? 'nft';
    this.#commitPerTable = opts.commitPerTable ?? false;
    this.tables = new Map(TABLES.map((t) => [t, newTable(t)]));
  }

  /** A fake holding what an iptables-save text (of any number of tables) describes. */
  static fromSave(text: string, opts: FakeIptablesOptions = {}): FakeIptables {
    const f = new FakeIptables(opts);
    f.tables = f.#applied(text);
    return f;
  }

  get #restoreCommand(): string {
    return `${this.family === 'IPv6' ? 'ip6tables' : 'iptables'}-${this.variant}-restore`;
  }

  async restore(input: string, _opts: { counters?: boolean } = {}): Promise<void> {
    this.restoreCount++;
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = undefined;
      throw err;
    }
    this.lastRestoreInput = input;
    this.tables = this.#applied(input);
  }

  async save(table: IptablesTable): Promise<string> {
    return this.dump(table);
  }

  async ensureChain(table: IptablesTable, chain: string): Promise<boolean> {
    const t = this.#table(table);
    if (t.has(chain)) return true;
    t.set(chain, { name: chain, builtin: false, policy: '-', rules: [] });
    return false;
  }

  async ensureRule(
    table: IptablesTable,
    chain: string,
    args: readonly string[],
    position: 'prepend' | 'append',
  ): Promise<boolean> {
    const t = this.#table(table);
    const c = t.get(chain);
    if (c?.rules.some((r) => sameWords(r.words, args))) return true;
    const op = position === 'prepend' ? '-I' : '-A';
    this.#single(op, table, chain, args, () =>
      this.#addRule(table, t, chain, args, position === 'prepend' ? 0 : -1),
    );
    return false;
  }

  async ruleExists(table: IptablesTable, chain: string, args: readonly string[]): Promise<boolean> {
    return (
      this.#table(table)
        .get(chain)
        ?.rules.some((r) => sameWords(r.words, args)) ?? false
    );
  }

  async deleteRule(table: IptablesTable, chain: string, args: readonly string[]): Promise<void> {
    const c = this.#table(table).get(chain);
    const i = c?.rules.findIndex((r) => sameWords(r.words, args)) ?? -1;
    if (c && i >= 0) c.rules.splice(i, 1);
  }

  async chainExists(table: IptablesTable, chain: string): Promise<boolean> {
    return this.#table(table).has(chain);
  }

  async deleteChain(table: IptablesTable, chain: string): Promise<void> {
    const t = this.#table(table);
    const c = t.get(chain);
    if (!c) return;
    c.rules = [];
    this.#single('-X', table, chain, [], () => this.#deleteChain(t, chain));
  }

  /** Removes every user chain and rule of the table, as a firewall reload or `iptables -F; -X` would. */
  flushTable(table: IptablesTable): void {
    this.tables.set(table, newTable(table));
  }

  /** The chains of a table, built-ins first, then in the order they were created. */
  chains(table: IptablesTable): string[] {
    return [...this.#table(table).keys()];
  }

  /** The rules of a chain as iptables-save prints them after `-A CHAIN `; undefined if no such chain. */
  rules(table: IptablesTable, chain: string): string[] | undefined {
    return this.#table(table)
      .get(chain)
      ?.rules.map((r) => r.words.map(quoteRuleWord).join(' '));
  }

  /** iptables-save format (without the comment lines): built-in chains first, then as created. */
  dump(table: IptablesTable): string {
    const t = this.#table(table);
    const lines = [`*${table}`];
    for (const c of t.values()) lines.push(`:${c.name} ${c.policy} [0:0]`);
    for (const c of t.values()) {
      for (const r of c.rules) lines.push(`-A ${c.name} ${r.words.map(quoteRuleWord).join(' ')}`);
    }
    lines.push('COMMIT');
    return `${lines.join('\n')}\n`;
  }

  #table(table: IptablesTable): FakeTable {
    const t = this.tables.get(table);
    if (!t) throw new Error(`fake iptables: no table ${table}`);
    return t;
  }

  /** Runs a single-rule command's change, turning a failure into the error the iptables binary gives. */
  #single(op: string, table: IptablesTable, chain: string, args: readonly string[], fn: () => void): void {
    try {
      fn();
    } catch (e) {
      const bin = `${this.family === 'IPv6' ? 'ip6tables' : 'iptables'}-${this.variant}`;
      throw new IptablesError([bin, '-w', '5', op, chain, '-t', table, ...args].join(' '), {
        code: 1,
        stdout: '',
        stderr: `iptables: ${(e as Error).message}.\n`,
      });
    }
  }

  /** The tables after the restore input, applied to copies; throws an IptablesError with the line on failure. */
  #applied(input: string): Map<IptablesTable, FakeTable> {
    const committed = new Map([...this.tables].map(([k, t]) => [k, cloneTable(t)]));
    // Without per-table commits, a COMMIT only moves the table into `staged`, taken at the very end.
    const staged = this.#commitPerTable ? committed : new Map(committed);
    let current: { name: IptablesTable; table: FakeTable; line: number } | undefined;
    const lines = input.split('\n');
    try {
      for (let n = 1; n <= lines.length; n++) {
        let line = lines[n - 1]!.trim();
        if (line === '' || line.startsWith('#')) continue;
        if (line.startsWith('*')) {
          if (current) throw new LineError(n, `COMMIT expected at line ${n}`);
          const name = line.slice(1).trim();
          if (!isIptablesTable(name)) throw new LineError(n, `table name '${name}' invalid`);
          current = { name, table: cloneTable(staged.get(name)!), line: n };
          continue;
        }
        if (!current) throw new LineError(n, 'no table specified');
        if (line === 'COMMIT') {
          staged.set(current.name, current.table);
          current = undefined;
          continue;
        }
        if (line.startsWith(':')) {
          this.#declare(current.name, current.table, line.slice(1), n);
          continue;
        }
        // --counters input prefixes rules with "[packets:bytes]".
        const counters = /^\[\d+:\d+\]\s+/.exec(line);
        if (counters) line = line.slice(counters[0].length);
        let words: string[];
        try {
          words = splitRuleWords(line);
        } catch (e) {
          throw new LineError(n, (e as Error).message);
        }
        try {
          this.#command(current.name, current.table, words);
        } catch (e) {
          if (e instanceof LineError && !Number.isNaN(e.line)) throw e;
          throw new LineError(n, (e as Error).message);
        }
      }
      if (current) throw new LineError(lines.length, `COMMIT expected at line ${lines.length}`);
    } catch (e) {
      if (!(e instanceof LineError)) throw e;
      if (this.#commitPerTable) this.tables = committed;
      throw new IptablesError(
        `${this.#restoreCommand} -w 5 --noflush`,
        {
          code: 1,
          stdout: '',
          stderr: `${this.#restoreCommand}: line ${e.line} failed: ${e.message}\n`,
        },
        e.line,
      );
    }
    return staged;
  }

  /** ":NAME POLICY [p:b]": a built-in chain gets its policy; a user chain is created, or flushed if it exists. */
  #declare(tableName: IptablesTable, t: FakeTable, rest: string, n: number): void {
    const [name, policy] = rest.trim().split(/\s+/);
    if (!name || !policy) throw new LineError(n, 'chain declaration needs a name and a policy');
    const c = t.get(name);
    if (c?.builtin) {
      if (policy !== '-') {
        if (policy !== 'ACCEPT' && policy !== 'DROP') throw new LineError(n, `bad policy ${policy}`);
        c.policy = policy;
      }
      return;
    }
    if (policy !== '-')
      throw new LineError(n, `can't set policy on user-defined chain ${name} in ${tableName}`);
    if (c) c.rules = [];
    else {
      if (!/^[^\s!-][^\s]{0,28}$/.test(name)) throw new LineError(n, `invalid chain name ${name}`);
      t.set(name, { name, builtin: false, policy: '-', rules: [] });
    }
  }

  #command(tableName: IptablesTable, t: FakeTable, words: string[]): void {
    const [op, chain, ...rest] = words;
    if (op === undefined) throw new Error('empty command');
    switch (op) {
      case '-A':
      case '--append':
        this.#addRule(tableName, t, need(chain), rest, -1);
        return;
      case '-I':
      case '--insert': {
        let pos = 0;
        if (rest[0] !== undefined && /^[0-9]+$/.test(rest[0])) {
          pos = Number(rest.shift()) - 1;
          if (pos < 0) throw new Error('invalid rule number');
        }
        this.#addRule(tableName, t, need(chain), rest, pos);
        return;
      }
      case '-D':
      case '--delete': {
        const c = this.#chain(t, need(chain));
        let i: number;
        if (rest.length === 1 && /^[0-9]+$/.test(rest[0]!)) i = Number(rest[0]) - 1;
        else {
          checkRuleSyntax(rest);
          i = c.rules.findIndex((r) => sameWords(r.words, rest));
        }
        if (i < 0 || i >= c.rules.length)
          throw new Error('Bad rule (does a matching rule exist in that chain?)');
        c.rules.splice(i, 1);
        return;
      }
      case '-F':
      case '--flush':
        if (rest.length) throw new Error(`unexpected ${rest[0]} after -F`);
        if (chain === undefined) for (const c of t.values()) c.rules = [];
        else this.#chain(t, chain).rules = [];
        return;
      case '-X':
      case '--delete-chain':
        if (rest.length) throw new Error(`unexpected ${rest[0]} after -X`);
        this.#deleteChain(t, need(chain));
        return;
      case '-N':
      case '--new-chain':
        if (rest.length) throw new Error(`unexpected ${rest[0]} after -N`);
        if (t.has(need(chain))) throw new Error('Chain already exists');
        this.#declare(tableName, t, `${chain} -`, Number.NaN);
        return;
      case '-P':
      case '--policy': {
        const c = this.#chain(t, need(chain));
        if (!c.builtin || rest.length !== 1 || (rest[0] !== 'ACCEPT' && rest[0] !== 'DROP')) {
          throw new Error(`bad policy for ${chain}`);
        }
        c.policy = rest[0];
        return;
      }
      default:
        throw new Error(`unknown command ${op}`);
    }
  }

  #chain(t: FakeTable, name: string): FakeChain {
    const c = t.get(name);
    if (!c) throw new Error('No chain/target/match by that name');
    return c;
  }

  #addRule(
    tableName: IptablesTable,
    t: FakeTable,
    chain: string,
    words: readonly string[],
    pos: number,
  ): void {
    const c = this.#chain(t, chain);
    checkRuleSyntax(words);
    const rule = makeRule(words);
    if (rule.target !== undefined) {
      const target = t.get(rule.target);
      if (target?.builtin) throw new Error(`cannot jump to built-in chain ${rule.target}`);
      if (!target) {
        if (!EXTENSION_TARGETS.has(rule.target)) throw new Error(`Chain '${rule.target}' does not exist`);
        const only = TARGET_TABLE[rule.target];
        if (only && only !== tableName)
          throw new Error(`target ${rule.target} is only valid in the ${only} table`);
      }
    }
    if (pos < 0 || pos >= c.rules.length) {
      if (pos > c.rules.length) throw new Error('Index of insertion too big');
      c.rules.push(rule);
    } else c.rules.splice(pos, 0, rule);
  }

  #deleteChain(t: FakeTable, name: string): void {
    const c = this.#chain(t, name);
    if (c.builtin) throw new Error(`cannot delete built-in chain ${name}`);
    if (c.rules.length) throw new Error(`Directory not empty: chain ${name} still has rules`);
    for (const other of t.values()) {
      if (other.rules.some((r) => r.target === name)) {
        throw new Error(`Too many links: chain ${name} is referenced from ${other.name}`);
      }
    }
    t.delete(name);
  }
}

function need(chain: string | undefined): string {
  if (chain === undefined || chain.startsWith('-')) throw new Error('option requires a chain name');
  return chain;
}

/** The syntax errors iptables itself rejects before anything reaches the kernel. */
function checkRuleSyntax(words: readonly string[]): void {
  const withValue = new Set(['-j', '--jump', '-g', '--goto', '-m', '--match', '-p', '--protocol']);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (i === 0 && w !== '!' && !w.startsWith('-')) throw new Error(`Bad argument \`${w}'`);
    if (w === '!' && !words[i + 1]?.startsWith('-')) throw new Error('! must be followed by an option');
    if (withValue.has(w) && (words[i + 1] === undefined || words[i + 1]!.startsWith('-'))) {
      throw new Error(`option "${w}" requires an argument`);
    }
  }
}
