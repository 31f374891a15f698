// Mirrors the elements of one kernel set or map, by owner (a service port), so that a sync sends
// only the differences of the owners it recomputes (upstream's nftElementStorage, made
// incremental: a one-service change costs O(that service), not O(all elements)).
import type { ElementObject } from '../../kernel/nft/objects.ts';
import type { Transaction } from '../../kernel/nft/transaction.ts';

// Memory matters here: at 10,000 services × 10 endpoints the storages hold ~130,000 elements for
// the life of the process, so an element is one spec (its key kept only as the joined id) and one
// record, with no per-element arrays in the common case of a single owner.

export interface ElementSpec {
  /** The key fields joined with " . ": the element's identity in its set. */
  readonly id: string;
  readonly value?: string;
  readonly comment?: string;
}

export function elementSpec(key: readonly string[], value?: string, comment?: string): ElementSpec {
  return {
    id: key.join(' . '),
    ...(value !== undefined && { value }),
    ...(comment !== undefined && { comment }),
  };
}

type Wish = readonly [owner: string, spec: ElementSpec];

interface KernelElement {
  /** What the kernel holds for this key (undefined: nothing yet). */
  inKernel: ElementSpec | undefined;
  /** The most recent writer's wish, which wins, as with upstream's last ensure (undefined: none left). */
  owner: string | undefined;
  spec: ElementSpec | undefined;
  /** Earlier owners' wishes, oldest first: only when several service ports claim one key. */
  older?: Wish[];
}

export class ElementStorage {
  readonly kind: 'set' | 'map';
  readonly name: string;
  readonly #elements = new Map<string, KernelElement>();
  readonly #byOwner = new Map<string, readonly ElementSpec[]>();

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
    if (specs.length > 0) this.#byOwner.set(owner, specs);
    else this.#byOwner.delete(owner);
    if (before === undefined) {
      for (const spec of specs) this.#wish(tx, owner, spec);
      return;
    }
    const gone = new Map(before.map((s) => [s.id, s]));
    for (const spec of specs) {
      const prev = gone.get(spec.id);
      gone.delete(spec.id);
      if (prev === undefined || !sameSpec(prev, spec)) this.#wish(tx, owner, spec);
    }
    for (const id of gone.keys()) {
      const el = this.#elements.get(id);
      if (!el) continue;
      if (el.owner === owner) {
        const previous = el.older?.pop();
        el.owner = previous?.[0];
        el.spec = previous?.[1];
      } else if (el.older) el.older = el.older.filter(([o]) => o !== owner);
      this.#apply(tx, id, el);
    }
  }

  /** Forgets what the kernel holds (after a failed transaction: the next sync must be full). */
  clear(): void {
    this.#elements.clear();
    this.#byOwner.clear();
  }

  get size(): number {
    return this.#elements.size;
  }

  #wish(tx: Transaction, owner: string, spec: ElementSpec): void {
    let el = this.#elements.get(spec.id);
    if (!el) {
      el = { inKernel: undefined, owner, spec };
      this.#elements.set(spec.id, el);
    } else if (el.owner === owner || el.owner === undefined) {
      el.owner = owner;
      el.spec = spec;
    } else {
      // This owner becomes the most recent writer; the previous one waits behind it.
      const older = (el.older ?? []).filter(([o]) => o !== owner);
      older.push([el.owner, el.spec!]);
      el.older = older;
      el.owner = owner;
      el.spec = spec;
    }
    this.#apply(tx, spec.id, el);
  }

  /** Brings the kernel's element for one key in line with its owners' wishes. */
  #apply(tx: Transaction, id: string, el: KernelElement): void {
    const wanted = el.spec;
    if (wanted === undefined) {
      if (el.inKernel) tx.delete(this.#element(el.inKernel));
      this.#elements.delete(id);
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
      key: spec.id.split(' . '),
      ...(spec.value !== undefined && { value: spec.value }),
      ...(spec.comment !== undefined && { comment: spec.comment }),
    };
  }
}

function sameSpec(a: ElementSpec, b: ElementSpec): boolean {
  return a.id === b.id && a.value === b.value && a.comment === b.comment;
}
