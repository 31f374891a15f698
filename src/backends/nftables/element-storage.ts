// Remembers which elements a set or map holds in the kernel, so that a partial sync sends only
// the differences (upstream's nftElementStorage).
import type { ElementObject } from '../../kernel/nft/objects.ts';
import type { Transaction } from '../../kernel/nft/transaction.ts';

export class ElementStorage {
  readonly kind: 'set' | 'map';
  readonly name: string;
  readonly #elements = new Map<string, string | undefined>();
  #leftover = new Set<string>();

  constructor(kind: 'set' | 'map', name: string) {
    this.kind = kind;
    this.name = name;
  }

  /** Forgets everything and flushes the container in `tx` (full syncs). */
  reset(tx: Transaction, type: string): void {
    this.#elements.clear();
    this.#leftover.clear();
    tx.flush({ kind: this.kind, name: this.name, type });
  }

  /** Marks the start of a sync: every known element is a leftover until ensured again. */
  beginSync(): void {
    this.#leftover = new Set(this.#elements.keys());
  }

  /** Adds the element unless the kernel already has it with the same value. */
  ensure(tx: Transaction, key: readonly string[], value?: string, comment?: string): void {
    const k = key.join(' . ');
    this.#leftover.delete(k);
    if (this.#elements.has(k)) {
      if (this.#elements.get(k) === value) return;
      tx.delete(this.#element(key));
    }
    tx.add(this.#element(key, value, comment));
    this.#elements.set(k, value);
  }

  /** Deletes the elements not ensured since beginSync(). */
  cleanup(tx: Transaction): void {
    for (const k of this.#leftover) {
      tx.delete(this.#element(k.split(' . ')));
      this.#elements.delete(k);
    }
    this.#leftover.clear();
  }

  /** Forgets what the kernel holds, after a failed transaction: the next sync must be full. */
  clear(): void {
    this.#elements.clear();
    this.#leftover.clear();
  }

  get size(): number {
    return this.#elements.size;
  }

  #element(key: readonly string[], value?: string, comment?: string): ElementObject {
    return {
      kind: 'element',
      set: this.name,
      key,
      ...(value !== undefined && { value }),
      ...(comment !== undefined && { comment }),
    };
  }
}
