// Compiles the rule text kube-proxy-ts renders (a small, fixed subset of nft's syntax) into the
// expressions nft 1.0.6 would generate for it, so that `nft list ruleset` reads the same whichever
// writer programmed the kernel. Anything outside the subset is refused with a typed error: the
// renderer is the only author of rules, and the tests compile every rule it can produce.
import { KubeProxyError } from '../../../errors.ts';
import { type CIDR, ipBytes, parseCIDR, parseIP } from '../../../util/ip.ts';
import type { Family } from '../objects.ts';
import { NFPROTO_IPV4, NFPROTO_IPV6 } from './constants.ts';
import { type DataType, encodeValue, parseSetType, protocolNumber } from './datatypes.ts';
import {
  BASE,
  CMP,
  CT,
  DYNSET_OP,
  type Expr,
  FIB,
  META,
  NAT,
  NUMGEN_RANDOM,
  type VerdictKind,
} from './expr.ts';

/** An anonymous set a rule declares inline (`{ a, b }`): created in the same batch, before the rule. */
export interface AnonymousSet {
  readonly id: number;
  readonly keyType: DataType;
  /** Closed ranges [first, last] of the key, merged and sorted. */
  readonly ranges: readonly (readonly [Buffer, Buffer])[];
  /** The expression the set is matched against, for the set's "typeof" user data. */
  readonly payload: { readonly base: number; readonly offset: number; readonly len: number };
}

export interface CompiledRule {
  readonly exprs: readonly Expr[];
  readonly anonymousSets: readonly AnonymousSet[];
}

export interface CompileContext {
  readonly family: Family;
  /** Id of a set created earlier in the same batch (lookups then name it by id too), if any. */
  setId(name: string): number | undefined;
  /** Allocates the id of an anonymous set. */
  newSetId(): number;
}

const IPV4_ADDR: DataType = parseSetType('ipv4_addr').key[0]!;
const IPV6_ADDR: DataType = parseSetType('ipv6_addr').key[0]!;

const RTN_LOCAL = 2;
const CT_STATE_NEW = 1 << 3;
const CT_STATUS_DNAT = 1 << 5;
const REJECT_ICMP_UNREACH = 0;
const ICMP_PORT_UNREACH = 3;
const ICMPV6_PORT_UNREACH = 4;
const IFNAMSIZ = 16;

function fail(rule: string, why: string): KubeProxyError {
  return new KubeProxyError('KP_ERR_NFT_INVALID', `cannot encode rule ${JSON.stringify(rule)}: ${why}`);
}

// Constants are shared, never written to: a cold sync compiles ~100,000 rules, and each fresh
// buffer is garbage the next moment.
const u32Cache = new Map<number, Buffer>();
function u32le(v: number): Buffer {
  const key = v >>> 0;
  let b = u32Cache.get(key);
  if (!b) {
    b = Buffer.alloc(4);
    b.writeUInt32LE(key, 0);
    if (u32Cache.size < 4096) u32Cache.set(key, b);
  }
  return b;
}

const u16Cache: (Buffer | undefined)[] = [];
function u16be(v: number): Buffer {
  let b = u16Cache[v];
  if (!b) {
    b = Buffer.alloc(2);
    b.writeUInt16BE(v, 0);
    u16Cache[v] = b;
  }
  return b;
}

/** Words, with braces and commas as words of their own. */
function tokenize(text: string): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 32;
    const space = c === 32 || c === 9;
    const punct = c === 123 || c === 125 || c === 44;
    if (space || punct) {
      if (start >= 0) out.push(text.slice(start, i));
      start = -1;
      if (punct) out.push(text[i]!);
    } else if (start < 0) start = i;
  }
  return out;
}

/** A loaded value: where it came from, so a comparison knows its length and type. */
interface Loaded {
  readonly exprs: Expr[];
  readonly len: number;
  readonly kind: 'addr' | 'proto' | 'port' | 'other';
  readonly payload?: { readonly base: number; readonly offset: number; readonly len: number };
}

export function compileRule(text: string, ctx: CompileContext): CompiledRule {
  const tokens = tokenize(text);
  let pos = 0;
  const exprs: Expr[] = [];
  const anonymousSets: AnonymousSet[] = [];
  const ipv6 = ctx.family === 'ip6';
  const addrType = ipv6 ? IPV6_ADDR : IPV4_ADDR;
  const nfproto = ipv6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
  let l4protoMatched: number | undefined;

  const address = (tok: string): Buffer => {
    try {
      return encodeValue(addrType, tok);
    } catch {
      throw fail(text, `invalid address ${tok}`);
    }
  };
  const peek = (k = 0) => tokens[pos + k];
  const next = (what: string): string => {
    const t = tokens[pos++];
    if (t === undefined) throw fail(text, `expected ${what} at the end`);
    return t;
  };
  const expect = (t: string) => {
    const got = tokens[pos++];
    if (got !== t)
      throw fail(
        text,
        `expected ${JSON.stringify(t)}, found ${got === undefined ? 'the end' : JSON.stringify(got)}`,
      );
  };
  const setName = (tok: string): string => {
    if (!tok.startsWith('@') || tok.length < 2) throw fail(text, `expected a set reference, found ${tok}`);
    return tok.slice(1);
  };
  const withSetId = (name: string): { set: string; setId?: number } => {
    const id = ctx.setId(name);
    return id === undefined ? { set: name } : { set: name, setId: id };
  };

  const addrPayload = (field: string, dreg: number): Loaded => {
    const offset = ipv6 ? (field === 'saddr' ? 8 : 24) : field === 'saddr' ? 12 : 16;
    const payload = { base: BASE.NETWORK, offset, len: addrType.len };
    return { exprs: [{ op: 'payload', ...payload, dreg }], len: addrType.len, kind: 'addr', payload };
  };

  /** One primary expression loaded into dreg. */
  const primary = (dreg: number): Loaded => {
    const t = next('an expression');
    if (t === 'ip' || t === 'ip6') {
      if (t !== ctx.family) throw fail(text, `${t} match in an ${ctx.family} table`);
      const field = next('saddr or daddr');
      if (field !== 'saddr' && field !== 'daddr') throw fail(text, `unsupported ${t} field ${field}`);
      return addrPayload(field, dreg);
    }
    if (t === 'meta') {
      const key = next('a meta key');
      if (key === 'l4proto')
        return { exprs: [{ op: 'meta', key: META.L4PROTO, dreg }], len: 1, kind: 'proto' };
      throw fail(text, `unsupported meta key ${key}`);
    }
    if (t === 'th') {
      expect('dport');
      return {
        exprs: [{ op: 'payload', base: BASE.TRANSPORT, offset: 2, len: 2, dreg }],
        len: 2,
        kind: 'port',
      };
    }
    throw fail(text, `unsupported expression ${t}`);
  };

  /** `a . b . c`: each field into its own 4-byte word of the registers, from register 1. */
  const concatenation = (): Loaded => {
    const first = primary(1);
    if (peek() !== '.') return first;
    const out: Expr[] = [...first.exprs];
    let words = (first.len + 3) >> 2;
    while (peek() === '.') {
      pos++;
      const field = primary(register32(words));
      out.push(...field.exprs);
      words += (field.len + 3) >> 2;
    }
    return { exprs: out, len: words * 4, kind: 'other' };
  };

  const valueBytes = (loaded: Loaded, tok: string): Buffer => {
    if (loaded.kind === 'addr') return address(tok);
    if (loaded.kind === 'proto') return Buffer.of(protocolNumber(tok));
    if (loaded.kind === 'port') {
      if (!/^\d+$/.test(tok) || Number(tok) > 65535) throw fail(text, `invalid port ${tok}`);
      return u16be(Number(tok));
    }
    throw fail(text, `cannot compare ${tok}`);
  };

  /** `addr`, `cidr`: what nft makes of a single value or prefix (a prefix on a byte boundary loads fewer bytes). */
  const compareValue = (loaded: Loaded, op: number, tok: string) => {
    const cidr = tok.includes('/') ? parseCIDR(tok) : undefined;
    if (tok.includes('/') && (!cidr || loaded.kind !== 'addr')) throw fail(text, `invalid prefix ${tok}`);
    if (cidr && cidr.prefix < loaded.len * 8) {
      const net = ipBytes(cidr.network);
      const p = loaded.payload!;
      if (cidr.prefix % 8 === 0) {
        const len = cidr.prefix / 8;
        if (len === 0) throw fail(text, `prefix /0 matches everything`);
        exprs.push({ op: 'payload', base: p.base as 0 | 1 | 2, offset: p.offset, len, dreg: 1 });
        exprs.push({ op: 'cmp', sreg: 1, cmpOp: op, data: net.subarray(0, len) });
        return;
      }
      exprs.push(...loaded.exprs);
      const mask = prefixMask(loaded.len, cidr.prefix);
      exprs.push({ op: 'bitwise', sreg: 1, dreg: 1, len: loaded.len, mask, xor: Buffer.alloc(loaded.len) });
      exprs.push({ op: 'cmp', sreg: 1, cmpOp: op, data: net });
      return;
    }
    exprs.push(...loaded.exprs);
    exprs.push({ op: 'cmp', sreg: 1, cmpOp: op, data: valueBytes(loaded, cidr ? cidr.network.text : tok) });
  };

  const relational = (loaded: Loaded) => {
    let op: number = CMP.EQ;
    if (peek() === '!=') {
      op = CMP.NEQ;
      pos++;
    } else if (peek() === '==') pos++;
    const rhs = next('a value');
    if (rhs.startsWith('@')) {
      exprs.push(...loaded.exprs);
      exprs.push({
        op: 'lookup',
        ...withSetId(setName(rhs)),
        sreg: 1,
        ...(op === CMP.NEQ && { invert: true }),
      });
      return;
    }
    if (rhs === '{') {
      const items: string[] = [];
      for (;;) {
        const item = next('a set element');
        if (item === '}') break;
        if (item === ',') continue;
        items.push(item);
      }
      if (items.length === 0) throw fail(text, 'empty set');
      if (items.length === 1) {
        compareValue(loaded, op, items[0]!);
        return;
      }
      if (loaded.kind !== 'addr' || !loaded.payload) throw fail(text, 'anonymous sets only of addresses');
      const id = ctx.newSetId();
      anonymousSets.push({
        id,
        keyType: addrType,
        ranges: mergeRanges(items.map((it) => rangeOf(text, it, ipv6))),
        payload: loaded.payload,
      });
      exprs.push(...loaded.exprs);
      exprs.push({
        op: 'lookup',
        set: '__set%d',
        setId: id,
        sreg: 1,
        ...(op === CMP.NEQ && { invert: true }),
      });
      return;
    }
    compareValue(loaded, op, rhs);
  };

  const verdict = (kind: VerdictKind, chain?: string) => {
    exprs.push({ op: 'verdict', verdict: chain === undefined ? { kind } : { kind, chain } });
  };

  while (pos < tokens.length) {
    const t = peek()!;
    switch (t) {
      case 'ct': {
        pos++;
        const key = next('ct key');
        const value = next('ct value');
        if (key === 'state' && value === 'new') ctBits(exprs, CT.STATE, CT_STATE_NEW);
        else if (key === 'status' && value === 'dnat') ctBits(exprs, CT.STATUS, CT_STATUS_DNAT);
        else throw fail(text, `unsupported ct match ${key} ${value}`);
        break;
      }
      case 'ip':
      case 'ip6':
      case 'th': {
        const loaded = concatenation();
        if (peek() === 'vmap') {
          pos++;
          exprs.push(...loaded.exprs);
          exprs.push({ op: 'lookup', ...withSetId(setName(next('a map'))), sreg: 1, dreg: 0 });
        } else relational(loaded);
        break;
      }
      case 'meta': {
        if (peek(1) !== 'l4proto') throw fail(text, `unsupported meta ${peek(1)}`);
        if (peek(2) === '.') {
          const loaded = concatenation();
          if (next('vmap') !== 'vmap') throw fail(text, 'a concatenation must be looked up in a map');
          exprs.push(...loaded.exprs);
          exprs.push({ op: 'lookup', ...withSetId(setName(next('a map'))), sreg: 1, dreg: 0 });
          break;
        }
        pos += 2;
        const proto = protocolNumber(next('a protocol'));
        exprs.push({ op: 'meta', key: META.L4PROTO, dreg: 1 });
        exprs.push({ op: 'cmp', sreg: 1, cmpOp: CMP.EQ, data: Buffer.of(proto) });
        l4protoMatched = proto;
        break;
      }
      case 'tcp':
      case 'udp':
      case 'sctp': {
        pos++;
        expect('dport');
        const port = next('a port');
        const proto = protocolNumber(t);
        if (l4protoMatched !== proto) {
          exprs.push({ op: 'meta', key: META.L4PROTO, dreg: 1 });
          exprs.push({ op: 'cmp', sreg: 1, cmpOp: CMP.EQ, data: Buffer.of(proto) });
          l4protoMatched = proto;
        }
        exprs.push({ op: 'payload', base: BASE.TRANSPORT, offset: 2, len: 2, dreg: 1 });
        exprs.push({ op: 'cmp', sreg: 1, cmpOp: CMP.EQ, data: portBytes(text, port) });
        break;
      }
      case 'fib': {
        pos++;
        const field = next('saddr or daddr');
        expect('type');
        expect('local');
        if (field !== 'saddr' && field !== 'daddr') throw fail(text, `unsupported fib ${field}`);
        exprs.push({
          op: 'fib',
          dreg: 1,
          result: FIB.RESULT_ADDRTYPE,
          flags: field === 'saddr' ? FIB.FLAG_SADDR : FIB.FLAG_DADDR,
        });
        exprs.push({ op: 'cmp', sreg: 1, cmpOp: CMP.EQ, data: u32le(RTN_LOCAL) });
        break;
      }
      case 'iifname': {
        pos++;
        let op: number = CMP.EQ;
        if (peek() === '!=') {
          op = CMP.NEQ;
          pos++;
        }
        const name = next('an interface name').replace(/^"(.*)"$/, '$1');
        if (!/^[A-Za-z0-9_.-]{1,15}\*?$/.test(name)) throw fail(text, `invalid interface name ${name}`);
        exprs.push({ op: 'meta', key: META.IIFNAME, dreg: 1 });
        const data = name.endsWith('*') ? Buffer.from(name.slice(0, -1)) : Buffer.alloc(IFNAMSIZ);
        if (!name.endsWith('*')) data.write(name);
        exprs.push({ op: 'cmp', sreg: 1, cmpOp: op, data });
        break;
      }
      case 'numgen': {
        pos++;
        expect('random');
        expect('mod');
        const mod = Number(next('a modulus'));
        expect('==');
        const value = Number(next('a value'));
        if (!Number.isInteger(mod) || mod < 1 || !Number.isInteger(value) || value < 0 || value >= mod)
          throw fail(text, 'invalid numgen');
        exprs.push({ op: 'numgen', dreg: 1, modulus: mod, type: NUMGEN_RANDOM });
        exprs.push({ op: 'cmp', sreg: 1, cmpOp: CMP.EQ, data: u32le(value) });
        break;
      }
      case 'mark': {
        pos++;
        const word = next('and or set');
        if (word === 'and') {
          const mask = parseMark(text, next('a mask'));
          expect('==');
          const value = parseMark(text, next('a value'));
          exprs.push({ op: 'meta', key: META.MARK, dreg: 1 });
          exprs.push({
            op: 'bitwise',
            sreg: 1,
            dreg: 1,
            len: 4,
            mask: u32le(mask),
            xor: u32le(0),
            bool: true,
          });
          exprs.push({ op: 'cmp', sreg: 1, cmpOp: CMP.EQ, data: u32le(value) });
        } else if (word === 'set') {
          expect('mark');
          const how = next('or or xor');
          const bits = parseMark(text, next('a value'));
          exprs.push({ op: 'meta', key: META.MARK, dreg: 1 });
          // A statement's bitwise names its operation (boolean); a match's does not, as nft.
          if (how === 'or')
            exprs.push({
              op: 'bitwise',
              sreg: 1,
              dreg: 1,
              len: 4,
              mask: u32le(~bits),
              xor: u32le(bits),
              bool: true,
            });
          else if (how === 'xor')
            exprs.push({
              op: 'bitwise',
              sreg: 1,
              dreg: 1,
              len: 4,
              mask: u32le(0xffffffff),
              xor: u32le(bits),
              bool: true,
            });
          else throw fail(text, `unsupported mark operation ${how}`);
          exprs.push({ op: 'metaSet', key: META.MARK, sreg: 1 });
        } else throw fail(text, `unsupported mark ${word}`);
        break;
      }
      case 'update': {
        pos++;
        const map = setName(next('a map'));
        expect('{');
        const key = primary(1);
        expect(':');
        const value = next('a value');
        expect('}');
        exprs.push(...key.exprs);
        exprs.push({ op: 'immediate', dreg: 2, data: valueBytes({ ...key, kind: 'addr' }, value) });
        exprs.push({ op: 'dynset', ...withSetId(map), dynOp: DYNSET_OP.UPDATE, sregKey: 1, sregData: 2 });
        break;
      }
      case 'dnat': {
        pos++;
        expect('to');
        if (peek() === 'ip' || peek() === 'ip6') {
          const key = primary(1);
          expect('map');
          const map = setName(next('a map'));
          expect(':');
          const port = next('a port');
          exprs.push(...key.exprs);
          exprs.push({ op: 'lookup', ...withSetId(map), sreg: 1, dreg: 1 });
          exprs.push({ op: 'immediate', dreg: 2, data: portBytes(text, port) });
        } else {
          const target = next('an address and port');
          const m = ipv6 ? /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(target) : /^([0-9.]+):(\d+)$/.exec(target);
          if (!m) throw fail(text, `invalid dnat target ${target}`);
          exprs.push({ op: 'immediate', dreg: 1, data: address(m[1]!) });
          exprs.push({ op: 'immediate', dreg: 2, data: portBytes(text, m[2]!) });
        }
        exprs.push({
          op: 'nat',
          type: NAT.DNAT,
          family: nfproto,
          regAddrMin: 1,
          regProtoMin: 2,
          flags: NAT.FLAG_PROTO_SPECIFIED,
        });
        break;
      }
      case 'masquerade': {
        pos++;
        let flags = 0;
        if (peek() === 'fully-random') {
          pos++;
          flags |= NAT.FLAG_FULLY_RANDOM;
        }
        exprs.push({ op: 'masq', flags });
        break;
      }
      case 'reject':
        pos++;
        exprs.push({
          op: 'reject',
          type: REJECT_ICMP_UNREACH,
          code: ipv6 ? ICMPV6_PORT_UNREACH : ICMP_PORT_UNREACH,
        });
        break;
      case 'jump':
      case 'goto':
        pos++;
        verdict(t, next('a chain'));
        break;
      case 'drop':
      case 'accept':
      case 'return':
        pos++;
        verdict(t);
        break;
      default:
        throw fail(text, `unsupported ${JSON.stringify(t)}`);
    }
  }
  return { exprs, anonymousSets };
}

/**
 * nft numbers a register by its 4-byte word from register 1: a word on a 16-byte boundary by its
 * 16-byte register (1–4, understood by old kernels), any other by its word register (8–23).
 */
function register32(word: number): number {
  return word % 4 === 0 ? 1 + word / 4 : 8 + word;
}

function ctBits(exprs: Expr[], key: number, bits: number): void {
  exprs.push({ op: 'ct', key, dreg: 1 });
  exprs.push({ op: 'bitwise', sreg: 1, dreg: 1, len: 4, mask: u32le(bits), xor: u32le(0) });
  exprs.push({ op: 'cmp', sreg: 1, cmpOp: CMP.NEQ, data: u32le(0) });
}

function parseMark(rule: string, tok: string): number {
  const v = /^0x[0-9a-fA-F]{1,8}$/.test(tok)
    ? Number.parseInt(tok, 16)
    : /^\d+$/.test(tok)
      ? Number(tok)
      : Number.NaN;
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw fail(rule, `invalid mark ${tok}`);
  return v;
}

function portBytes(rule: string, tok: string): Buffer {
  const n = decimal(tok);
  if (n === undefined || n > 65535) throw fail(rule, `invalid port ${tok}`);
  return u16be(n);
}

/** A run of 1–5 ASCII digits as a number; anything else is undefined. */
function decimal(tok: string): number | undefined {
  if (tok.length === 0 || tok.length > 5) return undefined;
  let n = 0;
  for (let i = 0; i < tok.length; i++) {
    const c = tok.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    n = n * 10 + c;
  }
  return n;
}

function prefixMask(len: number, prefix: number): Buffer {
  const mask = Buffer.alloc(len);
  for (let i = 0; i < len; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    mask[i] = bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return mask;
}

function rangeOf(rule: string, item: string, ipv6: boolean): [Buffer, Buffer] {
  let cidr: CIDR | undefined;
  if (item.includes('/')) cidr = parseCIDR(item);
  else {
    const ip = parseIP(item);
    if (ip) cidr = parseCIDR(`${ip.text}/${ip.family === 'IPv4' ? 32 : 128}`);
  }
  if (!cidr || cidr.family !== (ipv6 ? 'IPv6' : 'IPv4')) throw fail(rule, `invalid set element ${item}`);
  const first = ipBytes(cidr.network);
  const last = Buffer.from(first);
  const mask = prefixMask(first.length, cidr.prefix);
  for (let i = 0; i < last.length; i++) last[i] = last[i]! | (~mask[i]! & 0xff);
  return [first, last];
}

/** Sorted, with overlapping and adjacent ranges merged, as nft's automerge does for constant sets. */
function mergeRanges(ranges: [Buffer, Buffer][]): [Buffer, Buffer][] {
  const sorted = [...ranges].sort((a, b) => Buffer.compare(a[0], b[0]));
  const out: [Buffer, Buffer][] = [];
  for (const r of sorted) {
    const prev = out.at(-1);
    if (prev) {
      const afterPrev = increment(prev[1]);
      if (afterPrev === undefined || Buffer.compare(r[0], afterPrev) <= 0) {
        if (Buffer.compare(r[1], prev[1]) > 0) prev[1] = r[1];
        continue;
      }
    }
    out.push([Buffer.from(r[0]), Buffer.from(r[1])]);
  }
  return out;
}

/** The next value, or undefined past the last one. */
export function increment(b: Buffer): Buffer | undefined {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== 0xff) {
      out[i] = out[i]! + 1;
      return out;
    }
    out[i] = 0;
  }
  return undefined;
}
