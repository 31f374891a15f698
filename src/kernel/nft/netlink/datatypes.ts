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

/** One libnftnl user-data TLV: type and length bytes, then the body (a nest is TLVs as the body). */
function udata(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.of(type, body.length), body]);
}

function udataU32(type: number, v: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32LE(v, 0);
  return udata(type, body);
}

function udataString(type: number, s: string): Buffer {
  return udata(type, Buffer.from(`${s}\0`));
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

// nft's ids of the header and field a payload expression reads (proto_ip / proto_ip6 templates).
const PROTO_DESC_IP = 12;
const PROTO_DESC_IP6 = 13;
const EXPR_PAYLOAD = 7;
const PAYLOAD_FIELDS: Record<string, [number, number]> = {
  'ipv4_addr 12': [PROTO_DESC_IP, 11],
  'ipv4_addr 16': [PROTO_DESC_IP, 12],
  'ipv6_addr 8': [PROTO_DESC_IP6, 8],
  'ipv6_addr 24': [PROTO_DESC_IP6, 9],
};

/**
 * The user data of an anonymous set matched against an address field (network header offset):
 * byte order, automerge, and its key's "typeof" (that payload field), as nft 1.0.6 writes it.
 */
export function anonymousSetUserdata(keyType: DataType, payloadOffset: number): Buffer {
  const field = PAYLOAD_FIELDS[`${keyType.name} ${payloadOffset}`];
  if (!field) throw invalid('anonymous set on an unsupported field');
  const typeofKey = Buffer.concat([
    udataU32(0, EXPR_PAYLOAD),
    udata(1, Buffer.concat([udataU32(0, field[0]), udataU32(1, field[1])])),
  ]);
  return Buffer.concat([
    udataU32(UDATA_SET.KEYBYTEORDER, keyType.byteorder),
    udataU32(UDATA_SET.MERGE_ELEMENTS, 1),
    udata(UDATA_SET.KEY_TYPEOF, typeofKey),
  ]);
}

/** A set's type from the kernel's ids (NFTA_SET_KEY_TYPE, NFTA_SET_DATA_TYPE); undefined if not ours. */
export function setTypeFromIds(keyTypeId: number, dataTypeId: number | undefined): SetType | undefined {
  const byId = (id: number) => Object.values(TYPES).find((t) => t.id === id);
  const key: DataType[] = [];
  for (let id = keyTypeId; id !== 0; id = Math.floor(id / (1 << TYPE_BITS))) {
    const t = byId(id & ((1 << TYPE_BITS) - 1));
    if (!t) return undefined;
    key.unshift(t);
  }
  if (key.length === 0) return undefined;
  if (dataTypeId === undefined) return { key };
  if (dataTypeId === NFT_DATA_VERDICT) return { key, data: 'verdict' };
  const data = byId(dataTypeId);
  return data ? { key, data } : undefined;
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
