// The nft data types kube-proxy's sets and maps use: their ids, lengths and byte forms, and the
// user data nft 1.0.6 stores with a set (nft reads it back to print keys the way they were declared).
import { KubeProxyError } from '../../../errors.ts';
import { ipBytes, ipFromBytes, parseIP } from '../../../util/ip.ts';
import { NFT_DATA_VERDICT, UDATA_SET } from './constants.ts';

export interface DataType {
  readonly name: string;
  readonly id: number;
  /** Bytes of one value. */
  readonly len: number;
  /** libnftnl byte order: 2 is big-endian (network), 0 for types without one. */
  readonly byteorder: number;
}

const TYPES: Record<string, DataType> = {
  ipv4_addr: { name: 'ipv4_addr', id: 7, len: 4, byteorder: 2 },
  ipv6_addr: { name: 'ipv6_addr', id: 8, len: 16, byteorder: 2 },
  inet_proto: { name: 'inet_proto', id: 12, len: 1, byteorder: 0 },
  inet_service: { name: 'inet_service', id: 13, len: 2, byteorder: 2 },
};

const TYPE_BITS = 6;

function invalid(message: string): KubeProxyError {
  return new KubeProxyError('KP_ERR_NFT_INVALID', message);
}

export interface SetType {
  readonly key: readonly DataType[];
  /** A map's value type; 'verdict' for verdict maps. */
  readonly data?: DataType | 'verdict';
}

/** Parses "ipv4_addr . inet_proto . inet_service : verdict". */
export function parseSetType(text: string): SetType {
  const [keyText, dataText, ...rest] = text.split(':').map((s) => s.trim());
  if (rest.length > 0 || keyText === undefined) throw invalid(`unsupported set type ${JSON.stringify(text)}`);
  const key = keyText.split('.').map((s) => {
    const t = TYPES[s.trim()];
    if (!t) throw invalid(`unsupported data type ${JSON.stringify(s.trim())}`);
    return t;
  });
  if (dataText === undefined) return { key };
  if (dataText === 'verdict') return { key, data: 'verdict' };
  const data = TYPES[dataText];
  if (!data) throw invalid(`unsupported data type ${JSON.stringify(dataText)}`);
  return { key, data };
}

/** The kernel's key type id: concatenated ids, TYPE_BITS each. */
export function keyTypeId(types: readonly DataType[]): number {
  let id = 0;
  for (const t of types) id = ((id << TYPE_BITS) | t.id) >>> 0;
  return id;
}

/** A concatenated key takes whole 4-byte words per field. */
export function keyLen(types: readonly DataType[]): number {
  return types.length === 1 ? types[0]!.len : types.reduce((n, t) => n + ((t.len + 3) & ~3), 0);
}

export function dataTypeId(data: DataType | 'verdict'): number {
  return data === 'verdict' ? NFT_DATA_VERDICT : data.id;
}

export function dataLen(data: DataType | 'verdict'): number {
  return data === 'verdict' ? 0 : data.len;
}

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, icmp: 1, icmpv6: 58 };
const PROTOCOL_NAMES = new Map(Object.entries(PROTOCOLS).map(([k, v]) => [v, k]));

/** Dotted-quad text as the renderer writes it (canonical, no leading zeros), without the general parser. */
function ipv4Fast(text: string): Buffer | undefined {
  const out = Buffer.alloc(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || value > 255 || part > 3) return undefined;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      value = value * 10 + c - 48;
      digits++;
    } else return undefined;
  }
  return part === 4 ? out : undefined;
}

/** One value's bytes (unpadded). */
export function encodeValue(type: DataType, text: string): Buffer {
  switch (type.name) {
    case 'ipv4_addr':
    case 'ipv6_addr': {
      if (type.len === 4) {
        const fast = ipv4Fast(text);
        if (fast) return fast;
      }
      const ip = parseIP(text);
      if (!ip || (ip.family === 'IPv4') !== (type.name === 'ipv4_addr'))
        throw invalid(`invalid ${type.name} ${JSON.stringify(text)}`);
      return ipBytes(ip);
    }
    case 'inet_proto': {
      const n = PROTOCOLS[text] ?? (/^\d+$/.test(text) ? Number(text) : Number.NaN);
      if (!(n >= 0 && n <= 255)) throw invalid(`invalid protocol ${JSON.stringify(text)}`);
      return Buffer.of(n);
    }
    case 'inet_service': {
      const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
      if (!(n >= 0 && n <= 65535)) throw invalid(`invalid port ${JSON.stringify(text)}`);
      const b = Buffer.alloc(2);
      b.writeUInt16BE(n, 0);
      return b;
    }
  }
  throw invalid(`unsupported data type ${type.name}`);
}

export function decodeValue(type: DataType, bytes: Buffer): string {
  switch (type.name) {
    case 'ipv4_addr':
    case 'ipv6_addr':
      return ipFromBytes(bytes);
    case 'inet_proto':
      return PROTOCOL_NAMES.get(bytes[0]!) ?? String(bytes[0]);
    case 'inet_service':
      return String(bytes.readUInt16BE(0));
  }
  return bytes.toString('hex');
}

/** A key's bytes: one field as is, concatenated fields padded to 4-byte words. */
export function encodeKey(types: readonly DataType[], fields: readonly string[]): Buffer {
  if (fields.length !== types.length)
    throw invalid(
      `key ${JSON.stringify(fields.join(' . '))} does not match ${types.map((t) => t.name).join(' . ')}`,
    );
  if (types.length === 1) return encodeValue(types[0]!, fields[0]!);
  const out = Buffer.alloc(keyLen(types));
  let at = 0;
  for (const [i, t] of types.entries()) {
    encodeValue(t, fields[i]!).copy(out, at);
    at += (t.len + 3) & ~3;
  }
  return out;
}

export function decodeKey(types: readonly DataType[], bytes: Buffer): string[] {
  if (types.length === 1) return [decodeValue(types[0]!, bytes)];
  const out: string[] = [];
  let at = 0;
  for (const t of types) {
    out.push(decodeValue(t, bytes.subarray(at, at + t.len)));
    at += (t.len + 3) & ~3;
  }
  return out;
}

function udataU32(type: number, v: number): Buffer {
  const b = Buffer.alloc(6);
  b[0] = type;
  b[1] = 4;
  b.writeUInt32LE(v, 2);
  return b;
}

function udataString(type: number, s: string): Buffer {
  const body = Buffer.from(`${s}\0`);
  return Buffer.concat([Buffer.of(type, body.length), body]);
}

// What nft 1.0.6 records as the "typeof" of a concatenation declared by data types: a nest that is
// the same for every such key.
const CONCAT_KEY_TYPEOF = Buffer.from('030800040d0000000100', 'hex');

/** The set's user data exactly as nft 1.0.6 writes it for a declaration `type …`. */
export function setUserdata(type: SetType, comment: string | undefined): Buffer {
  const parts: Buffer[] = [];
  const concat = type.key.length > 1;
  parts.push(udataU32(UDATA_SET.KEYBYTEORDER, concat ? 0 : type.key[0]!.byteorder));
  if (type.data !== undefined)
    parts.push(udataU32(UDATA_SET.DATABYTEORDER, type.data === 'verdict' ? 0 : type.data.byteorder));
  if (concat) parts.push(CONCAT_KEY_TYPEOF);
  if (type.data !== undefined) parts.push(udataU32(UDATA_SET.DATA_INTERVAL, 0));
  if (comment !== undefined) parts.push(udataString(UDATA_SET.COMMENT, comment));
  return Buffer.concat(parts);
}

/** A comment as libnftnl's user data TLV (tables, chains, rules and elements all use type 0). */
export function commentUserdata(comment: string): Buffer {
  return udataString(0, comment);
}

export function protocolNumber(name: string): number {
  const n = PROTOCOLS[name];
  if (n === undefined) throw invalid(`unsupported protocol ${JSON.stringify(name)}`);
  return n;
}
