// The reflector's cache of one resource, and how a relist or a watch event changes it. Pure.
import type { KubeObject } from '../../model/k8s.ts';

export type StoreChange<T> =
  | { type: 'add'; object: T }
  | { type: 'update'; old: T; object: T }
  | { type: 'delete'; object: T };

/** "namespace/name", or "name" for cluster-scoped objects; undefined without a name. */
export function objectKey(o: KubeObject): string | undefined {
  const name = o.metadata?.name;
  if (typeof name !== 'string' || name === '') return undefined;
  const ns = o.metadata?.namespace;
  return typeof ns === 'string' && ns !== '' ? `${ns}/${name}` : name;
}

export function resourceVersionOf(o: KubeObject): string | undefined {
  const rv = o.metadata?.resourceVersion;
  return typeof rv === 'string' && rv !== '' ? rv : undefined;
}

/**
 * Whether `next` is a new state of `prev`. The resourceVersion changes with every write, so equal
 * versions mean the same state: a relist or resync does not re-deliver unchanged objects.
 */
export function changed(prev: KubeObject, next: KubeObject): boolean {
  const a = resourceVersionOf(prev);
  const b = resourceVersionOf(next);
  return a === undefined || b === undefined || a !== b;
}

/**
 * The changes that turn the cached state into a fresh list: objects that vanished are deleted
 * (with their last known state), new ones added, changed ones updated. Deletes come first, then
 * adds and updates in list order.
 */
export function diffRelist<T extends KubeObject>(
  prev: ReadonlyMap<string, T>,
  next: ReadonlyMap<string, T>,
): StoreChange<T>[] {
  const out: StoreChange<T>[] = [];
  for (const [key, old] of prev) if (!next.has(key)) out.push({ type: 'delete', object: old });
  for (const [key, object] of next) {
    const old = prev.get(key);
    if (old === undefined) out.push({ type: 'add', object });
    else if (changed(old, object)) out.push({ type: 'update', old, object });
  }
  return out;
}

/** Applies an ADDED or MODIFIED event; undefined when it changes nothing. */
export function applyUpsert<T extends KubeObject>(
  store: Map<string, T>,
  key: string,
  object: T,
): StoreChange<T> | undefined {
  const old = store.get(key);
  if (old !== undefined && !changed(old, object)) return undefined;
  store.set(key, object);
  return old === undefined ? { type: 'add', object } : { type: 'update', old, object };
}

/** Applies a DELETED event; undefined when the object was not known. */
export function applyDelete<T extends KubeObject>(
  store: Map<string, T>,
  key: string,
  object: T | undefined,
): StoreChange<T> | undefined {
  const old = store.get(key);
  if (old === undefined) return undefined;
  store.delete(key);
  return { type: 'delete', object: object ?? old };
}
