// A Transaction only collects operations; nothing touches the kernel until an Nftables runs it,
// as one atomic `nft -f -` batch. The first invalid operation is latched and fails the run.
import type { KubeProxyError } from '../../errors.ts';
import { type Family, type NftObject, type Operation, render, type Verb, validate } from './objects.ts';

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
