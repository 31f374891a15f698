// A Transaction only collects operations; nothing touches the kernel until an Nftables runs it,
// as one atomic `nft -f -` batch. The first invalid operation is latched and fails the run.
import type { KubeProxyError } from '../../errors.ts';
import {
  type ElementObject,
  type Family,
  type NftObject,
  type Operation,
  type RuleObject,
  render,
  renderElementBody,
  renderRuleBody,
  type Verb,
  validate,
} from './objects.ts';

/** Elements per `add element` command: long enough to amortise the command, short enough for readable errors. */
const ELEMENTS_PER_COMMAND = 1000;
const CHUNK_CHARS = 64 * 1024;

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
  /**
   * The operations in the order they are sent to nft (the fake applies them in this order too):
   * first everything except added elements and rules, in order; then added elements grouped by
   * set; then rules grouped by chain, each chain's rules in order. nft parses batched elements
   * and one table block of rules far faster than a line per element or rule (and than many small
   * blocks, which it evaluates one by one). Every rule still follows the flush of its chain and
   * the chains and sets it refers to, and every element the flush or delete of what it replaces.
   * A delete of an element added earlier in the same transaction cancels that add instead.
   */
  orderedOperations(): {
    others: Operation[];
    elements: Map<string, Operation[]>;
    rules: Map<string, Operation[]>;
  } {
    const others: Operation[] = [];
    const rules = new Map<string, Operation[]>();
    const pendingBySet = new Map<string, Map<string, Operation>>();
    for (const op of this.#ops) {
      const obj = op.object;
      if (obj.kind === 'rule') {
        const list = rules.get(obj.chain) ?? [];
        list.push(op);
        rules.set(obj.chain, list);
      } else if (obj.kind === 'element') {
        const pending = pendingBySet.get(obj.set) ?? new Map<string, Operation>();
        pendingBySet.set(obj.set, pending);
        const id = obj.key.join(' . ');
        if (op.verb === 'add') pending.set(id, op);
        else if (!pending.delete(id)) others.push(op);
      } else others.push(op);
    }
    const elements = new Map([...pendingBySet].map(([set, pending]) => [set, [...pending.values()]]));
    return { others, elements, rules };
  }

  render(): string {
    return [...this.renderChunks()].join('');
  }

  /**
   * The script in chunks of about 64 KiB, so that a large ruleset streams into nft without one
   * giant string (which would double the sync's peak memory).
   */
  *renderChunks(): Generator<string> {
    const { others, elements, rules } = this.orderedOperations();
    let buf = '';
    const emit = function* (line: string): Generator<string> {
      buf += `${line}\n`;
      if (buf.length >= CHUNK_CHARS) {
        yield buf;
        buf = '';
      }
    };
    for (const op of others) yield* emit(render(this.family, this.table, op));
    for (const [set, ops] of elements) {
      for (let i = 0; i < ops.length; i += ELEMENTS_PER_COMMAND) {
        const bodies = ops
          .slice(i, i + ELEMENTS_PER_COMMAND)
          .map((op) => renderElementBody(op.object as ElementObject));
        yield* emit(`add element ${this.family} ${this.table} ${set} { ${bodies.join(', ')} }`);
      }
    }
    if (rules.size > 0) {
      yield* emit(`table ${this.family} ${this.table} {`);
      for (const [chain, ops] of rules) {
        yield* emit(`\tchain ${chain} {`);
        for (const op of ops) yield* emit(`\t\t${renderRuleBody(op.object as RuleObject)}`);
        yield* emit('\t}');
      }
      yield* emit('}');
    }
    if (buf !== '') yield buf;
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
