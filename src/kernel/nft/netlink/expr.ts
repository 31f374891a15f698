// nf_tables expressions, as the kernel's virtual machine runs them, and their netlink encoding.
// Registers: 0 is the verdict, 1–4 the 16-byte registers; 8–23 address the same space in 4-byte
// words (register 1 is words 8–11), which concatenated keys use field by field.
import type { MessageWriter } from '../../netlink/message.ts';
import { DATA, EXPR, LIST_ELEM, VERDICT, VERDICT_CODE } from './constants.ts';

export type VerdictKind = keyof typeof VERDICT_CODE;

export interface Verdict {
  readonly kind: VerdictKind;
  readonly chain?: string;
}

export type Expr =
  | {
      readonly op: 'payload';
      readonly base: 0 | 1 | 2;
      readonly offset: number;
      readonly len: number;
      readonly dreg: number;
    }
  | { readonly op: 'meta'; readonly key: number; readonly dreg: number }
  | { readonly op: 'metaSet'; readonly key: number; readonly sreg: number }
  | { readonly op: 'ct'; readonly key: number; readonly dreg: number }
  | { readonly op: 'cmp'; readonly sreg: number; readonly cmpOp: number; readonly data: Buffer }
  | {
      readonly op: 'bitwise';
      readonly sreg: number;
      readonly dreg: number;
      readonly len: number;
      readonly mask: Buffer;
      readonly xor: Buffer;
      /** Sends NFTA_BITWISE_OP (boolean), as nft does for statements but not for matches. */
      readonly bool?: boolean;
    }
  | { readonly op: 'immediate'; readonly dreg: number; readonly data: Buffer }
  | { readonly op: 'verdict'; readonly verdict: Verdict }
  | {
      readonly op: 'lookup';
      readonly set: string;
      readonly setId?: number;
      readonly sreg: number;
      readonly dreg?: number;
      readonly invert?: boolean;
    }
  | {
      readonly op: 'dynset';
      readonly set: string;
      readonly setId?: number;
      readonly dynOp: number;
      readonly sregKey: number;
      readonly sregData?: number;
    }
  | { readonly op: 'numgen'; readonly dreg: number; readonly modulus: number; readonly type: number }
  | { readonly op: 'fib'; readonly dreg: number; readonly result: number; readonly flags: number }
  | {
      readonly op: 'nat';
      readonly type: number;
      readonly family: number;
      readonly regAddrMin?: number;
      readonly regProtoMin?: number;
      readonly flags?: number;
    }
  | { readonly op: 'masq'; readonly flags: number }
  | { readonly op: 'reject'; readonly type: number; readonly code: number };

export const BASE = { LL: 0, NETWORK: 1, TRANSPORT: 2 } as const;
export const CMP = { EQ: 0, NEQ: 1 } as const;
export const META = { MARK: 3, IIFNAME: 6, L4PROTO: 16 } as const;
export const CT = { STATE: 0, STATUS: 2 } as const;
export const FIB = { FLAG_SADDR: 1, FLAG_DADDR: 2, RESULT_ADDRTYPE: 3 } as const;
export const NAT = { SNAT: 0, DNAT: 1, FLAG_PROTO_SPECIFIED: 0x2, FLAG_FULLY_RANDOM: 0x10 } as const;
export const DYNSET_OP = { ADD: 0, UPDATE: 1, DELETE: 2 } as const;
export const NUMGEN_RANDOM = 1;
export const LOOKUP_F_INV = 1;

/** Writes a verdict as NFTA_DATA_VERDICT (in an immediate, or as a map element's value). */
export function writeVerdictData(w: MessageWriter, type: number, v: Verdict): void {
  w.beginNest(type).beginNest(DATA.VERDICT).u32be(VERDICT.CODE, VERDICT_CODE[v.kind]);
  if (v.chain !== undefined) w.string(VERDICT.CHAIN, v.chain);
  w.endNest().endNest();
}

export function writeValueData(w: MessageWriter, type: number, data: Buffer): void {
  w.beginNest(type).bytes(DATA.VALUE, data).endNest();
}

/** Appends one expression to an NFTA_RULE_EXPRESSIONS nest. */
export function writeExpr(w: MessageWriter, e: Expr): void {
  // Hot in a cold sync (a few expressions per rule, ten thousands of rules): no closures.
  w.beginNest(LIST_ELEM);
  switch (e.op) {
    case 'payload':
      w.string(EXPR.NAME, 'payload').beginNest(EXPR.DATA);
      w.u32be(1, e.dreg).u32be(2, e.base).u32be(3, e.offset).u32be(4, e.len);
      break;
    case 'meta':
      w.string(EXPR.NAME, 'meta').beginNest(EXPR.DATA);
      w.u32be(2, e.key).u32be(1, e.dreg);
      break;
    case 'metaSet':
      w.string(EXPR.NAME, 'meta').beginNest(EXPR.DATA);
      w.u32be(2, e.key).u32be(3, e.sreg);
      break;
    case 'ct':
      w.string(EXPR.NAME, 'ct').beginNest(EXPR.DATA);
      w.u32be(2, e.key).u32be(1, e.dreg);
      break;
    case 'cmp':
      w.string(EXPR.NAME, 'cmp').beginNest(EXPR.DATA);
      w.u32be(1, e.sreg).u32be(2, e.cmpOp);
      writeValueData(w, 3, e.data);
      break;
    case 'bitwise':
      w.string(EXPR.NAME, 'bitwise').beginNest(EXPR.DATA);
      w.u32be(1, e.sreg).u32be(2, e.dreg);
      if (e.bool) w.u32be(6, 0);
      w.u32be(3, e.len);
      writeValueData(w, 4, e.mask);
      writeValueData(w, 5, e.xor);
      break;
    case 'immediate':
      w.string(EXPR.NAME, 'immediate').beginNest(EXPR.DATA);
      w.u32be(1, e.dreg);
      writeValueData(w, 2, e.data);
      break;
    case 'verdict':
      w.string(EXPR.NAME, 'immediate').beginNest(EXPR.DATA);
      w.u32be(1, 0);
      writeVerdictData(w, 2, e.verdict);
      break;
    case 'lookup':
      w.string(EXPR.NAME, 'lookup').beginNest(EXPR.DATA);
      w.u32be(2, e.sreg);
      if (e.dreg !== undefined) w.u32be(3, e.dreg);
      w.string(1, e.set);
      if (e.setId !== undefined) w.u32be(4, e.setId);
      if (e.invert) w.u32be(5, LOOKUP_F_INV);
      break;
    case 'dynset':
      w.string(EXPR.NAME, 'dynset').beginNest(EXPR.DATA);
      w.u32be(4, e.sregKey);
      if (e.sregData !== undefined) w.u32be(5, e.sregData);
      w.u32be(3, e.dynOp).string(1, e.set);
      if (e.setId !== undefined) w.u32be(2, e.setId);
      break;
    case 'numgen':
      w.string(EXPR.NAME, 'numgen').beginNest(EXPR.DATA);
      w.u32be(1, e.dreg).u32be(2, e.modulus).u32be(3, e.type).u32be(4, 0);
      break;
    case 'fib':
      w.string(EXPR.NAME, 'fib').beginNest(EXPR.DATA);
      w.u32be(3, e.flags).u32be(2, e.result).u32be(1, e.dreg);
      break;
    case 'nat':
      w.string(EXPR.NAME, 'nat').beginNest(EXPR.DATA);
      w.u32be(1, e.type).u32be(2, e.family);
      if (e.regAddrMin !== undefined) w.u32be(3, e.regAddrMin);
      if (e.regProtoMin !== undefined) w.u32be(5, e.regProtoMin);
      if (e.flags !== undefined) w.u32be(7, e.flags);
      break;
    case 'masq':
      w.string(EXPR.NAME, 'masq').beginNest(EXPR.DATA);
      w.u32be(1, e.flags);
      break;
    case 'reject':
      w.string(EXPR.NAME, 'reject').beginNest(EXPR.DATA);
      w.u32be(1, e.type).u8(2, e.code);
      break;
  }
  w.endNest().endNest();
}
