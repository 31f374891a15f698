// Compares two nf_tables batches as the kernel sees them: every message but the element lists
// byte for byte and in order; elements as the same entries per set (nft 1.0.6 sends consecutive
// `add element` commands in an order of its own, which changes nothing in the kernel).
import {
  attrMap,
  attrString,
  type Message,
  NLM_F_ACK,
  parseAttrs,
} from '../../src/kernel/netlink/message.ts';
import { msgType } from '../../src/kernel/nft/netlink/batch.ts';
import { MSG, SET_ELEM_LIST } from '../../src/kernel/nft/netlink/constants.ts';
import { describe } from './nft-oracle.ts';

function isElements(m: Message): boolean {
  return m.type === msgType(MSG.NEWSETELEM) || m.type === msgType(MSG.DELSETELEM);
}

function elementEntries(m: Message): string[] {
  const a = attrMap(m.payload, 4);
  const list = a.get(SET_ELEM_LIST.ELEMENTS);
  if (!list) return [`${m.type} ${attrString(a.get(SET_ELEM_LIST.SET))} (flush)`];
  const head = `${m.type} ${m.flags & ~NLM_F_ACK} ${attrString(a.get(SET_ELEM_LIST.SET))} ${a.get(SET_ELEM_LIST.SET_ID)?.toString('hex') ?? '-'}`;
  // Anonymous interval sets keep their element order (start/end pairs), others are a multiset.
  return parseAttrs(list).map((e) => `${head} ${e.data.toString('hex')}`);
}

/** undefined when equal, else a description of the first difference. */
export function compareBatches(ours: readonly Message[], theirs: readonly Message[]): string | undefined {
  const plain = (ms: readonly Message[]) => ms.filter((m) => !isElements(m) || isFlush(m));
  const a = plain(ours);
  const b = plain(theirs);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (
      !x ||
      !y ||
      x.type !== y.type ||
      (x.flags & ~NLM_F_ACK) !== (y.flags & ~NLM_F_ACK) ||
      !x.payload.equals(y.payload)
    )
      return `message ${i} differs:\n--- ours\n${x ? describe(x) : 'none'}\n--- nft\n${y ? describe(y) : 'none'}`;
  }
  const entries = (ms: readonly Message[]) =>
    ms
      .filter((m) => isElements(m) && !isFlush(m))
      .flatMap(elementEntries)
      .sort();
  const ea = entries(ours);
  const eb = entries(theirs);
  for (let i = 0; i < Math.max(ea.length, eb.length); i++)
    if (ea[i] !== eb[i]) return `set element ${i} differs:\n--- ours\n${ea[i]}\n--- nft\n${eb[i]}`;
  return undefined;
}

function isFlush(m: Message): boolean {
  return m.type === msgType(MSG.DELSETELEM) && !attrMap(m.payload, 4).has(SET_ELEM_LIST.ELEMENTS);
}
