// What the backend last wrote into its table, reduced to what a drift check compares cheaply: the
// rule count of every chain it wrote and the element count of every set. Kept by replaying each
// committed transaction in the order the kernel applies it (other operations, then elements, then
// rules; see Transaction.orderedOperations), so it costs O(operations) per sync and no kernel read.
// A full sync flushes and rewrites every chain and set it keeps, so it starts the record afresh.
import type { TableCounts } from '../../kernel/nft/nftables.ts';
import type { Transaction } from '../../kernel/nft/transaction.ts';

export interface WrittenTableOptions {
  /** Sets whose element count the backend knows better (the element storages). */
  readonly counted: ReadonlySet<string>;
  /** Their element counts now. */
  readonly elementCount: (set: string) => number;
  /** Sets the data path fills (session affinity): only their existence is compared. */
  readonly dynamic: (set: string) => boolean;
}

/** Differences listed at most, in a log line. */
const MAX_DIFFS = 5;

export class WrittenTable {
  readonly #opts: WrittenTableOptions;
  /** Rules per chain. */
  #chains = new Map<string, number>();
  /** Keys per set, for the few sets neither counted elsewhere nor dynamic (nodeport-ips). */
  #sets = new Map<string, Set<string>>();
  #written = false;

  constructor(opts: WrittenTableOptions) {
    this.#opts = opts;
  }

  /** Whether anything was recorded since the start or the last reset. */
  get written(): boolean {
    return this.#written;
  }

  /** Forgets everything (a failed sync: the kernel's state is unknown until the next full sync). */
  reset(): void {
    this.#chains = new Map();
    this.#sets = new Map();
    this.#written = false;
  }

  /** Records a transaction the kernel committed; `full` starts the record afresh. */
  applied(tx: Transaction, full: boolean): void {
    if (full) this.reset();
    this.#written = true;
    const rules = new Map<string, number>();
    for (const { verb, object: obj } of tx.operations) {
      switch (obj.kind) {
        case 'table':
          if (verb === 'delete') {
            this.#chains.clear();
            this.#sets.clear();
          } else if (verb === 'flush') for (const c of this.#chains.keys()) this.#chains.set(c, 0);
          break;
        case 'chain':
          if (verb === 'add') {
            if (!this.#chains.has(obj.name)) this.#chains.set(obj.name, 0);
          } else if (verb === 'flush') this.#chains.set(obj.name, 0);
          else this.#chains.delete(obj.name);
          break;
        case 'set':
        case 'map':
          if (verb === 'add') {
            if (!this.#sets.has(obj.name)) this.#sets.set(obj.name, new Set());
          } else if (verb === 'flush') this.#sets.get(obj.name)?.clear();
          else this.#sets.delete(obj.name);
          break;
        case 'element': {
          const keys = this.#sets.get(obj.set);
          if (!keys || this.#opts.dynamic(obj.set) || this.#opts.counted.has(obj.set)) break;
          const id = obj.key.join(' . ');
          if (verb === 'add') keys.add(id);
          else keys.delete(id);
          break;
        }
        case 'rule':
          rules.set(obj.chain, (rules.get(obj.chain) ?? 0) + 1);
          break;
      }
    }
    for (const [chain, n] of rules) this.#chains.set(chain, (this.#chains.get(chain) ?? 0) + n);
  }

  /** Where the kernel differs from the record (at most a few, for a log line); empty: none. */
  diff(kernel: TableCounts | undefined): string[] {
    if (!this.#written) return [];
    if (!kernel) return ['table missing'];
    const out: string[] = [];
    const note = (s: string) => out.length < MAX_DIFFS && out.push(s);
    for (const [chain, rules] of this.#chains) {
      const got = kernel.chains.get(chain);
      if (got === undefined) note(`chain ${chain} missing`);
      else if (got !== rules) note(`chain ${chain} has ${got} rules, ${rules} written`);
    }
    for (const [set, keys] of this.#sets) {
      const got = kernel.sets.get(set);
      if (got === undefined) {
        note(`set ${set} missing`);
        continue;
      }
      if (this.#opts.dynamic(set)) continue;
      const want = this.#opts.counted.has(set) ? this.#opts.elementCount(set) : keys.size;
      if (got !== want) note(`set ${set} has ${got} elements, ${want} written`);
    }
    return out;
  }
}
