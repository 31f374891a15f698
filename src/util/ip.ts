// IP address and CIDR parsing. Everything that ends up in a rule passes through here, so the
// parsers are strict about shape and always return the canonical text form.
import { isIPv4, isIPv6 } from 'node:net';

export type IPFamily = 'IPv4' | 'IPv6';

function parseIPv4Octets(s: string): number[] | undefined {
  // Upstream parses with ParseIPSloppy, which accepts leading zeros as decimal ("010.0.0.1" is 10.0.0.1).
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const octets: number[] = [];
  for (const p of parts) {
    // Go's dtoi takes any run of digits ("0010" is 10) and only then checks the value.
    if (!/^[0-9]+$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    octets.push(n);
  }
  return octets;
}

function parseIPv6Groups(s: string): number[] | undefined {
  if (!isIPv6(s) || s.includes('%')) return undefined;
  let text = s;
  // An embedded IPv4 tail ("::ffff:1.2.3.4") becomes two hex groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const octets = parseIPv4Octets(tail);
    if (!octets) return undefined;
    const [a, b, c, d] = octets as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = 8 - head.length - rest.length;
  if ((halves.length === 2 && fill < 1) || (halves.length === 1 && fill !== 0)) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill('0'), ...rest].map((g) =>
    Number.parseInt(g, 16),
  );
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

function formatIPv6(groups: readonly number[]): string {
  // RFC 5952: compress the longest run (length >= 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** A parsed IP address in canonical text form. */
export interface IP {
  readonly family: IPFamily;
  readonly text: string;
  /** 4 octets or 8 16-bit groups. */
  readonly parts: readonly number[];
}

export function parseIP(s: string): IP | undefined {
  if (typeof s !== 'string') return undefined;
  const trimmed = s;
  if (isIPv4(trimmed) || /^[0-9.]+$/.test(trimmed)) {
    const octets = parseIPv4Octets(trimmed);
    return octets ? { family: 'IPv4', text: octets.join('.'), parts: octets } : undefined;
  }
  const groups = parseIPv6Groups(trimmed);
  if (!groups) return undefined;
  // An IPv4-mapped IPv6 address is not accepted as either family, as upstream's family checks do not.
  return { family: 'IPv6', text: formatIPv6(groups), parts: groups };
}

export function ipFamilyOf(s: string): IPFamily | undefined {
  return parseIP(s)?.family;
}

/** A parsed CIDR, normalised to its network address. */
export interface CIDR {
  readonly family: IPFamily;
  readonly network: IP;
  readonly prefix: number;
  readonly text: string;
}

export function parseCIDR(s: string): CIDR | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  const prefixText = s.slice(slash + 1);
  if (!ip || !/^[0-9]{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const bitsPerPart = ip.family === 'IPv4' ? 8 : 16;
  const totalBits = ip.parts.length * bitsPerPart;
  if (prefix > totalBits) return undefined;
  const masked = ip.parts.map((part, i) => {
    const keep = Math.max(0, Math.min(bitsPerPart, prefix - i * bitsPerPart));
    const mask = keep === 0 ? 0 : ((0xffff << (bitsPerPart - keep)) & ((1 << bitsPerPart) - 1)) >>> 0;
    return part & mask;
  });
  const text = ip.family === 'IPv4' ? masked.join('.') : formatIPv6(masked);
  const network: IP = { family: ip.family, text, parts: masked };
  return { family: ip.family, network, prefix, text: `${text}/${prefix}` };
}

export function cidrContains(cidr: CIDR, ip: IP): boolean {
  if (cidr.family !== ip.family) return false;
  const bitsPerPart = ip.family === 'IPv4' ? 8 : 16;
  for (let i = 0; i < ip.parts.length; i++) {
    const keep = Math.max(0, Math.min(bitsPerPart, cidr.prefix - i * bitsPerPart));
    if (keep === 0) break;
    const mask = ((0xffff << (bitsPerPart - keep)) & ((1 << bitsPerPart) - 1)) >>> 0;
    if (((ip.parts[i] ?? 0) & mask) !== (cidr.network.parts[i] ?? 0)) return false;
  }
  return true;
}

/** "ip:port", bracketing IPv6 as Go's net.JoinHostPort does. */
export function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** 127.0.0.0/8 or ::1. */
export function isLoopback(ip: IP): boolean {
  return ip.family === 'IPv4' ? ip.text.startsWith('127.') : ip.text === '::1';
}

/** The address in network byte order (4 or 16 bytes). */
export function ipBytes(ip: IP): Buffer {
  if (ip.family === 'IPv4') return Buffer.from(ip.parts);
  const b = Buffer.alloc(16);
  for (const [i, g] of ip.parts.entries()) b.writeUInt16BE(g, i * 2);
  return b;
}

/** The canonical text of an address given in network byte order (4 or 16 bytes). */
export function ipFromBytes(bytes: Uint8Array): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  return formatIPv6(groups);
}
