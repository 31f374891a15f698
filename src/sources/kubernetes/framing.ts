// The JSON watch stream: one event object per line ({"type":"ADDED","object":{...}}\n). Chunks
// split lines (and UTF-8 sequences) anywhere; the splitter puts them back together.
import { StringDecoder } from 'node:string_decoder';
import { errorMessage, KubeProxyError } from '../../errors.ts';

/** etcd caps objects at 1.5 MiB; a line far beyond that is not a watch event. */
export const MAX_LINE_CHARS = 64 * 1024 * 1024;

export class LineTooLongError extends KubeProxyError {
  override name = 'LineTooLongError';
  constructor(message: string) {
    super('KP_ERR_WATCH_LINE_TOO_LONG', message);
  }
}

export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  readonly #maxChars: number;
  #partial = '';

  constructor(maxChars = MAX_LINE_CHARS) {
    this.#maxChars = maxChars;
  }

  /** The complete, non-blank lines that this chunk finishes. */
  push(chunk: Buffer | string): string[] {
    const text = typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    const lines: string[] = [];
    let start = 0;
    let nl = text.indexOf('\n', start);
    while (nl >= 0) {
      const line = this.#partial + text.slice(start, nl);
      this.#partial = '';
      if (line.trim() !== '') lines.push(line);
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    this.#partial += text.slice(start);
    if (this.#partial.length > this.#maxChars) {
      const n = this.#partial.length;
      this.#partial = '';
      throw new LineTooLongError(`watch event line longer than ${this.#maxChars} characters (${n} so far)`);
    }
    return lines;
  }

  /** What is left when the stream ends: an unterminated last line, or undefined. */
  end(): string | undefined {
    const rest = this.#partial + this.#decoder.end();
    this.#partial = '';
    return rest.trim() === '' ? undefined : rest;
  }
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  type: WatchEventType;
  object: Record<string, unknown>;
}

const TYPES: ReadonlySet<string> = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

export type ParsedLine = { ok: true; event: WatchEvent } | { ok: false; reason: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Decodes one line of a watch stream; anything but a well-formed event is `ok: false`. */
export function parseWatchLine(line: string): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return { ok: false, reason: `invalid JSON: ${errorMessage(err)}` };
  }
  if (!isRecord(value)) return { ok: false, reason: 'event is not a JSON object' };
  const { type, object } = value;
  if (typeof type !== 'string' || !TYPES.has(type)) {
    return { ok: false, reason: `unknown event type ${JSON.stringify(type)}` };
  }
  if (!isRecord(object)) return { ok: false, reason: `${type} event without an object` };
  return { ok: true, event: { type: type as WatchEventType, object } };
}

/** A short, single-line excerpt of bad input for logs. */
export function excerpt(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length <= max ? flat : `${flat.slice(0, max)}… (${text.length} chars)`;
}
