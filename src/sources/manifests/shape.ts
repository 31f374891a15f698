// A small schema language for the JSON types of API object fields. It checks only types (string vs
// number vs array ...), which is what decoding into Go structs enforces; value checks (IPs, port
// ranges, names) belong to the core.
import { isJsonObject, type JsonValue, jsonTypeName } from './json-value.ts';

export type Shape =
  | { readonly type: 'string' | 'integer' | 'boolean' | 'int-or-string' }
  | { readonly type: 'object'; readonly fields: Readonly<Record<string, Shape>> }
  | { readonly type: 'array'; readonly items: Shape }
  | { readonly type: 'map'; readonly values: Shape };

export const str: Shape = { type: 'string' };
export const int: Shape = { type: 'integer' };
export const bool: Shape = { type: 'boolean' };
export const intOrString: Shape = { type: 'int-or-string' };
export const obj = (fields: Record<string, Shape>): Shape => ({ type: 'object', fields });
export const arr = (items: Shape): Shape => ({ type: 'array', items });
export const mapOf = (values: Shape): Shape => ({ type: 'map', values });

export type Path = (string | number)[];

export interface ShapeViolation {
  path: Path;
  message: string;
}

export function formatPath(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

function expected(want: string, value: JsonValue, path: Path): ShapeViolation {
  const got = typeof value === 'number' && Number.isFinite(value) ? `number ${value}` : jsonTypeName(value);
  return { path, message: `expected ${want}, got ${got}` };
}

function isInteger(value: JsonValue): boolean {
  return typeof value === 'number' && Number.isInteger(value);
}

/**
 * Checks `value` against `shape` and returns the first violation. Null object fields are deleted on
 * the way, because Go decodes a JSON null as "absent"; null array elements are violations.
 */
export function checkShape(value: JsonValue, shape: Shape, path: Path = []): ShapeViolation | undefined {
  switch (shape.type) {
    case 'string':
      return typeof value === 'string' ? undefined : expected('string', value, path);
    case 'boolean':
      return typeof value === 'boolean' ? undefined : expected('boolean', value, path);
    case 'integer':
      return isInteger(value) ? undefined : expected('integer', value, path);
    case 'int-or-string':
      return isInteger(value) || typeof value === 'string'
        ? undefined
        : expected('integer or string', value, path);
    case 'array': {
      if (!Array.isArray(value)) return expected('array', value, path);
      for (let i = 0; i < value.length; i++) {
        const v = checkShape(value[i] ?? null, shape.items, [...path, i]);
        if (v) return v;
      }
      return undefined;
    }
    case 'map': {
      if (!isJsonObject(value)) return expected('object', value, path);
      for (const [k, v] of Object.entries(value)) {
        const violation = checkShape(v, shape.values, [...path, k]);
        if (violation) return violation;
      }
      return undefined;
    }
    case 'object': {
      if (!isJsonObject(value)) return expected('object', value, path);
      for (const [k, fieldShape] of Object.entries(shape.fields)) {
        if (!Object.hasOwn(value, k)) continue;
        const v = value[k] ?? null;
        if (v === null) {
          delete value[k];
          continue;
        }
        const violation = checkShape(v, fieldShape, [...path, k]);
        if (violation) return violation;
      }
      return undefined;
    }
  }
}
