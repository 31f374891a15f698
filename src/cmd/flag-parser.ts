// A table-driven parser with pflag's semantics, so that kube-proxy DaemonSet flags keep working:
// --flag=value, --flag value, -v=4, -v 4, booleans as --flag, --flag=true and --flag=false.
import { KubeProxyError } from '../errors.ts';
import { parseDuration } from '../util/duration.ts';

export type FlagType = 'bool' | 'string' | 'int' | 'duration' | 'stringSlice';

export interface FlagSpec {
  readonly name: string;
  readonly type: FlagType;
  readonly usage: string;
  readonly shorthand?: string;
  /** Shown in --help; the parser leaves unset flags out of the result. */
  readonly defaultText?: string;
}

export type FlagValue = boolean | string | number | string[];

function flagError(message: string): KubeProxyError {
  return new KubeProxyError('KP_ERR_INVALID_FLAG', message);
}

function convert(spec: FlagSpec, raw: string): FlagValue {
  switch (spec.type) {
    case 'bool': {
      const v = raw.toLowerCase();
      if (['1', 't', 'true'].includes(v)) return true;
      if (['0', 'f', 'false'].includes(v)) return false;
      throw flagError(
        `invalid argument "${raw}" for "--${spec.name}" flag: strconv.ParseBool: parsing "${raw}": invalid syntax`,
      );
    }
    case 'int': {
      if (!/^[-+]?[0-9]+$/.test(raw)) {
        throw flagError(
          `invalid argument "${raw}" for "--${spec.name}" flag: strconv.ParseInt: parsing "${raw}": invalid syntax`,
        );
      }
      return Number(raw);
    }
    case 'duration': {
      const ms = parseDuration(raw);
      if (ms === undefined)
        throw flagError(
          `invalid argument "${raw}" for "--${spec.name}" flag: time: invalid duration "${raw}"`,
        );
      return ms;
    }
    case 'stringSlice':
      return raw === '' ? [] : raw.split(',').map((s) => s.trim());
    case 'string':
      return raw;
  }
}

/** Parses argv (without node and script) into values of the flags that were given. */
export function parseFlags(specs: readonly FlagSpec[], argv: readonly string[]): Map<string, FlagValue> {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.shorthand).map((s) => [s.shorthand!, s]));
  const out = new Map<string, FlagValue>();
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
    const name = eq >= 0 ? body.slice(0, eq) : body;
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
    else if (spec.type === 'bool') raw = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined) throw flagError(`flag needs an argument: --${spec.name}`);
      raw = next;
      i++;
    }
    const value = convert(spec, raw);
    const prev = out.get(spec.name);
    // Repeated slice flags accumulate, as pflag's StringSlice does.
    out.set(
      spec.name,
      spec.type === 'stringSlice' && Array.isArray(prev) ? [...prev, ...(value as string[])] : value,
    );
  }
  return out;
}

export function formatUsage(specs: readonly FlagSpec[]): string {
  const lines = specs.map((s) => {
    const head = `${s.shorthand ? `-${s.shorthand}, ` : '    '}--${s.name}${s.type === 'bool' ? '' : ` ${s.type}`}`;
    const def = s.defaultText !== undefined ? ` (default ${s.defaultText})` : '';
    return `      ${head.padEnd(44)} ${s.usage}${def}`;
  });
  return `Flags:\n${lines.join('\n')}\n`;
}
