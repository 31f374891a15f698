// Encodes a Transaction as one nf_tables batch (BATCH_BEGIN … BATCH_END): the kernel applies the
// whole batch atomically or none of it, as `nft -f` does. Messages follow the transaction's
// order of operations exactly (nft's own text order), each shaped as nft 1.0.6 shapes it.
import { KubeProxyError } from '../../../errors.ts';
import {
  MessageWriter,
  NLM_F_ACK,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_REQUEST,
} from '../../netlink/message.ts';
import type { ChainObject, ElementObject, Family, Operation, RuleObject, SetObject } from '../objects.ts';
import {
  CHAIN,
  HOOK,
  MSG,
  NF_INET_HOOKS,
  NFNETLINK_V0,
  NFNL_MSG_BATCH_BEGIN,
  NFNL_MSG_BATCH_END,
  NFNL_SUBSYS_NFTABLES,
  NFPROTO_IPV4,
  NFPROTO_IPV6,
  RULE,
  SET,
  SET_DESC,
  SET_ELEM,
  SET_ELEM_INTERVAL_END,
  SET_ELEM_LIST,
  SET_FLAG,
  TABLE,
} from './constants.ts';
import {
  anonymousSetUserdata,
  commentUserdata,
  dataLen,
  dataTypeId,
  encodeKey,
  keyLen,
  keyTypeId,
  parseSetType,
  type SetType,
  setUserdata,
} from './datatypes.ts';
import { type Verdict, type VerdictKind, writeExpr, writeValueData, writeVerdictData } from './expr.ts';
import { type AnonymousSet, compileRule, increment } from './rule-compiler.ts';

/** An attribute holds at most 64 KiB: element lists are split into messages below this. */
const MAX_ELEMENTS_NEST = 60_000;

export function nfproto(family: Family): number {
  return family === 'ip' ? NFPROTO_IPV4 : NFPROTO_IPV6;
}

export function nfgenmsg(family: number): Buffer {
  const b = Buffer.alloc(4);
  b[0] = family;
  b[1] = NFNETLINK_V0;
  b.writeUInt16BE(0, 2);
  return b;
}

export function msgType(msg: number): number {
  return (NFNL_SUBSYS_NFTABLES << 8) | msg;
}

/** An encoded batch, and what each message did, to name the operation the kernel refused. */
export interface Batch {
  readonly family: Family;
  readonly table: string;
  readonly bytes: Buffer;
  /** The operation a message carries, by its sequence number. */
  operationOf(seq: number): Operation | undefined;
  readonly firstSeq: number;
  readonly lastSeq: number;
}

export interface BatchOptions {
  /** Leave out BATCH_END: the kernel then checks the batch and aborts it (nft --check). */
  readonly checkOnly?: boolean;
  /** One message for a run of element operations on the same set (nft sends one per command). */
  readonly groupElements?: boolean;
}

/** What the encoder knows of a set or map: from the transaction, or read from the kernel. */
export type SetTypes = (name: string) => SetType | undefined;

export function encodeBatch(
  family: Family,
  table: string,
  ops: readonly Operation[],
  nextSeq: () => number,
  kernelSetTypes: SetTypes = () => undefined,
  options: BatchOptions = {},
): Batch {
  // Sized for the batch up front (a rule is ~400 bytes, an element ~60): growing by doubling
  // would copy a cold sync's tens of megabytes several times.
  let estimate = 4096;
  for (const op of ops) estimate += op.object.kind === 'rule' ? 420 : 64;
  const w = new MessageWriter(estimate);
  const proto = nfproto(family);
  const header = nfgenmsg(proto);
  // By sequence number less the first request's (messages are numbered consecutively).
  const operations: Operation[] = [];
  const setIds = new Map<string, number>();
  const setTypes = new Map<string, SetType>();
  // nft numbers the sets a script adds in script order, then its rules' anonymous sets.
  const namedSetIds = new Map<Operation, number>();
  for (const op of ops)
    if (op.verb === 'add' && (op.object.kind === 'set' || op.object.kind === 'map'))
      namedSetIds.set(op, namedSetIds.size + 1);
  let lastSetId = namedSetIds.size;
  let lastRequest = -1;

  const batchHeader = Buffer.alloc(4);
  batchHeader.writeUInt16BE(NFNL_SUBSYS_NFTABLES, 2);
  const firstSeq = nextSeq();
  w.begin(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, firstSeq, batchHeader).end();

  const begin = (msg: number, flags: number, what: Operation): number => {
    const seq = nextSeq();
    operations.push(what);
    lastRequest = w.length;
    w.begin(msgType(msg), NLM_F_REQUEST | flags, seq, header);
    return seq;
  };
  const typeOf = (name: string): SetType => {
    const t = setTypes.get(name) ?? kernelSetTypes(name);
    if (!t)
      throw new KubeProxyError('KP_ERR_NFT_INVALID', `elements of ${name}: the set's type is not known`);
    return t;
  };

  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const obj = op.object;
    const what = op;
    switch (obj.kind) {
      case 'table':
        if (op.verb === 'add') {
          begin(MSG.NEWTABLE, 0, what);
          w.string(TABLE.NAME, table).u32be(TABLE.FLAGS, 0);
          if (obj.comment !== undefined) w.bytes(TABLE.USERDATA, commentUserdata(obj.comment));
        } else if (op.verb === 'flush') {
          begin(MSG.DELRULE, 0, what);
          w.string(RULE.TABLE, table);
        } else {
          begin(MSG.DELTABLE, 0, what);
          w.string(TABLE.NAME, table);
        }
        w.end();
        break;
      case 'chain':
        writeChain(op.verb, obj, table, begin, w, what);
        break;
      case 'set':
      case 'map':
        if (op.verb === 'add') {
          const type = parseSetType(obj.type);
          setTypes.set(obj.name, type);
          const id = namedSetIds.get(op)!;
          setIds.set(obj.name, id);
          writeSet(obj, type, id, table, begin, w, what);
        } else if (op.verb === 'flush') {
          begin(MSG.DELSETELEM, 0, what);
          w.string(SET_ELEM_LIST.SET, obj.name).string(SET_ELEM_LIST.TABLE, table).end();
        } else {
          begin(MSG.DELSET, 0, what);
          w.string(SET.TABLE, table).string(SET.NAME, obj.name).end();
        }
        break;
      case 'element': {
        const run = [obj];
        while (options.groupElements) {
          const next = ops[i + 1];
          if (next?.verb !== op.verb || next.object.kind !== 'element' || next.object.set !== obj.set) break;
          run.push(next.object);
          i++;
        }
        // Deletes name the set only; adds also by id when the batch created it, as nft.
        writeElements(
          op.verb,
          run,
          typeOf(obj.set),
          op.verb === 'delete' ? undefined : setIds.get(obj.set),
          table,
          begin,
          w,
          what,
        );
        break;
      }
      case 'rule': {
        const compiled = compileRule(obj.rule, {
          family,
          setId: (name) => setIds.get(name),
          newSetId: () => ++lastSetId,
        });
        for (const anon of compiled.anonymousSets) writeAnonymousSet(anon, table, begin, w, what);
        writeRule(obj, compiled.exprs, table, begin, w, what);
        break;
      }
    }
  }
  const lastSeq = firstSeq + operations.length;
  // The last request asks for an ack: a batch that applied answers with exactly that.
  if (lastRequest >= 0) {
    const view = w.view();
    view.writeUInt16LE(view.readUInt16LE(lastRequest + 6) | NLM_F_ACK, lastRequest + 6);
  }
  if (!options.checkOnly) w.begin(NFNL_MSG_BATCH_END, NLM_F_REQUEST, nextSeq(), batchHeader).end();
  return {
    family,
    table,
    bytes: w.take(),
    operationOf: (seq) => operations[(seq - firstSeq - 1) >>> 0],
    firstSeq,
    lastSeq,
  };
}

type Begin = (msg: number, flags: number, what: Operation) => number;

function writeChain(
  verb: Operation['verb'],
  obj: ChainObject,
  table: string,
  begin: Begin,
  w: MessageWriter,
  what: Operation,
): void {
  if (verb === 'add') {
    begin(MSG.NEWCHAIN, NLM_F_CREATE, what);
    w.string(CHAIN.TABLE, table).string(CHAIN.NAME, obj.name);
    if (obj.base) {
      const hook = NF_INET_HOOKS[obj.base.hook];
      if (hook === undefined) throw new KubeProxyError('KP_ERR_NFT_INVALID', `unknown hook ${obj.base.hook}`);
      w.string(CHAIN.TYPE, obj.base.type);
      w.nest(CHAIN.HOOK, () => {
        w.u32be(HOOK.HOOKNUM, hook).u32be(HOOK.PRIORITY, obj.base!.priority);
      });
    }
    if (obj.comment !== undefined) w.bytes(CHAIN.USERDATA, commentUserdata(obj.comment));
  } else if (verb === 'flush') {
    begin(MSG.DELRULE, 0, what);
    w.string(RULE.TABLE, table).string(RULE.CHAIN, obj.name);
  } else {
    begin(MSG.DELCHAIN, 0, what);
    w.string(CHAIN.TABLE, table).string(CHAIN.NAME, obj.name);
  }
  w.end();
}

function writeSet(
  obj: SetObject,
  type: SetType,
  id: number,
  table: string,
  begin: Begin,
  w: MessageWriter,
  what: Operation,
): void {
  let flags = 0;
  if (obj.kind === 'map') flags |= SET_FLAG.MAP;
  for (const f of obj.flags ?? []) {
    if (f === 'timeout') flags |= SET_FLAG.TIMEOUT;
    else if (f === 'dynamic') flags |= SET_FLAG.EVAL;
    else if (f === 'interval') flags |= SET_FLAG.INTERVAL;
    else if (f === 'constant') flags |= SET_FLAG.CONSTANT;
    else throw new KubeProxyError('KP_ERR_NFT_INVALID', `unsupported set flag ${f}`);
  }
  if (obj.timeoutSeconds !== undefined) flags |= SET_FLAG.TIMEOUT;
  if ((obj.kind === 'map') !== (type.data !== undefined))
    throw new KubeProxyError('KP_ERR_NFT_INVALID', `${obj.kind} ${obj.name} has type ${obj.type}`);
  begin(MSG.NEWSET, NLM_F_CREATE, what);
  w.string(SET.TABLE, table).string(SET.NAME, obj.name).u32be(SET.FLAGS, flags);
  w.u32be(SET.KEY_TYPE, keyTypeId(type.key)).u32be(SET.KEY_LEN, keyLen(type.key));
  if (type.data !== undefined)
    w.u32be(SET.DATA_TYPE, dataTypeId(type.data)).u32be(SET.DATA_LEN, dataLen(type.data));
  w.u32be(SET.ID, id);
  if (obj.timeoutSeconds !== undefined) w.u64be(SET.TIMEOUT, BigInt(obj.timeoutSeconds) * 1000n);
  w.bytes(SET.USERDATA, setUserdata(type, obj.comment));
  w.end();
}

function parseVerdictValue(value: string): Verdict {
  const [kind, chain] = value.split(' ');
  if (kind === 'goto' || kind === 'jump') return { kind, chain: chain! };
  if (kind === 'drop' || kind === 'accept' || kind === 'return') return { kind: kind as VerdictKind };
  throw new KubeProxyError('KP_ERR_NFT_INVALID', `invalid verdict ${JSON.stringify(value)}`);
}

function writeElements(
  verb: Operation['verb'],
  elements: readonly ElementObject[],
  type: SetType,
  setId: number | undefined,
  table: string,
  begin: Begin,
  w: MessageWriter,
  what: Operation,
): void {
  const set = elements[0]!.set;
  const start = () => {
    begin(verb === 'delete' ? MSG.DELSETELEM : MSG.NEWSETELEM, verb === 'delete' ? 0 : NLM_F_CREATE, what);
    w.string(SET_ELEM_LIST.TABLE, table).string(SET_ELEM_LIST.SET, set);
    if (setId !== undefined) w.u32be(SET_ELEM_LIST.SET_ID, setId);
    w.beginNest(SET_ELEM_LIST.ELEMENTS);
    return w.messageLength;
  };
  let nestStart = start();
  // libnftnl numbers the elements of a message 1, 2, …; the kernel ignores the number.
  let index = 0;
  for (const el of elements) {
    if (w.messageLength - nestStart > MAX_ELEMENTS_NEST) {
      w.endNest().end();
      nestStart = start();
      index = 0;
    }
    w.nest(++index, () => {
      if (verb !== 'delete' && el.expiresSeconds !== undefined)
        w.u64be(SET_ELEM.EXPIRATION, BigInt(el.expiresSeconds) * 1000n);
      writeValueData(w, SET_ELEM.KEY, encodeKey(type.key, el.key));
      if (verb === 'delete') return;
      if (el.value !== undefined) {
        if (type.data === 'verdict') writeVerdictData(w, SET_ELEM.DATA, parseVerdictValue(el.value));
        else if (type.data !== undefined)
          writeValueData(w, SET_ELEM.DATA, encodeKey([type.data], [el.value]));
      }
      if (el.comment !== undefined) w.bytes(SET_ELEM.USERDATA, commentUserdata(el.comment));
    });
  }
  w.endNest().end();
}

function writeAnonymousSet(
  anon: AnonymousSet,
  table: string,
  begin: Begin,
  w: MessageWriter,
  what: Operation,
): void {
  const len = anon.keyType.len;
  begin(MSG.NEWSET, NLM_F_CREATE, what);
  w.string(SET.TABLE, table).string(SET.NAME, '__set%d');
  w.u32be(SET.FLAGS, SET_FLAG.ANONYMOUS | SET_FLAG.CONSTANT | SET_FLAG.INTERVAL);
  w.u32be(SET.KEY_TYPE, anon.keyType.id).u32be(SET.KEY_LEN, len).u32be(SET.ID, anon.id);
  // nft sizes an interval set by its elements: each range's start and end, plus a leading gap.
  const elements = intervalElements(anon.ranges, len);
  w.nest(SET.DESC, () => w.u32be(SET_DESC.SIZE, elements.length));
  w.bytes(SET.USERDATA, anonymousSetUserdata(anon.keyType, anon.payload.offset));
  w.end();
  begin(MSG.NEWSETELEM, NLM_F_CREATE, what);
  w.string(SET_ELEM_LIST.TABLE, table)
    .string(SET_ELEM_LIST.SET, '__set%d')
    .u32be(SET_ELEM_LIST.SET_ID, anon.id);
  w.nest(SET_ELEM_LIST.ELEMENTS, () => {
    for (const [i, el] of elements.entries()) {
      w.nest(i + 1, () => {
        if (el.end) w.u32be(SET_ELEM.FLAGS, SET_ELEM_INTERVAL_END);
        writeValueData(w, SET_ELEM.KEY, el.key);
      });
    }
  });
  w.end();
}

/** Interval set elements as the kernel's rbtree takes them: a start, and an end flag at one past each range. */
function intervalElements(ranges: AnonymousSet['ranges'], len: number): { key: Buffer; end: boolean }[] {
  const out: { key: Buffer; end: boolean }[] = [];
  const zero = Buffer.alloc(len);
  if (ranges.length > 0 && !ranges[0]![0].equals(zero)) out.push({ key: zero, end: true });
  for (const [first, last] of ranges) {
    out.push({ key: first, end: false });
    const after = increment(last);
    if (after !== undefined) out.push({ key: after, end: true });
  }
  return out;
}

function writeRule(
  obj: RuleObject,
  exprs: ReturnType<typeof compileRule>['exprs'],
  table: string,
  begin: Begin,
  w: MessageWriter,
  what: Operation,
): void {
  begin(MSG.NEWRULE, NLM_F_CREATE | NLM_F_APPEND, what);
  w.string(RULE.TABLE, table).string(RULE.CHAIN, obj.chain);
  w.nest(RULE.EXPRESSIONS, () => {
    for (const e of exprs) writeExpr(w, e);
  });
  if (obj.comment !== undefined) w.bytes(RULE.USERDATA, commentUserdata(obj.comment));
  w.end();
}
