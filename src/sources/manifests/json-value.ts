// Plain JSON values as the decoders hand them on. YAML can produce more than JSON can hold
// (dates, binary, sets); everything is folded into JSON here so that objects from .yaml and .json
// files compare and behave the same.

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Kubernetes objects are a dozen levels deep at most; anything far deeper is junk, and would exhaust the stack. */
export const MAX_JSON_DEPTH = 256;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The JSON type of a value, for error messages ("expected string, got number"). */
export function jsonTypeName(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isFinite(value) ? 'number' : 'non-finite number';
  return typeof value;
}

function setKey(out: JsonObject, key: string, value: JsonValue): void {
  // A "__proto__" key must become data, not the object's prototype.
  if (key === '__proto__')
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/** Copies a parser's output into plain JSON; throws a RangeError past MAX_JSON_DEPTH. */
export function toJsonValue(value: unknown, depth = 0): JsonValue {
  if (depth > MAX_JSON_DEPTH) throw new RangeError(`nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value !== 'object') return null;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  // sigs.k8s.io/yaml turns !!binary into the decoded bytes as a string.
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  if (Array.isArray(value) || value instanceof Set)
    return [...value].map((v: unknown) => toJsonValue(v, depth + 1));
  const out: JsonObject = {};
  const entries: Iterable<[unknown, unknown]> = value instanceof Map ? value : Object.entries(value);
  for (const [k, v] of entries) setKey(out, String(k), toJsonValue(v, depth + 1));
  return out;
}

/** Structural equality of JSON values; key order does not matter. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => deepEqual(v, b[i]));
  }
  if (!isJsonObject(a) || !isJsonObject(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}
