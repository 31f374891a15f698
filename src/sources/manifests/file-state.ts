// How decoded files combine into the set of objects the source delivers. Pure functions; the
// source owns the I/O and the bookkeeping.
import type { DecodedObject, DecodeResult } from './decode.ts';

/**
 * The objects a file contributes after it was re-read. A file that yields nothing but errors is
 * unusable as a whole and keeps everything it contributed before; otherwise the decoded objects
 * apply, and objects whose documents are now broken (but still recognisable) keep their last good
 * version.
 */
export function fileObjectsAfterDecode(
  previous: readonly DecodedObject[],
  result: DecodeResult,
): readonly DecodedObject[] {
  if (result.objects.length === 0 && result.errors.length > 0) return previous;
  const out = [...result.objects];
  const seen = new Set(out.map((o) => o.key));
  const broken = new Set(result.errors.flatMap((e) => e.keys));
  for (const old of previous) {
    if (broken.has(old.key) && !seen.has(old.key)) {
      out.push(old);
      seen.add(old.key);
    }
  }
  return out;
}

export interface Conflict {
  key: string;
  kept: DecodedObject;
  ignored: DecodedObject;
}

export interface MergedObjects {
  objects: Map<string, DecodedObject>;
  conflicts: Conflict[];
}

/** Merges files given in lexical order of their names: the first definition of a key wins. */
export function mergeFiles(files: Iterable<readonly DecodedObject[]>): MergedObjects {
  const objects = new Map<string, DecodedObject>();
  const conflicts: Conflict[] = [];
  for (const fileObjects of files) {
    for (const o of fileObjects) {
      const kept = objects.get(o.key);
      if (kept) conflicts.push({ key: o.key, kept, ignored: o });
      else objects.set(o.key, o);
    }
  }
  return { objects, conflicts };
}

/** The union of spec.cidrs over all ServiceCIDR objects, deduplicated and sorted. */
export function serviceCIDRUnion(objects: Iterable<DecodedObject>): string[] {
  const cidrs = new Set<string>();
  for (const o of objects) {
    if (o.kind === 'ServiceCIDR') for (const c of o.object.spec?.cidrs ?? []) cidrs.add(c);
  }
  return [...cidrs].sort();
}
