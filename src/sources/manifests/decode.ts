// Turns the text of one manifest file into typed API objects. Pure: no I/O, never throws.
import {
  type Document,
  isNode,
  LineCounter,
  parseAllDocuments,
  parseDocument,
  type Tags,
  type YAMLError,
} from 'yaml';
import { errorMessage } from '../../errors.ts';
import type { EndpointSlice, Node, Service, ServiceCIDR } from '../../model/k8s.ts';
import { type FieldPath, formatFieldPath, validateObject } from '../../model/validation.ts';
import { ManifestDecodeError } from './decode-error.ts';
import { isJsonObject, type JsonObject, type JsonValue, jsonTypeName, toJsonValue } from './json-value.ts';
import {
  effectiveNamespace,
  type KindInfo,
  keysIn,
  objectKey,
  objectRef,
  recognisedKind,
  splitApiVersion,
} from './kinds.ts';
import { checkShape, formatPath, type Path } from './shape.ts';

interface DecodedBase {
  /** "Service/default/web", "Node/node-1". */
  key: string;
  file: string;
  line: number;
}

export type DecodedObject =
  | (DecodedBase & { kind: 'Service'; object: Service })
  | (DecodedBase & { kind: 'EndpointSlice'; object: EndpointSlice })
  | (DecodedBase & { kind: 'Node'; object: Node })
  | (DecodedBase & { kind: 'ServiceCIDR'; object: ServiceCIDR });

/** A document of a kind this source does not handle (Deployment, ConfigMap ...). */
export interface IgnoredDocument {
  file: string;
  line: number;
  apiVersion: string | undefined;
  kind: string;
}

export interface DecodeResult {
  objects: DecodedObject[];
  errors: ManifestDecodeError[];
  ignored: IgnoredDocument[];
}

interface Context {
  file: string;
  out: DecodeResult;
  /** Line of the node at `path`, or of its nearest existing ancestor. */
  locate: (path: Path) => number;
}

// sigs.k8s.io/yaml (go-yaml v2) keeps timestamps as the strings they were written as and has no
// base-60 numbers, so "1:20" stays a string rather than becoming 80.
function goCompatibleTags(tags: Tags): Tags {
  return tags.filter(
    (t) =>
      typeof t === 'string' ||
      !(t.tag === 'tag:yaml.org,2002:timestamp' || ('format' in t && t.format === 'TIME')),
  );
}

function locator(doc: Document.Parsed, lineCounter: LineCounter, fallback: number): (path: Path) => number {
  return (path) => {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return fallback;
  };
}

function yamlErrorText(err: YAMLError): string {
  const first = (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
  return err.linePos ? `${first} (column ${err.linePos[0].col})` : first;
}

function fail(
  ctx: Context,
  path: Path,
  reason: string,
  keys: readonly string[] = [],
  field?: { path: string; object: string },
): void {
  ctx.out.errors.push(new ManifestDecodeError(ctx.file, ctx.locate(path), reason, keys, field));
}

/** A validation field path as the YAML locator takes it (map keys are plain keys there). */
function toPath(path: FieldPath): Path {
  return path.map((p) => (typeof p === 'object' ? p.key : p));
}

function prefix(path: Path): string {
  return path.length === 0 ? '' : `${formatPath(path)}: `;
}

function decodeList(ctx: Context, value: JsonObject, path: Path): void {
  const items = value.items;
  if (items === undefined || items === null) return;
  if (!Array.isArray(items)) {
    fail(
      ctx,
      [...path, 'items'],
      `${formatPath([...path, 'items'])}: expected array, got ${jsonTypeName(items)}`,
    );
    return;
  }
  items.forEach((item, i) => {
    decodeValue(ctx, item, [...path, 'items', i]);
  });
}

function decodeObject(ctx: Context, info: KindInfo, value: JsonObject, path: Path): void {
  const md = value.metadata;
  const name = isJsonObject(md) && typeof md.name === 'string' && md.name !== '' ? md.name : undefined;
  const namespace = info.namespaced ? effectiveNamespace(md) : undefined;
  const ref = objectRef(info, namespace, name);
  // A broken object that can still be named keeps its last good state in the source.
  const keys = keysIn(value);
  const reject = (p: FieldPath, reason: string) => {
    const field = formatFieldPath([...path, ...p]);
    fail(ctx, [...path, ...toPath(p)], `${ref}: ${field}: ${reason}`, keys, { path: field, object: ref });
  };

  const apiVersion = value.apiVersion;
  if (typeof apiVersion !== 'string') {
    reject(['apiVersion'], `expected string, got ${jsonTypeName(apiVersion)}`);
    return;
  }
  if (splitApiVersion(apiVersion).version !== info.version) {
    const want = info.group === '' ? info.version : `${info.group}/${info.version}`;
    reject(['apiVersion'], `unsupported version "${apiVersion}", want "${want}"`);
    return;
  }
  if (!isJsonObject(md)) {
    reject(['metadata'], `expected object, got ${jsonTypeName(md)}`);
    return;
  }
  if (name === undefined) {
    const got = md.name === '' ? 'empty string' : jsonTypeName(md.name);
    reject(['metadata', 'name'], `expected non-empty string, got ${got}`);
    return;
  }
  if (info.namespaced) {
    if (namespace === undefined) {
      reject(['metadata', 'namespace'], `expected string, got ${jsonTypeName(md.namespace)}`);
      return;
    }
    md.namespace = namespace;
  } else {
    // Cluster-scoped: a namespace in the manifest means nothing, as with kubectl apply.
    delete md.namespace;
  }
  const key = objectKey(info, namespace ?? '', name);
  const violation = checkShape(value, info.shape);
  if (violation) {
    reject(violation.path, violation.message);
    return;
  }
  // The shape check above is what makes `value` one of the typed objects.
  const typed = value as unknown as Service | EndpointSlice | Node | ServiceCIDR;
  // What kube-apiserver would refuse is refused whole: nothing of it reaches the proxy.
  const [first, ...rest] = validateObject(info.kind, typed, 'create');
  if (first) {
    reject(first.path, rest.length > 0 ? `${first.reason} (and ${rest.length} more)` : first.reason);
    return;
  }
  const decoded = { kind: info.kind, key, object: typed, file: ctx.file, line: ctx.locate(path) };
  ctx.out.objects.push(decoded as DecodedObject);
}

function decodeValue(ctx: Context, value: JsonValue, path: Path): void {
  if (value === null && path.length === 0) return;
  if (!isJsonObject(value)) {
    const what = path.length === 0 ? 'document' : formatPath(path);
    fail(ctx, path, `${what}: expected a mapping (an API object), got ${jsonTypeName(value)}`);
    return;
  }
  const kind = value.kind;
  if (typeof kind !== 'string' || kind === '') {
    const got =
      kind === undefined ? 'kind is missing' : `kind: expected non-empty string, got ${jsonTypeName(kind)}`;
    fail(ctx, kind === undefined ? path : [...path, 'kind'], `${prefix(path)}${got}`);
    return;
  }
  const info = recognisedKind(value);
  if (info) {
    decodeObject(ctx, info, value, path);
    return;
  }
  if (kind.endsWith('List')) {
    decodeList(ctx, value, path);
    return;
  }
  const apiVersion = typeof value.apiVersion === 'string' ? value.apiVersion : undefined;
  ctx.out.ignored.push({ file: ctx.file, line: ctx.locate(path), apiVersion, kind });
}

function bestEffortKeys(read: () => unknown): string[] {
  try {
    return keysIn(toJsonValue(read()));
  } catch {
    return [];
  }
}

function decodeYaml(file: string, text: string, out: DecodeResult): void {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, {
    version: '1.1',
    uniqueKeys: true,
    lineCounter,
    customTags: goCompatibleTags,
  });
  for (const doc of docs) {
    const docLine = lineCounter.linePos(doc.contents?.range[0] ?? doc.range[0]).line;
    const first = doc.errors[0];
    if (first) {
      const more = doc.errors.length > 1 ? ` (and ${doc.errors.length - 1} more errors)` : '';
      const line = first.linePos?.[0].line ?? docLine;
      const keys = bestEffortKeys(() => doc.toJS({ maxAliasCount: 100, mapAsMap: true }));
      out.errors.push(
        new ManifestDecodeError(file, line, `invalid YAML: ${yamlErrorText(first)}${more}`, keys),
      );
      continue;
    }
    try {
      const value = toJsonValue(doc.toJS({ maxAliasCount: 100, mapAsMap: true }));
      decodeValue({ file, out, locate: locator(doc, lineCounter, docLine) }, value, []);
    } catch (err) {
      // Alias bombs, absurd nesting: the document is unusable, the rest of the file is not.
      out.errors.push(new ManifestDecodeError(file, docLine, `cannot decode document: ${errorMessage(err)}`));
    }
  }
}

function jsonErrorLine(text: string, err: unknown): number {
  const msg = errorMessage(err);
  const line = /\(line (\d+) column \d+\)/.exec(msg);
  if (line?.[1]) return Number(line[1]);
  const pos = /at position (\d+)/.exec(msg);
  const end = pos?.[1] ? Number(pos[1]) : text.trimEnd().length;
  return text.slice(0, end).split('\n').length;
}

function decodeJson(file: string, text: string, out: DecodeResult): void {
  if (text.trim() === '') return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    out.errors.push(
      new ManifestDecodeError(file, jsonErrorLine(text, err), `invalid JSON: ${errorMessage(err)}`),
    );
    return;
  }
  let value: JsonValue;
  try {
    value = toJsonValue(parsed);
  } catch (err) {
    out.errors.push(new ManifestDecodeError(file, 1, `cannot decode document: ${errorMessage(err)}`));
    return;
  }
  // JSON.parse keeps the last of duplicate keys silently; the YAML parser finds them, and node lines.
  const lineCounter = new LineCounter();
  let doc: Document.Parsed | undefined;
  try {
    doc = parseDocument(text, { version: '1.2', uniqueKeys: true, lineCounter });
  } catch {
    doc = undefined;
  }
  const duplicate = doc?.errors.find((e) => e.code === 'DUPLICATE_KEY');
  if (duplicate) {
    const line = duplicate.linePos?.[0].line;
    out.errors.push(
      new ManifestDecodeError(file, line, `invalid JSON: ${yamlErrorText(duplicate)}`, keysIn(value)),
    );
    return;
  }
  decodeValue({ file, out, locate: doc ? locator(doc, lineCounter, 1) : () => 1 }, value, []);
}

/**
 * Decodes one manifest file: multi-document YAML (YAML 1.1 scalars, as sigs.k8s.io/yaml reads
 * them), or one JSON value for *.json. Lists (`kind: List`, `ServiceList` ...) are flattened. Kinds
 * other than Service, EndpointSlice, Node and ServiceCIDR are returned as `ignored`.
 */
export function decodeManifestFile(fileName: string, text: string): DecodeResult {
  const out: DecodeResult = { objects: [], errors: [], ignored: [] };
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  try {
    if (/\.json$/i.test(fileName)) decodeJson(fileName, body, out);
    else decodeYaml(fileName, body, out);
  } catch (err) {
    out.errors.push(new ManifestDecodeError(fileName, undefined, `cannot decode file: ${errorMessage(err)}`));
  }
  return out;
}
