// Host:port helpers with Go's net.SplitHostPort / netutils.ParseIPSloppy semantics.

import { isIP } from 'node:net';

export function isIPv4Literal(s: string): boolean {
  return isIP(s) === 4;
}

/** Go net.ParseIP: an IPv4 or IPv6 literal (no brackets, no zone). */
export function isIPLiteral(s: string): boolean {
  return isIP(s) !== 0 && !s.includes('%');
}

/** Go net.SplitHostPort; undefined where Go returns an error. */
export function splitHostPort(s: string): { host: string; port: string } | undefined {
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0 || s[end + 1] !== ':') return undefined;
    const host = s.slice(1, end);
    const port = s.slice(end + 2);
    if (port.includes(':') || host.includes('[') || host.includes(']')) return undefined;
    return { host, port };
  }
  const i = s.lastIndexOf(':');
  if (i < 0) return undefined;
  const host = s.slice(0, i);
  if (host.includes(':')) return undefined; // too many colons
  return { host, port: s.slice(i + 1) };
}

/** proxyutil.AppendPortIfNeeded. */
export function appendPortIfNeeded(addr: string, port: number): string {
  if (splitHostPort(addr)) return addr;
  if (!isIPLiteral(addr)) return addr;
  return isIPv4Literal(addr) ? `${addr}:${port}` : `[${addr}]:${port}`;
}
