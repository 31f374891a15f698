// The kernel-only floor of the netlink writer: sends a dumped nf_tables batch (its bytes as the
// writer sent them) on a fresh netlink socket and prints the milliseconds the send took.
import { readFileSync } from 'node:fs';
import { parseAck } from '../src/kernel/netlink/message.ts';
import { NETLINK_NETFILTER, NetlinkSocket } from '../src/kernel/netlink/socket.ts';

const bytes = readFileSync(process.argv[2]!);
const socket = new NetlinkSocket(NETLINK_NETFILTER);
const t0 = performance.now();
const replies = await socket.send(bytes);
const ms = performance.now() - t0;
socket.close();
for (const r of replies) {
  if (r.type !== 2) continue;
  const ack = parseAck(r);
  if (ack.error !== 0) throw new Error(`batch refused: errno ${-ack.error} ${ack.message ?? ''}`);
}
process.stdout.write(`${ms}\n`);
