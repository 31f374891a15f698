// Mirrors the elements of one kernel set or map, by owner (a service port), so that a sync sends
// only the differences of the owners it recomputes (upstream's nftElementStorage, made
// incremental: a one-service change costs O(that service), not O(all elements)).
import type { ElementObject } from '../../kernel/nft/objects.ts';
import type { Transaction } from '../../kernel/nft/transaction.ts';

export interface ElementSpec {
  readonly key: readonly string[];
  readonly value?: string;
  readonly comment?: string;
}

interface KernelElement {
  /** What the kernel holds for this key (undefined: nothing yet). */
  inKernel: ElementSpec | undefined;
  /** Every owner's wish for this key; the most recent writer wins, as with upstream's last ensure. */
  owners: Map<string, ElementSpec>;
}

export class ElementStorage {
  readonly kind: 'set' | 'map';
  readonly name: string;
  readonly #elements = new Map<string, KernelElement>();
  readonly #byOwner = new Map<string, Map<string, ElementSpec>>();

  constructor(kind: 'set' | 'map', name: string) {
    this.kind = kind;
    this.name = name;
  }

  /** Forgets everything and flushes the container in `tx` (full syncs). */
  reset(tx: Transaction, type: string): void {
    this.clear();
    tx.flush({ kind: this.kind, name: this.name, type });
  }

  /** Replaces what `owner` wants in this container; queues only the resulting kernel changes. */
  set(tx: Transaction, owner: string, specs: readonly ElementSpec[]): void {
    const before = this.#byOwner.get(owner);
    if (before === undefined && specs.length === 0) return;
    const after = new Map<string, ElementSpec>();
    for (const spec of specs) after.set(spec.key.join(' . '), spec);
    if (after.size > 0) this.#byOwner.set(owner, after);
    else this.#byOwner.delete(owner);
    const touched = new Set<string>();
    for (const [k, spec] of after) {
      const prev = before?.get(k);
      if (prev && sameSpec(prev, spec)) continue;
      const el = this.#elements.get(k) ?? { inKernel: undefined, owners: new Map() };
      el.owners.delete(owner); // re-insert: this owner is now the most recent writer
      el.owners.set(owner, spec);
      this.#elements.set(k, el);
      touched.add(k);
    }
    for (const k of before?.keys() ?? []) {
      if (after.has(k)) continue;
      this.#elements.get(k)?.owners.delete(owner);
      touched.add(k);
    }
    for (const k of touched) this.#apply(tx, k);
  }

  /** Forgets what the kernel holds (after a failed transaction: the next sync must be full). */
  clear(): void {
    this.#elements.clear();
    this.#byOwner.clear();
  }

  get size(): number {
    return this.#elements.size;
  }

  /** Brings the kernel's element for key `k` in line with its owners' wishes. */
  #apply(tx: Transaction, k: string): void {
    const el = this.#elements.get(k);
    if (!el) return;
    let wanted: ElementSpec | undefined;
    for (const spec of el.owners.values()) wanted = spec;
    if (wanted === undefined) {
      if (el.inKernel) tx.delete(this.#element(el.inKernel));
      this.#elements.delete(k);
      return;
    }
    if (el.inKernel && sameSpec(el.inKernel, wanted)) return;
    if (el.inKernel) tx.delete(this.#element(el.inKernel));
    tx.add(this.#element(wanted));
    el.inKernel = wanted;
  }

  #element(spec: ElementSpec): ElementObject {
    return {
      kind: 'element',
      set: this.name,
      key: spec.key,
      ...(spec.value !== undefined && { value: spec.value }),
      ...(spec.comment !== undefined && { comment: spec.comment }),
    };
  }
}

function sameSpec(a: ElementSpec, b: ElementSpec): boolean {
  return a.value === b.value && a.comment === b.comment && a.key.join(' . ') === b.key.join(' . ');
}
