// Nftables over a NETLINK_NETFILTER socket: a transaction is one nf_tables batch sent in one call,
// without starting a process or having nft parse text; reads are netlink dumps.
import { KubeProxyError } from '../../../errors.ts';
import {
  attrMap,
  attrString,
  type Message,
  MessageWriter,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_ERROR,
  parseAck,
  parseAttrs,
} from '../../netlink/message.ts';
import { NETLINK_NETFILTER, NetlinkAckError, NetlinkSocket } from '../../netlink/socket.ts';
import type { KernelElement, Nftables, TableCounts } from '../nftables.ts';
import { type Family, type Operation, render } from '../objects.ts';
import type { Transaction } from '../transaction.ts';
import { type Batch, encodeBatch, msgType, nfgenmsg, nfproto } from './batch.ts';
import {
  CHAIN,
  DATA,
  MSG,
  RULE,
  SET,
  SET_ELEM,
  SET_ELEM_LIST,
  SET_FLAG,
  TABLE,
  VERDICT,
} from './constants.ts';
import { decodeKey, decodeValue, parseSetType, type SetType, setTypeFromIds } from './datatypes.ts';

const VERDICT_NAMES = new Map<number, string>([
  [0, 'drop'],
  [1, 'accept'],
  [-3, 'jump'],
  [-4, 'goto'],
  [-5, 'return'],
]);

export class NftNetlink implements Nftables {
  readonly #socket: NetlinkSocket;
  /** Set and map types by family/table/name, learned from the transactions this writer ran. */
  readonly #setTypes = new Map<string, SetType>();
  /** Batches this writer committed, and that count at the generations tableCounts() reported. */
  #ownCommits = 0;
  readonly #ownCommitsAt = new Map<number, number>();

  constructor(socket: NetlinkSocket = new NetlinkSocket(NETLINK_NETFILTER)) {
    this.#socket = socket;
  }

  async run(tx: Transaction): Promise<void> {
    await this.#apply(tx, false);
  }

  async check(tx: Transaction): Promise<void> {
    await this.#apply(tx, true);
  }

  /** The batch a transaction becomes, in the order it is sent (for tests and benchmarks). */
  async encode(tx: Transaction, checkOnly = false): Promise<Batch> {
    if (tx.error) throw tx.error;
    // Elements of sets this transaction does not declare need the set's type from the kernel.
    const declared = new Set<string>();
    for (const op of tx.operations) {
      const obj = op.object;
      if (obj.kind === 'set' || obj.kind === 'map') declared.add(obj.name);
      else if (obj.kind === 'element' && !declared.has(obj.set)) {
        declared.add(obj.set);
        await this.#setType(tx.family, tx.table, obj.set);
      }
    }
    const { others, elements, rules } = tx.orderedOperations();
    // Appended in place: spreading a cold sync's ~250,000 operations costs more than encoding some.
    const ops: Operation[] = others;
    for (const list of elements.values()) for (const op of list) ops.push(op);
    for (const list of rules.values()) for (const op of list) ops.push(op);
    return encodeBatch(
      tx.family,
      tx.table,
      ops,
      () => this.#socket.nextSeq(),
      (name) => this.#setTypes.get(`${tx.family} ${tx.table} ${name}`),
      { checkOnly, groupElements: true },
    );
  }

  async hasTable(family: Family, table: string): Promise<boolean> {
    return (await this.#dump(family, MSG.GETTABLE)).some(
      (m) => attrString(attrMap(m.payload, 4).get(TABLE.NAME)) === table,
    );
  }

  async list(family: Family, table: string, kind: 'chains' | 'sets' | 'maps'): Promise<string[]> {
    if (kind === 'chains') {
      return (await this.#dump(family, MSG.GETCHAIN, (w) => w.string(CHAIN.TABLE, table)))
        .map((m) => attrMap(m.payload, 4))
        .filter((a) => attrString(a.get(CHAIN.TABLE)) === table)
        .map((a) => attrString(a.get(CHAIN.NAME))!);
    }
    const names: string[] = [];
    for (const m of await this.#dump(family, MSG.GETSET, (w) => w.string(SET.TABLE, table))) {
      const a = attrMap(m.payload, 4);
      const name = attrString(a.get(SET.NAME));
      if (attrString(a.get(SET.TABLE)) !== table || name === undefined) continue;
      const flags = a.get(SET.FLAGS)?.readUInt32BE(0) ?? 0;
      if (flags & SET_FLAG.ANONYMOUS) continue;
      if ((kind === 'maps') === ((flags & SET_FLAG.MAP) !== 0)) names.push(name);
    }
    return names;
  }

  async listElements(family: Family, table: string, map: string): Promise<KernelElement[]> {
    const type = await this.#setType(family, table, map);
    if (!type)
      throw new KubeProxyError('KP_ERR_NFT_NOT_FOUND', `list map ${family} ${table} ${map}: no such map`);
    const out: KernelElement[] = [];
    const request = (w: MessageWriter) => w.string(SET_ELEM_LIST.TABLE, table).string(SET_ELEM_LIST.SET, map);
    for (const m of await this.#dump(family, MSG.GETSETELEM, request)) {
      const list = attrMap(m.payload, 4).get(SET_ELEM_LIST.ELEMENTS);
      if (!list) continue;
      for (const el of parseAttrs(list)) {
        const a = attrMap(el.data);
        const key = a.get(SET_ELEM.KEY);
        if (!key) continue;
        const keyBytes = attrMap(key).get(DATA.VALUE)!;
        const value = decodeData(type, a.get(SET_ELEM.DATA));
        const expiration = a.get(SET_ELEM.EXPIRATION);
        const ms = expiration ? Number(expiration.readBigUInt64BE(0)) : undefined;
        out.push({
          key: decodeKey(type.key, keyBytes),
          value,
          // nft prints whole seconds, rounding down; an element about to expire reads as 0.
          ...(ms !== undefined && { expiresSeconds: Math.floor(ms / 1000) }),
        });
      }
    }
    return out;
  }

  /**
   * Dumps of the table's chains, rules, sets and elements, counted. The generation is the low 16
   * bits every nf_tables dump reply carries (nfgenmsg res_id); read first, so a commit during the
   * count makes the next check count again rather than trust a mixed view.
   */
  async tableCounts(family: Family, table: string, unless?: number): Promise<TableCounts | undefined> {
    const tables = await this.#dump(family, MSG.GETTABLE);
    const mine = tables.find((m) => attrString(attrMap(m.payload, 4).get(TABLE.NAME)) === table);
    if (!mine) return undefined;
    const generation = mine.payload.readUInt16BE(2);
    // Every commit bumps the generation by one. When all commits since `unless` were this writer's
    // own (of either family), the kernel holds what was written: no need to dump ~100,000 rules
    // (over a second at 10,000 services). Only someone else's commit makes the count worthwhile.
    const ownSince = unless === undefined ? undefined : this.#ownCommitsAt.get(unless);
    const unchanged =
      generation === unless ||
      (ownSince !== undefined && ((generation - unless!) & 0xffff) === this.#ownCommits - ownSince);
    this.#ownCommitsAt.clear();
    this.#ownCommitsAt.set(generation, this.#ownCommits);
    if (unchanged) return { generation, unchanged: true, chains: new Map(), sets: new Map() };
    const chains = new Map<string, number>();
    for (const m of await this.#dump(family, MSG.GETCHAIN, (w) => w.string(CHAIN.TABLE, table))) {
      const a = attrMap(m.payload, 4);
      const name = attrString(a.get(CHAIN.NAME));
      if (attrString(a.get(CHAIN.TABLE)) === table && name !== undefined) chains.set(name, 0);
    }
    for (const m of await this.#dump(family, MSG.GETRULE, (w) => w.string(RULE.TABLE, table))) {
      const a = attrMap(m.payload, 4);
      const chain = attrString(a.get(RULE.CHAIN));
      if (attrString(a.get(RULE.TABLE)) === table && chain !== undefined)
        chains.set(chain, (chains.get(chain) ?? 0) + 1);
    }
    const sets = new Map<string, number>();
    const setNames = (await this.#dump(family, MSG.GETSET, (w) => w.string(SET.TABLE, table)))
      .map((m) => attrMap(m.payload, 4))
      .filter(
        (a) =>
          attrString(a.get(SET.TABLE)) === table &&
          !((a.get(SET.FLAGS)?.readUInt32BE(0) ?? 0) & SET_FLAG.ANONYMOUS),
      )
      .map((a) => attrString(a.get(SET.NAME))!);
    for (const name of setNames) {
      let n = 0;
      const request = (w: MessageWriter) =>
        w.string(SET_ELEM_LIST.TABLE, table).string(SET_ELEM_LIST.SET, name);
      for (const m of await this.#dump(family, MSG.GETSETELEM, request)) {
        const list = attrMap(m.payload, 4).get(SET_ELEM_LIST.ELEMENTS);
        if (list) n += parseAttrs(list).length;
      }
      sets.set(name, n);
    }
    return { generation, chains, sets };
  }

  close(): void {
    this.#socket.close();
  }

  async #apply(tx: Transaction, checkOnly: boolean): Promise<void> {
    if (tx.error) throw tx.error;
    if (tx.numOperations === 0) return;
    await this.send(await this.encode(tx, checkOnly), checkOnly);
    if (!checkOnly) this.#ownCommits++;
    for (const op of tx.operations) {
      const obj = op.object;
      const key = `${tx.family} ${tx.table} ${'name' in obj ? obj.name : ''}`;
      if ((obj.kind === 'set' || obj.kind === 'map') && op.verb === 'add' && !checkOnly)
        this.#setTypes.set(key, parseSetType(obj.type));
    }
  }

  /** Sends an encoded batch and checks the kernel's answers. */
  async send(batch: Batch, checkOnly = false): Promise<void> {
    const replies = await this.#socket.send(batch.bytes);
    let acked = false;
    for (const msg of replies) {
      if (msg.type !== NLMSG_ERROR) continue;
      const ack = parseAck(msg);
      if (ack.seq < batch.firstSeq || ack.seq > batch.lastSeq + 1) continue;
      if (ack.error !== 0) {
        const op = batch.operationOf(ack.seq);
        const what = op ? render(batch.family, batch.table, op) : 'nf_tables batch';
        throw ackError(new NetlinkAckError(`${checkOnly ? 'nft check' : 'nft transaction'}: ${what}`, ack));
      }
      if (ack.seq === batch.lastSeq) acked = true;
    }
    if (!checkOnly && !acked)
      throw new KubeProxyError(
        'KP_ERR_NFT_FAILED',
        'nft transaction: the kernel did not acknowledge the batch',
      );
  }

  async #setType(family: Family, table: string, name: string): Promise<SetType | undefined> {
    const key = `${family} ${table} ${name}`;
    const known = this.#setTypes.get(key);
    if (known) return known;
    const found = (await this.#dump(family, MSG.GETSET, (w) => w.string(SET.TABLE, table)))
      .map((m) => attrMap(m.payload, 4))
      .find((a) => attrString(a.get(SET.TABLE)) === table && attrString(a.get(SET.NAME)) === name);
    if (!found) return undefined;
    const type = setTypeFromKernel(found);
    if (type) this.#setTypes.set(key, type);
    return type;
  }

  /** A dump; filtered by a table that does not exist, it is empty (the kernel says ENOENT). */
  async #dump(family: Family, msg: number, attrs?: (w: MessageWriter) => void): Promise<Message[]> {
    const w = new MessageWriter(256);
    w.begin(
      msgType(msg),
      NLM_F_REQUEST | NLM_F_DUMP | NLM_F_ACK,
      this.#socket.nextSeq(),
      nfgenmsg(nfproto(family)),
    );
    attrs?.(w);
    w.end();
    try {
      return await this.#socket.dump(w.take());
    } catch (err) {
      if (err instanceof NetlinkAckError) {
        if (err.errno === ENOENT) return [];
        throw ackError(err);
      }
      throw err;
    }
  }
}

function setTypeFromKernel(a: Map<number, Buffer>): SetType | undefined {
  const keyType = a.get(SET.KEY_TYPE)?.readUInt32BE(0);
  if (keyType === undefined) return undefined;
  const isMap = ((a.get(SET.FLAGS)?.readUInt32BE(0) ?? 0) & SET_FLAG.MAP) !== 0;
  return setTypeFromIds(keyType, isMap ? a.get(SET.DATA_TYPE)?.readUInt32BE(0) : undefined);
}

function decodeData(type: SetType, data: Buffer | undefined): string[] {
  if (!data || type.data === undefined) return [];
  const a = attrMap(data);
  const verdict = a.get(DATA.VERDICT);
  if (verdict) {
    const v = attrMap(verdict);
    const code = v.get(VERDICT.CODE)?.readInt32BE(0) ?? 0;
    const chain = attrString(v.get(VERDICT.CHAIN));
    const name = VERDICT_NAMES.get(code) ?? String(code);
    return [chain === undefined ? name : `${name} ${chain}`];
  }
  const value = a.get(DATA.VALUE);
  if (!value || type.data === 'verdict') return [];
  return [decodeValue(type.data, value)];
}

const ENOENT = 2;
const EEXIST = 17;

/** An nf_tables refusal as a typed error: ENOENT and EEXIST keep their codes, as for the nft CLI. */
function ackError(err: NetlinkAckError): KubeProxyError {
  const code =
    err.errno === ENOENT
      ? 'KP_ERR_NFT_NOT_FOUND'
      : err.errno === EEXIST
        ? 'KP_ERR_NFT_EXISTS'
        : 'KP_ERR_NFT_FAILED';
  return new KubeProxyError(code, err.message, { cause: err });
}
