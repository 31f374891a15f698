// Netlink wire format: message headers and TLV attributes (include/uapi/linux/netlink.h).
// Header fields are host byte order (little-endian here); nf_tables attribute payloads are
// big-endian, generic netlink's are host order, so the writer takes the order per call.
import { KubeProxyError } from '../../errors.ts';

export const NLMSG_HDRLEN = 16;
export const NLA_HDRLEN = 4;
export const NLA_F_NESTED = 0x8000;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
/** In an NLMSG_ERROR reply: the extended ack attributes follow the echoed header. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

const NLMSGERR_ATTR_MSG = 1;
const NLMSGERR_ATTR_OFFS = 2;

export function align4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Builds one message at a time into a growing buffer: header, fixed family header, attributes.
 * Nesting is tracked by start offsets, whose lengths are patched when the nest ends.
 */
export class MessageWriter {
  #buf: Buffer;
  #len = 0;
  #msgStart = -1;
  readonly #nests: number[] = [];

  constructor(initial = 4096) {
    this.#buf = Buffer.alloc(initial);
  }

  get length(): number {
    return this.#len;
  }

  /** Starts a message; `family` is the bytes of the family header (nfgenmsg, genlmsghdr). */
  begin(type: number, flags: number, seq: number, familyHeader: Buffer): this {
    this.#msgStart = this.#len;
    this.#reserve(NLMSG_HDRLEN + familyHeader.length);
    const b = this.#buf;
    const at = this.#len;
    b.writeUInt32LE(0, at);
    b.writeUInt16LE(type, at + 4);
    b.writeUInt16LE(flags, at + 6);
    b.writeUInt32LE(seq >>> 0, at + 8);
    b.writeUInt32LE(0, at + 12);
    familyHeader.copy(b, at + NLMSG_HDRLEN);
    this.#len += NLMSG_HDRLEN + align4(familyHeader.length);
    return this;
  }

  /** Ends the message started last, writing its length. */
  end(): this {
    if (this.#nests.length)
      throw new KubeProxyError('KP_ERR_NETLINK', 'netlink: message ended inside a nest');
    this.#buf.writeUInt32LE(this.#len - this.#msgStart, this.#msgStart);
    this.#msgStart = -1;
    return this;
  }

  /** Length of the message being written so far. */
  get messageLength(): number {
    return this.#msgStart < 0 ? 0 : this.#len - this.#msgStart;
  }

  bytes(type: number, data: Buffer | Uint8Array): this {
    const at = this.#attrHeader(type, data.length);
    this.#buf.set(data, at);
    return this;
  }

  /** A NUL-terminated string. */
  string(type: number, s: string): this {
    // Names here are ASCII (validated before they get this far): copied without the encoder.
    let ascii = true;
    for (let i = 0; i < s.length; i++) {
      if (s.charCodeAt(i) > 127) {
        ascii = false;
        break;
      }
    }
    const n = (ascii ? s.length : Buffer.byteLength(s)) + 1;
    const at = this.#attrHeader(type, n);
    const b = this.#buf;
    if (ascii) for (let i = 0; i < s.length; i++) b[at + i] = s.charCodeAt(i);
    else b.write(s, at, 'utf8');
    b[at + n - 1] = 0;
    return this;
  }

  u8(type: number, v: number): this {
    const at = this.#attrHeader(type, 1);
    this.#buf[at] = v & 0xff;
    return this;
  }

  u32be(type: number, v: number): this {
    const at = this.#attrHeader(type, 4);
    const b = this.#buf;
    b[at] = v >>> 24;
    b[at + 1] = (v >>> 16) & 0xff;
    b[at + 2] = (v >>> 8) & 0xff;
    b[at + 3] = v & 0xff;
    return this;
  }

  u32le(type: number, v: number): this {
    const at = this.#attrHeader(type, 4);
    this.#buf.writeUInt32LE(v >>> 0, at);
    return this;
  }

  u16le(type: number, v: number): this {
    const at = this.#attrHeader(type, 2);
    this.#buf.writeUInt16LE(v, at);
    return this;
  }

  u16be(type: number, v: number): this {
    const at = this.#attrHeader(type, 2);
    this.#buf.writeUInt16BE(v, at);
    return this;
  }

  u64be(type: number, v: bigint): this {
    const at = this.#attrHeader(type, 8);
    this.#buf.writeBigUInt64BE(v, at);
    return this;
  }

  /** Writes an attribute header for a payload of n bytes, zeroes its padding; returns the payload offset. */
  #attrHeader(type: number, n: number): number {
    const total = NLA_HDRLEN + n;
    const padded = align4(total);
    this.#reserve(padded);
    const at = this.#len;
    const b = this.#buf;
    b[at] = total & 0xff;
    b[at + 1] = total >> 8;
    b[at + 2] = type & 0xff;
    b[at + 3] = type >> 8;
    for (let i = at + total; i < at + padded; i++) b[i] = 0;
    this.#len += padded;
    return at + NLA_HDRLEN;
  }

  beginNest(type: number): this {
    this.#reserve(NLA_HDRLEN);
    this.#nests.push(this.#len);
    const t = type | NLA_F_NESTED;
    this.#buf[this.#len + 2] = t & 0xff;
    this.#buf[this.#len + 3] = t >> 8;
    this.#len += NLA_HDRLEN;
    return this;
  }

  endNest(): this {
    const start = this.#nests.pop();
    if (start === undefined) throw new KubeProxyError('KP_ERR_NETLINK', 'netlink: endNest without beginNest');
    const len = this.#len - start;
    this.#buf[start] = len & 0xff;
    this.#buf[start + 1] = len >> 8;
    return this;
  }

  nest(type: number, body: (w: this) => void): this {
    this.beginNest(type);
    body(this);
    return this.endNest();
  }

  /** Removes the message being written (it did not fit where it was meant to go). */
  discardMessage(): void {
    if (this.#msgStart < 0) return;
    this.#len = this.#msgStart;
    this.#msgStart = -1;
    this.#nests.length = 0;
  }

  /** The bytes written so far (a view, valid until the next write). */
  view(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }

  /** Takes the bytes written so far (without copying: a batch can be tens of MB) and starts over. */
  take(): Buffer {
    const out = this.#buf.subarray(0, this.#len);
    this.#buf = Buffer.alloc(256);
    this.#len = 0;
    return out;
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = Buffer.alloc(size);
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }
}

export interface Message {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly pid: number;
  /** Everything after the netlink header: family header and attributes. */
  readonly payload: Buffer;
}

/** Splits a received buffer into messages. */
export function parseMessages(buf: Buffer): Message[] {
  const out: Message[] = [];
  let at = 0;
  while (at + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(at);
    if (len < NLMSG_HDRLEN || at + len > buf.length) break;
    out.push({
      type: buf.readUInt16LE(at + 4),
      flags: buf.readUInt16LE(at + 6),
      seq: buf.readUInt32LE(at + 8),
      pid: buf.readUInt32LE(at + 12),
      payload: buf.subarray(at + NLMSG_HDRLEN, at + len),
    });
    at += align4(len);
  }
  return out;
}

export interface Attr {
  readonly type: number;
  readonly nested: boolean;
  readonly data: Buffer;
}

/** The attributes in a buffer (not recursive: parse a nest's `data` again for its children). */
export function parseAttrs(buf: Buffer, offset = 0): Attr[] {
  const out: Attr[] = [];
  let at = offset;
  while (at + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(at);
    const rawType = buf.readUInt16LE(at + 2);
    if (len < NLA_HDRLEN || at + len > buf.length) break;
    out.push({
      type: rawType & 0x3fff,
      nested: (rawType & NLA_F_NESTED) !== 0,
      data: buf.subarray(at + NLA_HDRLEN, at + len),
    });
    at += align4(len);
  }
  return out;
}

/** Attributes by type (the last one wins, as the kernel's nla_parse). */
export function attrMap(buf: Buffer, offset = 0): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const a of parseAttrs(buf, offset)) m.set(a.type, a.data);
  return m;
}

export function attrString(data: Buffer | undefined): string | undefined {
  if (data === undefined) return undefined;
  const nul = data.indexOf(0);
  return data.toString('utf8', 0, nul < 0 ? data.length : nul);
}

export interface NetlinkAck {
  /** 0 for success, else a negative errno. */
  readonly error: number;
  /** Sequence number of the request this answers. */
  readonly seq: number;
  /** The kernel's extended ack text, if it gave one. */
  readonly message?: string;
  /** Offset in the request of the attribute the kernel objected to. */
  readonly offset?: number;
}

/** Decodes an NLMSG_ERROR message (an error, or an ack when error is 0). */
export function parseAck(msg: Message): NetlinkAck {
  const error = msg.payload.readInt32LE(0);
  const echoedLen = msg.payload.readUInt32LE(4);
  const seq = msg.payload.readUInt32LE(4 + 8);
  // The request is echoed whole unless the reply is capped to its header.
  const echoed = msg.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : align4(echoedLen);
  let message: string | undefined;
  let offset: number | undefined;
  if (msg.flags & NLM_F_ACK_TLVS) {
    const attrs = attrMap(msg.payload, 4 + echoed);
    message = attrString(attrs.get(NLMSGERR_ATTR_MSG));
    const offs = attrs.get(NLMSGERR_ATTR_OFFS);
    if (offs && offs.length >= 4) offset = offs.readUInt32LE(0);
  }
  return { error, seq, ...(message !== undefined && { message }), ...(offset !== undefined && { offset }) };
}
