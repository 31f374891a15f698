// The differences between two states of the manifest directory, and how each reaches the handlers.
import type { ProxyHandlers } from '../handlers.ts';
import type { DecodedObject } from './decode.ts';
import { deepEqual } from './json-value.ts';

export type Change =
  | { type: 'add'; object: DecodedObject }
  | { type: 'update'; old: DecodedObject; object: DecodedObject }
  | { type: 'delete'; object: DecodedObject };

/** Deletes first, then adds and updates in `next` order; an object whose content is unchanged is no change. */
export function diffObjects(
  prev: ReadonlyMap<string, DecodedObject>,
  next: ReadonlyMap<string, DecodedObject>,
): Change[] {
  const changes: Change[] = [];
  for (const [key, old] of prev) if (!next.has(key)) changes.push({ type: 'delete', object: old });
  for (const [key, object] of next) {
    const old = prev.get(key);
    if (!old) changes.push({ type: 'add', object });
    else if (!deepEqual(old.object, object.object)) changes.push({ type: 'update', old, object });
  }
  return changes;
}

/** ServiceCIDR objects have no per-object handler: they reach the proxy as a union, elsewhere. */
export function deliverChange(h: ProxyHandlers, change: Change): void {
  const o = change.object;
  if (change.type === 'add') {
    if (o.kind === 'Service') h.onServiceAdd(o.object);
    else if (o.kind === 'EndpointSlice') h.onEndpointSliceAdd(o.object);
    else if (o.kind === 'Node') h.onNodeAdd(o.object);
  } else if (change.type === 'delete') {
    if (o.kind === 'Service') h.onServiceDelete(o.object);
    else if (o.kind === 'EndpointSlice') h.onEndpointSliceDelete(o.object);
    else if (o.kind === 'Node') h.onNodeDelete(o.object);
  } else {
    // Keys include the kind, so old and new are always the same kind.
    const old = change.old;
    if (o.kind === 'Service' && old.kind === 'Service') h.onServiceUpdate(old.object, o.object);
    else if (o.kind === 'EndpointSlice' && old.kind === 'EndpointSlice')
      h.onEndpointSliceUpdate(old.object, o.object);
    else if (o.kind === 'Node' && old.kind === 'Node') h.onNodeUpdate(old.object, o.object);
  }
}
