// Text helpers for iptables-restore input: line buffers, comment quoting, probabilities and marks,
// each formatted byte for byte as upstream's iptables mode prints them.
import { KubeProxyError } from '../../errors.ts';

/** Collects rule or chain lines; a discarding buffer only counts them (upstream's DiscardLineBuffer). */
export class LineBuffer {
  readonly lines: string[] = [];
  readonly keep: boolean;
  count = 0;

  constructor(keep = true) {
    this.keep = keep;
  }

  write(line: string): void {
    this.count++;
    if (this.keep) this.lines.push(line);
  }
}

/** ":NAME - [0:0]": declares (and, under --noflush, flushes) a chain. */
export function chainLine(chain: string): string {
  return `:${chain} - [0:0]`;
}

const UNSAFE_IN_QUOTES = /["\\\r\n\0]/;
const UNSAFE_BARE = /[\s"'\\\0]/;

/** A double-quoted comment argument; iptables-restore reads it as one word. */
export function quoted(text: string): string {
  if (UNSAFE_IN_QUOTES.test(text))
    throw new KubeProxyError(
      'KP_ERR_RULE_TEXT',
      `refusing to quote ${JSON.stringify(text)} for iptables-restore`,
    );
  return `"${text}"`;
}

/** A value written without quotes: must be one word to iptables-restore. */
export function bare(text: string): string {
  if (text === '' || UNSAFE_BARE.test(text)) {
    throw new KubeProxyError(
      'KP_ERR_RULE_TEXT',
      `refusing to write ${JSON.stringify(text)} unquoted to iptables-restore`,
    );
  }
  return text;
}

/** Upstream's masquerade mark: Go's %#08x, so bit 14 is "0x00004000". */
export function masqueradeMark(bit: number): string {
  return `0x${(2 ** bit).toString(16).padStart(8, '0')}`;
}

const POW10_10 = 10n ** 10n;

/**
 * 1/n with ten decimals as Go's %0.10f prints it: the exact value of the double rounded half to even
 * (toFixed rounds halves up, which differs for n = 2048).
 */
export function computeProbability(n: number): string {
  const x = 1 / n;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const expBits = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exp = expBits - 1075;
  if (expBits !== 0) mantissa |= 1n << 52n;
  else exp = -1074;
  // x = mantissa * 2^exp with exp < 0 for every n >= 1 except n = 1.
  let scaled: bigint;
  if (exp >= 0) scaled = (mantissa << BigInt(exp)) * POW10_10;
  else {
    const den = 1n << BigInt(-exp);
    const num = mantissa * POW10_10;
    scaled = num / den;
    const twice = 2n * (num % den);
    if (twice > den || (twice === den && scaled % 2n === 1n)) scaled++;
  }
  const digits = scaled.toString().padStart(11, '0');
  return `${digits.slice(0, -10)}.${digits.slice(-10)}`;
}

const probabilityCache: string[] = [];

export function probability(n: number): string {
  let p = probabilityCache[n];
  if (p === undefined) {
    p = computeProbability(n);
    probabilityCache[n] = p;
  }
  return p;
}
