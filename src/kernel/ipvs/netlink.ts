// IPVS over generic netlink (family "IPVS"), as upstream talks to it through libipvs: no ipvsadm
// process. A sync's changes go to the kernel in few sendmsg calls: the kernel runs each message
// of a buffer in turn and acknowledges each, so one refused change does not stop the others
// (upstream makes one netlink round trip per change).
import { KubeProxyError } from '../../errors.ts';
import { ipBytes, ipFromBytes, parseIP } from '../../util/ip.ts';
import { genlHeader, resolveFamily } from '../netlink/genl.ts';
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
} from '../netlink/message.ts';
import { NETLINK_GENERIC, NetlinkAckError, NetlinkSocket } from '../netlink/socket.ts';
import {
  FLAG_HASHED,
  type Ipvs,
  type IpvsOp,
  type IpvsOpFailure,
  type IpvsProtocol,
  type IpvsTimeouts,
  type RealServer,
  type VirtualServer,
  virtualServerKey,
} from './types.ts';

const GENL_VERSION = 1;

export const CMD = {
  NEW_SERVICE: 1,
  SET_SERVICE: 2,
  DEL_SERVICE: 3,
  GET_SERVICE: 4,
  NEW_DEST: 5,
  SET_DEST: 6,
  DEL_DEST: 7,
  GET_DEST: 8,
  SET_CONFIG: 12,
  FLUSH: 17,
} as const;

const CMD_ATTR = { SERVICE: 1, DEST: 2, TIMEOUT_TCP: 4, TIMEOUT_TCP_FIN: 5, TIMEOUT_UDP: 6 } as const;
export const SVC_ATTR = {
  AF: 1,
  PROTOCOL: 2,
  ADDR: 3,
  PORT: 4,
  SCHED_NAME: 6,
  FLAGS: 7,
  TIMEOUT: 8,
  NETMASK: 9,
} as const;
export const DEST_ATTR = {
  ADDR: 1,
  PORT: 2,
  FWD_METHOD: 3,
  WEIGHT: 4,
  U_THRESH: 5,
  L_THRESH: 6,
  ACTIVE_CONNS: 7,
  INACT_CONNS: 8,
  ADDR_FAMILY: 11,
} as const;

const AF_INET = 2;
const AF_INET6 = 10;
/** IP_VS_CONN_F_MASQ: real servers are reached by NAT, as upstream's (libipvs default). */
const FWD_MASQ = 0;
const PROTO_NUMBERS: Record<IpvsProtocol, number> = { TCP: 6, UDP: 17, SCTP: 132 };
const PROTO_NAMES = new Map<number, IpvsProtocol>([
  [6, 'TCP'],
  [17, 'UDP'],
  [132, 'SCTP'],
]);

const ESRCH = 3;
const ENOENT = 2;
const EEXIST = 17;

/** Changes per sendmsg: their acknowledgements must fit the receive buffer. */
const OPS_PER_SEND = 4096;

const OP_CMD: Record<IpvsOp['op'], number> = {
  'add-service': CMD.NEW_SERVICE,
  'update-service': CMD.SET_SERVICE,
  'delete-service': CMD.DEL_SERVICE,
  'add-dest': CMD.NEW_DEST,
  'update-dest': CMD.SET_DEST,
  'delete-dest': CMD.DEL_DEST,
};

export class IpvsNetlink implements Ipvs {
  readonly #socket: NetlinkSocket;
  readonly #family: number;

  private constructor(socket: NetlinkSocket, family: number) {
    this.#socket = socket;
    this.#family = family;
  }

  /** Opens the client; KP_ERR_IPVS_UNAVAILABLE when the kernel has no IPVS. */
  static async open(socket: NetlinkSocket = new NetlinkSocket(NETLINK_GENERIC)): Promise<IpvsNetlink> {
    let family: number | undefined;
    try {
      family = await resolveFamily(socket, 'IPVS');
    } catch (err) {
      socket.close();
      throw err;
    }
    if (family === undefined) {
      socket.close();
      throw new KubeProxyError(
        'KP_ERR_IPVS_UNAVAILABLE',
        'the kernel has no IPVS (generic netlink family "IPVS" not found; is the ip_vs module loaded?)',
      );
    }
    return new IpvsNetlink(socket, family);
  }

  async virtualServers(): Promise<VirtualServer[]> {
    const msgs = await this.#dump(CMD.GET_SERVICE);
    const out: VirtualServer[] = [];
    for (const m of msgs) {
      const nest = attrMap(m.payload, 4).get(CMD_ATTR.SERVICE);
      const vs = nest && decodeService(nest);
      if (vs) out.push(vs);
    }
    return out;
  }

  async realServers(vs: VirtualServer): Promise<RealServer[]> {
    const msgs = await this.#dump(CMD.GET_DEST, (w) => writeService(w, vs, false));
    const out: RealServer[] = [];
    for (const m of msgs) {
      const nest = attrMap(m.payload, 4).get(CMD_ATTR.DEST);
      const rs = nest && decodeDest(nest, vs.family === 'IPv4' ? AF_INET : AF_INET6);
      if (rs) out.push(rs);
    }
    return out;
  }

  async apply(ops: readonly IpvsOp[]): Promise<IpvsOpFailure[]> {
    const failures: IpvsOpFailure[] = [];
    for (let start = 0; start < ops.length; start += OPS_PER_SEND) {
      const chunk = ops.slice(start, start + OPS_PER_SEND);
      const bySeq = new Map<number, IpvsOp>();
      const w = new MessageWriter(chunk.length * 128);
      for (const op of chunk) {
        const seq = this.#socket.nextSeq();
        bySeq.set(seq, op);
        encodeOp(w, this.#family, seq, op);
      }
      const answered = new Set<number>();
      for (const msg of await this.#socket.send(w.take())) {
        if (msg.type !== NLMSG_ERROR) continue;
        const ack = parseAck(msg);
        const op = bySeq.get(ack.seq);
        if (!op) continue;
        answered.add(ack.seq);
        if (ack.error !== 0) failures.push({ op, error: ipvsError(describeOp(op), ack) });
      }
      for (const [seq, op] of bySeq)
        if (!answered.has(seq))
          failures.push({
            op,
            error: new KubeProxyError('KP_ERR_IPVS_FAILED', `${describeOp(op)}: the kernel did not answer`),
          });
    }
    return failures;
  }

  async flush(): Promise<void> {
    await this.#request(CMD.FLUSH, 'flush IPVS');
  }

  async configureTimeouts(t: IpvsTimeouts): Promise<void> {
    await this.#request(CMD.SET_CONFIG, 'set IPVS timeouts', (w) => {
      if (t.tcp > 0) w.u32le(CMD_ATTR.TIMEOUT_TCP, t.tcp);
      if (t.tcpFin > 0) w.u32le(CMD_ATTR.TIMEOUT_TCP_FIN, t.tcpFin);
      if (t.udp > 0) w.u32le(CMD_ATTR.TIMEOUT_UDP, t.udp);
    });
  }

  close(): void {
    this.#socket.close();
  }

  async #request(cmd: number, what: string, attrs?: (w: MessageWriter) => void): Promise<void> {
    const w = new MessageWriter(128);
    w.begin(this.#family, NLM_F_REQUEST | NLM_F_ACK, this.#socket.nextSeq(), genlHeader(cmd, GENL_VERSION));
    attrs?.(w);
    w.end();
    for (const msg of await this.#socket.send(w.take())) {
      if (msg.type !== NLMSG_ERROR) continue;
      const ack = parseAck(msg);
      if (ack.error !== 0) throw ipvsError(what, ack);
    }
  }

  async #dump(cmd: number, attrs?: (w: MessageWriter) => void): Promise<Message[]> {
    const w = new MessageWriter(128);
    w.begin(
      this.#family,
      NLM_F_REQUEST | NLM_F_DUMP | NLM_F_ACK,
      this.#socket.nextSeq(),
      genlHeader(cmd, GENL_VERSION),
    );
    attrs?.(w);
    w.end();
    try {
      return (await this.#socket.dump(w.take())).filter((m) => m.type === this.#family);
    } catch (err) {
      if (err instanceof NetlinkAckError) throw codeFor(err.errno, err.message, err);
      throw err;
    }
  }
}

/** One change as one generic netlink message (exported for the encoding tests). */
export function encodeOp(w: MessageWriter, family: number, seq: number, op: IpvsOp): void {
  w.begin(family, NLM_F_REQUEST | NLM_F_ACK, seq, genlHeader(OP_CMD[op.op], GENL_VERSION));
  const isDest = op.op === 'add-dest' || op.op === 'update-dest' || op.op === 'delete-dest';
  writeService(w, op.vs, op.op === 'add-service' || op.op === 'update-service');
  if (isDest) writeDest(w, op.vs, op.rs, op.op !== 'delete-dest');
  w.end();
}

function addressBytes(address: string): Buffer {
  const ip = parseIP(address);
  if (!ip)
    throw new KubeProxyError('KP_ERR_IPVS_FAILED', `IPVS: not an IP address: ${JSON.stringify(address)}`);
  // union nf_inet_addr: 16 bytes whatever the family, as ipvsadm sends it.
  const out = Buffer.alloc(16);
  ipBytes(ip).copy(out);
  return out;
}

function writeService(w: MessageWriter, vs: VirtualServer, full: boolean): void {
  w.beginNest(CMD_ATTR.SERVICE);
  w.u16le(SVC_ATTR.AF, vs.family === 'IPv4' ? AF_INET : AF_INET6);
  w.u16le(SVC_ATTR.PROTOCOL, PROTO_NUMBERS[vs.protocol]);
  w.bytes(SVC_ATTR.ADDR, addressBytes(vs.address));
  w.u16be(SVC_ATTR.PORT, vs.port);
  if (full) {
    w.string(SVC_ATTR.SCHED_NAME, vs.scheduler);
    const flags = Buffer.alloc(8);
    flags.writeUInt32LE(vs.flags >>> 0, 0);
    flags.writeUInt32LE(0xffffffff, 4);
    w.bytes(SVC_ATTR.FLAGS, flags);
    w.u32le(SVC_ATTR.TIMEOUT, vs.timeout);
    w.u32le(SVC_ATTR.NETMASK, vs.family === 'IPv4' ? 0xffffffff : 128);
  }
  w.endNest();
}

function writeDest(w: MessageWriter, vs: VirtualServer, rs: RealServer, full: boolean): void {
  w.beginNest(CMD_ATTR.DEST);
  w.bytes(DEST_ATTR.ADDR, addressBytes(rs.address));
  w.u16be(DEST_ATTR.PORT, rs.port);
  if (full) {
    w.u32le(DEST_ATTR.FWD_METHOD, FWD_MASQ);
    w.u32le(DEST_ATTR.WEIGHT, rs.weight);
    w.u32le(DEST_ATTR.U_THRESH, 0);
    w.u32le(DEST_ATTR.L_THRESH, 0);
  }
  w.u16le(DEST_ATTR.ADDR_FAMILY, vs.family === 'IPv4' ? AF_INET : AF_INET6);
  w.endNest();
}

/** A service from a GET_SERVICE answer; undefined for what kube-proxy never creates (fwmark services). */
export function decodeService(nest: Buffer): VirtualServer | undefined {
  const a = attrMap(nest);
  const af = a.get(SVC_ATTR.AF)?.readUInt16LE(0);
  const proto = PROTO_NAMES.get(a.get(SVC_ATTR.PROTOCOL)?.readUInt16LE(0) ?? 0);
  const addr = a.get(SVC_ATTR.ADDR);
  const port = a.get(SVC_ATTR.PORT);
  if ((af !== AF_INET && af !== AF_INET6) || !proto || !addr || !port) return undefined;
  const flags = a.get(SVC_ATTR.FLAGS)?.readUInt32LE(0) ?? 0;
  return {
    family: af === AF_INET ? 'IPv4' : 'IPv6',
    address: ipFromBytes(addr.subarray(0, af === AF_INET ? 4 : 16)),
    protocol: proto,
    port: port.readUInt16BE(0),
    scheduler: attrString(a.get(SVC_ATTR.SCHED_NAME)) ?? '',
    flags: flags & ~FLAG_HASHED,
    timeout: a.get(SVC_ATTR.TIMEOUT)?.readUInt32LE(0) ?? 0,
  };
}

export function decodeDest(nest: Buffer, serviceAf: number): RealServer | undefined {
  const a = attrMap(nest);
  const af = a.get(DEST_ATTR.ADDR_FAMILY)?.readUInt16LE(0) ?? serviceAf;
  const addr = a.get(DEST_ATTR.ADDR);
  const port = a.get(DEST_ATTR.PORT);
  if (!addr || !port) return undefined;
  return {
    address: ipFromBytes(addr.subarray(0, af === AF_INET ? 4 : 16)),
    port: port.readUInt16BE(0),
    weight: a.get(DEST_ATTR.WEIGHT)?.readInt32LE(0) ?? 0,
    activeConns: a.get(DEST_ATTR.ACTIVE_CONNS)?.readUInt32LE(0) ?? 0,
    inactiveConns: a.get(DEST_ATTR.INACT_CONNS)?.readUInt32LE(0) ?? 0,
  };
}

function describeOp(op: IpvsOp): string {
  const vs = virtualServerKey(op.vs);
  return 'rs' in op ? `${op.op} ${vs} -> ${op.rs.address}:${op.rs.port}` : `${op.op} ${vs}`;
}

function ipvsError(what: string, ack: ReturnType<typeof parseAck>): KubeProxyError {
  const err = new NetlinkAckError(what, ack);
  return codeFor(err.errno, err.message, err);
}

function codeFor(errno: number, message: string, cause: Error): KubeProxyError {
  const code =
    errno === ESRCH || errno === ENOENT
      ? 'KP_ERR_IPVS_NOT_FOUND'
      : errno === EEXIST
        ? 'KP_ERR_IPVS_EXISTS'
        : 'KP_ERR_IPVS_FAILED';
  return new KubeProxyError(code, message, { cause });
}
