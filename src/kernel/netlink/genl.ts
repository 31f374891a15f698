// Generic netlink: families (IPVS among them) are found by name through the controller, which
// gives the message type to use for them on this kernel.
import { KubeProxyError } from '../../errors.ts';
import { attrMap, MessageWriter, NLM_F_ACK, NLM_F_REQUEST, NLMSG_ERROR, parseAck } from './message.ts';
import { NetlinkAckError, type NetlinkSocket } from './socket.ts';

const GENL_ID_CTRL = 0x10;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;
const CTRL_VERSION = 2;

/** The 4-byte generic netlink header: command, version, reserved. */
export function genlHeader(cmd: number, version: number): Buffer {
  const b = Buffer.alloc(4);
  b[0] = cmd;
  b[1] = version;
  return b;
}

/**
 * The message type of a generic netlink family, or undefined when the kernel has no such family
 * (its module is not loaded and cannot be: ENOENT).
 */
export async function resolveFamily(socket: NetlinkSocket, name: string): Promise<number | undefined> {
  const w = new MessageWriter(64);
  w.begin(
    GENL_ID_CTRL,
    NLM_F_REQUEST | NLM_F_ACK,
    socket.nextSeq(),
    genlHeader(CTRL_CMD_GETFAMILY, CTRL_VERSION),
  );
  w.string(CTRL_ATTR_FAMILY_NAME, name);
  w.end();
  let id: number | undefined;
  for (const msg of await socket.send(w.take())) {
    if (msg.type === NLMSG_ERROR) {
      const ack = parseAck(msg);
      if (ack.error === -2) return undefined;
      if (ack.error !== 0) throw new NetlinkAckError(`generic netlink family ${name}`, ack);
      continue;
    }
    if (msg.type !== GENL_ID_CTRL) continue;
    const famId = attrMap(msg.payload, 4).get(CTRL_ATTR_FAMILY_ID);
    if (famId) id = famId.readUInt16LE(0);
  }
  if (id === undefined)
    throw new KubeProxyError('KP_ERR_NETLINK', `generic netlink family ${name}: the controller gave no id`);
  return id;
}
