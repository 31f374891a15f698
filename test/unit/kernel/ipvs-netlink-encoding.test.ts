// The IPVS generic netlink messages, byte by byte where the kernel is strict (ip_vs_ctl.c's
// policies: a full service needs AF, protocol, address, port, scheduler, flags, timeout and
// netmask; a full destination address, port, forwarding method, weight and both thresholds), and
// decoding what the kernel sends back. The kernel itself is exercised in the UML guest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CMD,
  DEST_ATTR,
  decodeDest,
  decodeService,
  encodeOp,
  SVC_ATTR,
} from '../../../src/kernel/ipvs/netlink.ts';
import type { IpvsOp, RealServer, VirtualServer } from '../../../src/kernel/ipvs/types.ts';
import { attrMap, MessageWriter, parseAttrs, parseMessages } from '../../../src/kernel/netlink/message.ts';

const vs: VirtualServer = {
  family: 'IPv4',
  address: '198.19.16.41',
  protocol: 'TCP',
  port: 80,
  scheduler: 'rr',
  flags: 1,
  timeout: 10800,
};
const rs: RealServer = { address: '198.18.180.1', port: 8080, weight: 1, activeConns: 0, inactiveConns: 0 };

function encode(op: IpvsOp) {
  const w = new MessageWriter();
  encodeOp(w, 0x25, 7, op);
  const [msg] = parseMessages(w.take());
  assert.ok(msg);
  const cmd = msg.payload[0];
  const version = msg.payload[1];
  const top = attrMap(msg.payload, 4);
  return { msg, cmd, version, top };
}

test('add-service: a full service nest, request with ack, generic netlink header', () => {
  const { msg, cmd, version, top } = encode({ op: 'add-service', vs });
  assert.equal(msg.type, 0x25);
  assert.equal(msg.flags, 0x1 | 0x4);
  assert.equal(msg.seq, 7);
  assert.equal(cmd, CMD.NEW_SERVICE);
  assert.equal(version, 1);
  const svc = attrMap(top.get(1)!);
  assert.deepEqual(
    [...svc.keys()].sort((a, b) => a - b),
    [
      SVC_ATTR.AF,
      SVC_ATTR.PROTOCOL,
      SVC_ATTR.ADDR,
      SVC_ATTR.PORT,
      SVC_ATTR.SCHED_NAME,
      SVC_ATTR.FLAGS,
      SVC_ATTR.TIMEOUT,
      SVC_ATTR.NETMASK,
    ],
  );
  assert.equal(svc.get(SVC_ATTR.AF)!.readUInt16LE(0), 2);
  assert.equal(svc.get(SVC_ATTR.PROTOCOL)!.readUInt16LE(0), 6);
  assert.deepEqual([...svc.get(SVC_ATTR.ADDR)!], [198, 19, 16, 41, ...new Array(12).fill(0)]);
  assert.deepEqual([...svc.get(SVC_ATTR.PORT)!], [0, 80], 'port in network byte order');
  assert.equal(svc.get(SVC_ATTR.SCHED_NAME)!.toString('latin1'), 'rr\0');
  assert.deepEqual([...svc.get(SVC_ATTR.FLAGS)!], [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], 'flags, then mask');
  assert.equal(svc.get(SVC_ATTR.TIMEOUT)!.readUInt32LE(0), 10800);
  assert.equal(svc.get(SVC_ATTR.NETMASK)!.readUInt32LE(0), 0xffffffff);
  assert.ok(parseAttrs(msg.payload, 4)[0]!.nested, 'the service attribute is a nest');
});

test('delete-service and dest commands carry the service key only', () => {
  const { cmd, top } = encode({ op: 'delete-service', vs });
  assert.equal(cmd, CMD.DEL_SERVICE);
  assert.deepEqual(
    [...attrMap(top.get(1)!).keys()].sort((a, b) => a - b),
    [1, 2, 3, 4],
  );
  const add = encode({ op: 'add-dest', vs, rs });
  assert.equal(add.cmd, CMD.NEW_DEST);
  assert.deepEqual(
    [...attrMap(add.top.get(1)!).keys()].sort((a, b) => a - b),
    [1, 2, 3, 4],
  );
});

test('add-dest: a full destination (masquerading, weight, thresholds, address family)', () => {
  const { top } = encode({ op: 'add-dest', vs, rs });
  const d = attrMap(top.get(2)!);
  assert.deepEqual([...d.get(DEST_ATTR.ADDR)!.subarray(0, 4)], [198, 18, 180, 1]);
  assert.deepEqual([...d.get(DEST_ATTR.PORT)!], [0x1f, 0x90]);
  assert.equal(d.get(DEST_ATTR.FWD_METHOD)!.readUInt32LE(0), 0, 'IP_VS_CONN_F_MASQ');
  assert.equal(d.get(DEST_ATTR.WEIGHT)!.readUInt32LE(0), 1);
  assert.equal(d.get(DEST_ATTR.U_THRESH)!.readUInt32LE(0), 0);
  assert.equal(d.get(DEST_ATTR.L_THRESH)!.readUInt32LE(0), 0);
  assert.equal(d.get(DEST_ATTR.ADDR_FAMILY)!.readUInt16LE(0), 2);
  const del = encode({ op: 'delete-dest', vs, rs });
  assert.equal(del.cmd, CMD.DEL_DEST);
  assert.deepEqual(
    [...attrMap(del.top.get(2)!).keys()].sort((a, b) => a - b),
    [DEST_ATTR.ADDR, DEST_ATTR.PORT, DEST_ATTR.ADDR_FAMILY],
  );
});

test('IPv6: 16-byte addresses, netmask 128, AF_INET6', () => {
  const v6: VirtualServer = { ...vs, family: 'IPv6', address: 'fd00:19:16::41', protocol: 'SCTP' };
  const { top } = encode({ op: 'update-service', vs: v6 });
  const svc = attrMap(top.get(1)!);
  assert.equal(svc.get(SVC_ATTR.AF)!.readUInt16LE(0), 10);
  assert.equal(svc.get(SVC_ATTR.PROTOCOL)!.readUInt16LE(0), 132);
  assert.equal(svc.get(SVC_ATTR.NETMASK)!.readUInt32LE(0), 128);
  assert.equal(svc.get(SVC_ATTR.ADDR)!.toString('hex'), 'fd000019001600000000000000000041');
});

test('decoding: what the kernel lists comes back as it was asked for, without the hashed flag', () => {
  const w = new MessageWriter();
  encodeOp(w, 0x25, 1, { op: 'add-service', vs: { ...vs, flags: 1 | 2 } });
  const [msg] = parseMessages(w.take());
  const decoded = decodeService(attrMap(msg!.payload, 4).get(1)!);
  assert.deepEqual(decoded, vs);
  const d = new MessageWriter();
  encodeOp(d, 0x25, 1, { op: 'update-dest', vs, rs: { ...rs, weight: 0 } });
  const [dm] = parseMessages(d.take());
  assert.deepEqual(decodeDest(attrMap(dm!.payload, 4).get(2)!, 2), { ...rs, weight: 0 });
  assert.equal(decodeService(Buffer.alloc(0)), undefined, 'a fwmark service (no address) is not ours');
});
