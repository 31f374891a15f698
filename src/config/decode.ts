// Decoding a KubeProxyConfiguration file as upstream does: strictly first; if that fails only
// for strictness (unknown or duplicate fields), leniently with a warning. Type errors are fatal.
// Every error names the field and the file line (yaml's LineCounter).

import { isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseAllDocuments } from 'yaml';
import { KubeProxyError } from '../errors.ts';
import { parseDuration } from '../util/duration.ts';
import { CONFIG_SCHEMA, type FieldType, goTypeName } from './schema.ts';
import { API_VERSION, KIND, type V1Alpha1Config } from './types.ts';

/** A strictness problem: reported as a warning, the field itself is ignored (or the last value wins). */
export interface StrictIssue {
  readonly message: string;
  readonly line: number | undefined;
}

export interface DecodedConfig {
  readonly config: V1Alpha1Config;
  readonly strictIssues: readonly StrictIssue[];
  /** Line of each field that was present, by path ("iptables.masqueradeBit", "nodePortAddresses[1]"). */
  readonly lines: ReadonlyMap<string, number>;
  readonly file: string;
}

interface Ctx {
  readonly lc: LineCounter;
  readonly file: string;
  readonly issues: StrictIssue[];
  readonly lines: Map<string, number>;
  readonly resolve: (n: Node) => Node | undefined;
}

function lineOf(ctx: Ctx, node: { range?: unknown } | null | undefined): number | undefined {
  const range = node?.range as [number, number, number] | undefined | null;
  return range ? ctx.lc.linePos(range[0]).line : undefined;
}

function fail(ctx: Ctx, line: number | undefined, message: string): KubeProxyError {
  const where = line !== undefined ? `${ctx.file}:${line}` : ctx.file;
  return new KubeProxyError('KP_ERR_INVALID_CONFIG', `failed to decode: ${where}: ${message}`);
}

function jsonKind(value: unknown, node: Node): string {
  if (isMap(node)) return 'object';
  if (isSeq(node)) return 'array';
  if (typeof value === 'number') return `number ${value}`;
  if (typeof value === 'boolean') return 'bool';
  return 'string';
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function decode(ctx: Ctx, raw: Node | null | undefined, type: FieldType, path: string): unknown {
  const node = raw && isAlias(raw) ? ctx.resolve(raw) : raw;
  if (node === null || node === undefined) return undefined;
  const line = lineOf(ctx, node);
  if (path !== '' && line !== undefined && !ctx.lines.has(path)) ctx.lines.set(path, line);
  const value: unknown = isScalar(node) ? node.value : undefined;
  if (isScalar(node) && value === null) return undefined; // JSON null: Go leaves the field as it is
  const mismatch = () =>
    fail(
      ctx,
      line,
      `json: cannot unmarshal ${jsonKind(value, node)} into Go struct field KubeProxyConfiguration.${path} of type ${goTypeName(type)}`,
    );
  switch (type.t) {
    case 'struct':
    case 'map': {
      if (!isMap(node)) throw mismatch();
      const out: Record<string, unknown> = {};
      const seen = new Set<string>();
      for (const pair of node.items) {
        const keyNode = pair.key as Node | null;
        const key = String(keyNode && isScalar(keyNode) ? keyNode.value : keyNode);
        const keyLine = lineOf(ctx, keyNode);
        const fieldPath = join(path, key);
        if (seen.has(key)) ctx.issues.push({ message: `duplicate field "${fieldPath}"`, line: keyLine });
        seen.add(key);
        const fieldType = type.t === 'map' ? type.of : type.fields[key];
        if (fieldType === undefined) {
          ctx.issues.push({ message: `unknown field "${fieldPath}"`, line: keyLine });
          continue;
        }
        if (keyLine !== undefined) ctx.lines.set(fieldPath, keyLine);
        const v = decode(ctx, pair.value as Node | null, fieldType, fieldPath);
        if (v === undefined) delete out[key];
        else out[key] = v;
      }
      return out;
    }
    case 'list': {
      if (!isSeq(node)) throw mismatch();
      return node.items.map(
        (item, i) => decode(ctx, item as Node, type.of, `${path}[${i}]`) ?? zeroOf(type.of),
      );
    }
    case 'string':
      if (typeof value !== 'string') throw mismatch();
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw mismatch();
      return value;
    case 'int32':
    case 'uint32': {
      if (typeof value !== 'number') throw mismatch();
      const [lo, hi] = type.t === 'int32' ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** 32 - 1];
      if (!Number.isInteger(value) || value < lo || value > hi) throw mismatch();
      return value;
    }
    case 'float32':
      if (typeof value !== 'number') throw mismatch();
      return value;
    case 'quantity':
      if (typeof value !== 'string' && typeof value !== 'number') throw mismatch();
      return String(value);
    case 'duration':
    case 'timeOrDuration': {
      if (type.t === 'timeOrDuration' && typeof value === 'number' && Number.isInteger(value))
        return value / 1e6; // integer nanoseconds
      if (typeof value !== 'string') throw mismatch();
      const ms = parseDuration(value);
      if (ms === undefined) throw fail(ctx, line, `${path}: time: invalid duration ${JSON.stringify(value)}`);
      return ms;
    }
  }
}

function zeroOf(type: FieldType): unknown {
  return type.t === 'string' ? '' : undefined;
}

/** Parses and decodes one config file's text. Throws KP_ERR_INVALID_CONFIG on errors other than strictness. */
export function decodeConfig(text: string, file: string): DecodedConfig {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { version: '1.1', lineCounter: lc, uniqueKeys: false });
  const ctx: Ctx = { lc, file, issues: [], lines: new Map(), resolve: () => undefined };
  if (!Array.isArray(docs)) throw fail(ctx, undefined, 'empty file');
  const doc = docs.find((d) => d.contents !== null);
  if (!doc) throw fail(ctx, undefined, "Object 'Kind' is missing in ''");
  const syntax = doc.errors[0];
  if (syntax) throw fail(ctx, syntax.linePos?.[0]?.line, `yaml: ${syntax.message.split('\n')[0]}`);
  const resolve = (n: Node) => (isAlias(n) ? (n.resolve(doc) as Node | undefined) : n);
  const full: Ctx = { ...ctx, resolve };
  const root = doc.contents as Node;
  if (!isMap(root)) throw fail(full, lineOf(full, root), "Object 'Kind' is missing in the document");
  const config = decode(full, root, CONFIG_SCHEMA, '') as V1Alpha1Config;
  if (config.kind === undefined || config.kind === '')
    throw fail(full, lineOf(full, root), "Object 'Kind' is missing");
  if (config.kind !== KIND || config.apiVersion !== API_VERSION) {
    throw fail(
      full,
      full.lines.get('kind'),
      `no kind "${config.kind}" is registered for version "${config.apiVersion ?? ''}" in scheme "pkg/proxy/apis/config/scheme/scheme.go:28"`,
    );
  }
  return { config, strictIssues: full.issues, lines: full.lines, file };
}

/** Upstream's warning text for a lenient decode. */
export function strictDecodingError(issues: readonly StrictIssue[], file: string): string {
  const parts = issues.map((i) => `${i.message}${i.line !== undefined ? ` (${file}:${i.line})` : ''}`);
  return `strict decoding error: ${parts.join(', ')}`;
}
