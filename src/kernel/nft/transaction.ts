// A Transaction only collects operations; nothing touches the kernel until an Nftables runs it,
// as one atomic `nft -f -` batch. The first invalid operation is latched and fails the run.
import type { KubeProxyError } from '../../errors.ts';
import {
  type Family,
  type NftObject,
  type Operation,
  render,
  renderElementBody,
  renderRuleBody,
  type Verb,
  validate,
} from './objects.ts';

/** Elements per `add element` command: long enough to amortise the command, short enough for readable errors. */
const ELEMENTS_PER_COMMAND = 1000;

export class Transaction {
  readonly family: Family;
  readonly table: string;
  readonly #ops: Operation[] = [];
  #error: KubeProxyError | undefined;

  constructor(family: Family, table: string) {
    this.family = family;
    this.table = table;
  }

  add(object: NftObject): this {
    return this.#push('add', object);
  }

  flush(object: NftObject): this {
    return this.#push('flush', object);
  }

  delete(object: NftObject): this {
    return this.#push('delete', object);
  }

  get error(): KubeProxyError | undefined {
    return this.#error;
  }

  get operations(): readonly Operation[] {
    return this.#ops;
  }

  get numOperations(): number {
    return this.#ops.length;
  }

  /** The `nft -f` script, one operation a line. */
  render(): string {
    // Rules go last, in one table block grouped by chain: nft parses that far faster than one
    // "add rule ip <table> <chain> …" line per rule (and than many small blocks, which it
    // evaluates one by one). Moving rules after the other operations keeps every rule after
    // the flush of its chain and after the chains and sets it refers to, which are all added
    // by those operations; the order of rules within a chain is kept.
    // Added elements are batched per set the same way, after all other operations, so that
    // each follows the flush or the delete of an old value that it replaces.
    const lines: string[] = [];
    const rulesByChain = new Map<string, string[]>();
    const elementsBySet = new Map<string, string[]>();
    for (const op of this.#ops) {
      const obj = op.object;
      if (obj.kind === 'rule') {
        const list = rulesByChain.get(obj.chain) ?? [];
        list.push(renderRuleBody(obj));
        rulesByChain.set(obj.chain, list);
      } else if (obj.kind === 'element' && op.verb === 'add') {
        const list = elementsBySet.get(obj.set) ?? [];
        list.push(renderElementBody(obj));
        elementsBySet.set(obj.set, list);
      } else lines.push(render(this.family, this.table, op));
    }
    for (const [set, elements] of elementsBySet) {
      for (let i = 0; i < elements.length; i += ELEMENTS_PER_COMMAND) {
        lines.push(
          `add element ${this.family} ${this.table} ${set} { ${elements.slice(i, i + ELEMENTS_PER_COMMAND).join(', ')} }`,
        );
      }
    }
    if (rulesByChain.size > 0) {
      lines.push(`table ${this.family} ${this.table} {`);
      for (const [chain, rules] of rulesByChain)
        lines.push(`\tchain ${chain} {`, ...rules.map((r) => `\t\t${r}`), '\t}');
      lines.push('}');
    }
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  }

  /** One operation a line, as `nft -f` would echo it; for logs and tests. */
  renderLines(): string {
    let out = '';
    for (const op of this.#ops) out += `${render(this.family, this.table, op)}\n`;
    return out;
  }

  #push(verb: Verb, object: NftObject): this {
    if (this.#error) return this;
    try {
      validate(verb, object);
      this.#ops.push({ verb, object });
    } catch (err) {
      this.#error = err as KubeProxyError;
    }
    return this;
  }
}
