// A table-driven parser with pflag's semantics, so that kube-proxy DaemonSet flags keep working:
// --flag=value, --flag value, -v=4, -v 4, booleans as --flag, --flag=true and --flag=false,
// --feature-gates=A=true,B=false, and cliflag.WordSepNormalizeFunc (--hostname_override).

import { isIPLiteral, splitHostPort } from '../config/addresses.ts';
import { KubeProxyError } from '../errors.ts';
import { parseDuration } from '../util/duration.ts';

export type FlagType =
  | 'bool'
  | 'string'
  | 'int'
  | 'int32'
  | 'float32'
  | 'duration'
  | 'stringSlice'
  | 'mapStringBool'
  | 'ip'
  | 'ipPort'
  | 'version';

export interface FlagSpec {
  readonly name: string;
  readonly type: FlagType;
  readonly usage: string;
  readonly shorthand?: string;
  /** Shown in --help; the parser leaves unset flags out of the result. */
  readonly defaultText?: string;
  /** pflag's MarkDeprecated message: the flag still works, with a warning, and is hidden from --help. */
  readonly deprecated?: string;
  /** The type name --help shows, when it differs from `type` (pflag's Value.Type()). */
  readonly typeName?: string;
}

export type FlagValue = boolean | string | number | string[] | Record<string, boolean>;

function flagError(message: string): KubeProxyError {
  return new KubeProxyError('KP_ERR_INVALID_FLAG', message);
}

function flagDisplay(spec: FlagSpec): string {
  return spec.shorthand && spec.shorthand !== spec.name
    ? `-${spec.shorthand}, --${spec.name}`
    : `--${spec.name}`;
}

/** strconv.ParseInt(s, 0, bits): base prefixes 0x, 0o, 0b and a leading 0 for octal, underscores. */
export function parseGoInt(raw: string, bits: number): number | 'syntax' | 'range' {
  const m = /^([-+]?)(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO]?[0-7_]*|[1-9][0-9_]*)$/.exec(raw);
  if (!m) return 'syntax';
  const digits = m[2]!.replace(/_/g, '');
  let n: number;
  if (/^0[xX]/.test(digits)) n = Number.parseInt(digits.slice(2), 16);
  else if (/^0[bB]/.test(digits)) n = Number.parseInt(digits.slice(2), 2);
  else if (/^0[oO]/.test(digits)) n = Number.parseInt(digits.slice(2), 8);
  else if (digits.length > 1 && digits.startsWith('0')) n = Number.parseInt(digits.slice(1), 8);
  else n = Number(digits);
  if (Number.isNaN(n)) return 'syntax';
  if (m[1] === '-') n = -n;
  const limit = 2 ** (bits - 1);
  if (n < -limit || n > limit - 1) return 'range';
  return n;
}

function parseBool(raw: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(raw)) return false;
  // Lower-case spellings such as "tRUE" are not Go's, but the original parser took them; keep that.
  const v = raw.toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  return undefined;
}

function convert(spec: FlagSpec, raw: string, prev: FlagValue | undefined): FlagValue {
  const bad = (detail: string) =>
    flagError(`invalid argument "${raw}" for "${flagDisplay(spec)}" flag: ${detail}`);
  switch (spec.type) {
    case 'bool': {
      const b = parseBool(raw);
      if (b === undefined) throw bad(`strconv.ParseBool: parsing "${raw}": invalid syntax`);
      return b;
    }
    case 'version': {
      if (raw === 'raw') return 'raw';
      const b = parseBool(raw);
      if (b === undefined) throw bad(`invalid value "${raw}"`);
      return b;
    }
    case 'int':
    case 'int32': {
      const n = parseGoInt(raw, spec.type === 'int' ? 64 : 32);
      if (n === 'syntax') throw bad(`strconv.ParseInt: parsing "${raw}": invalid syntax`);
      if (n === 'range') throw bad(`strconv.ParseInt: parsing "${raw}": value out of range`);
      return n;
    }
    case 'float32': {
      const s = raw.replace(/_/g, '');
      if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s) && !/^[-+]?(inf|infinity|nan)$/i.test(s))
        throw bad(`strconv.ParseFloat: parsing "${raw}": invalid syntax`);
      return Number(s);
    }
    case 'duration': {
      const ms = parseDuration(raw);
      if (ms === undefined) throw bad(`time: invalid duration "${raw}"`);
      return ms;
    }
    case 'stringSlice': {
      const items = raw === '' ? [] : raw.split(',').map((s) => s.trim());
      // Repeated slice flags accumulate, as pflag's StringSlice does.
      return Array.isArray(prev) ? [...prev, ...items] : items;
    }
    case 'mapStringBool': {
      const out: Record<string, boolean> =
        prev !== undefined && typeof prev === 'object' && !Array.isArray(prev) ? { ...prev } : {};
      for (const part of raw.split(',')) {
        const s = part.trim();
        if (s === '') continue;
        const eq = s.indexOf('=');
        if (eq < 0) throw bad(`missing bool value for ${s}`);
        const k = s.slice(0, eq).trim();
        const v = s.slice(eq + 1).trim();
        const b = parseBool(v);
        if (b === undefined)
          throw bad(`invalid value of ${k}: ${v}, err: strconv.ParseBool: parsing "${v}": invalid syntax`);
        out[k] = b;
      }
      return out;
    }
    case 'ip':
      if (!isIPLiteral(raw)) throw bad(`"${raw}" is not a valid IP address`);
      return raw;
    case 'ipPort': {
      if (raw.trim() === '') return '';
      if (isIPLiteral(raw)) return raw;
      const hp = splitHostPort(raw);
      if (!hp)
        throw bad(
          `"${raw}" is not in a valid format (ip or ip:port): address ${raw}: missing port in address`,
        );
      if (!isIPLiteral(hp.host)) throw bad(`"${hp.host}" is not a valid IP address`);
      const port = /^[0-9]+$/.test(hp.port) ? Number(hp.port) : -1;
      if (port < 0 || port > 65535) throw bad(`"${hp.port}" is not a valid number`);
      return raw;
    }
    case 'string':
      return raw;
  }
}

/** cliflag.WordSepNormalizeFunc: underscores in flag names are dashes. */
function normalize(name: string): string {
  return name.replaceAll('_', '-');
}

export interface ParseResult {
  readonly values: Map<string, FlagValue>;
  /** pflag's "Flag --x has been deprecated, …" lines for deprecated flags that were used. */
  readonly deprecations: string[];
}

/** Parses argv (without node and script) into values of the flags that were given. */
export function parseFlagsWithWarnings(specs: readonly FlagSpec[], argv: readonly string[]): ParseResult {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.shorthand).map((s) => [s.shorthand!, s]));
  const out = new Map<string, FlagValue>();
  const deprecations: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      if (i + 1 < argv.length) throw flagError(`unexpected argument "${argv[i + 1]}"`);
      break;
    }
    const long = arg.startsWith('--');
    if (!arg.startsWith('-') || arg === '-') throw flagError(`unexpected argument "${arg}"`);
    const body = arg.slice(long ? 2 : 1);
    const eq = body.indexOf('=');
    const name = normalize(eq >= 0 ? body.slice(0, eq) : body);
    // Go's flag package accepts a single dash for long names too (-v=4, -cleanup); pflag does for -v.
    let spec = long ? byName.get(name) : (byShort.get(name) ?? byName.get(name));
    // pflag also takes a value glued to a non-boolean shorthand: -v4 is -v=4.
    let glued: string | undefined;
    const short = !long && !spec && eq < 0 ? byShort.get(body.slice(0, 1)) : undefined;
    if (short && short.type !== 'bool') {
      spec = short;
      glued = body.slice(1);
    }
    if (!spec)
      throw flagError(long ? `unknown flag: --${name}` : `unknown shorthand flag: '${name}' in ${arg}`);
    let raw: string;
    if (glued !== undefined) raw = glued;
    else if (eq >= 0) raw = body.slice(eq + 1);
    else if (spec.type === 'bool' || spec.type === 'version') raw = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined)
        throw flagError(`flag needs an argument: ${flagDisplay(spec).split(', ').pop()}`);
      raw = next;
      i++;
    }
    out.set(spec.name, convert(spec, raw, out.get(spec.name)));
    if (spec.deprecated !== undefined)
      deprecations.push(`Flag --${spec.name} has been deprecated, ${spec.deprecated}`);
  }
  return { values: out, deprecations };
}

export function parseFlags(specs: readonly FlagSpec[], argv: readonly string[]): Map<string, FlagValue> {
  return parseFlagsWithWarnings(specs, argv).values;
}

export function formatUsage(specs: readonly FlagSpec[]): string {
  const lines = specs
    .filter((s) => s.deprecated === undefined)
    .map((s) => {
      const type =
        s.type === 'bool' ? '' : s.type === 'version' ? ' version[=true]' : ` ${s.typeName ?? s.type}`;
      const head = `${s.shorthand ? `-${s.shorthand}, ` : '    '}--${s.name}${type}`;
      const def = s.defaultText !== undefined ? ` (default ${s.defaultText})` : '';
      return `      ${head.padEnd(44)} ${s.usage}${def}`;
    });
  return `Flags:\n${lines.join('\n')}\n`;
}
