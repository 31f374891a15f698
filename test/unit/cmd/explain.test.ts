// `explain packet` flags: validated before anything runs; nothing the user typed reaches a command.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePacketArgs } from '../../../src/cmd/explain.ts';

test('parses a packet, IPv4 and IPv6, with defaults', () => {
  const q = parsePacketArgs(['--from', '198.19.0.1', '--to=198.19.16.10:80']);
  assert.deepEqual(q.packet, {
    sourceIP: '198.19.0.1',
    destIP: '198.19.16.10',
    destPort: 80,
    protocol: 'tcp',
  });
  assert.equal(q.mode, undefined);
  assert.equal(q.output, 'text');
  const v6 = parsePacketArgs([
    '--from',
    'fd00:19::1',
    '--to',
    '[fd00:10:96::a]:53',
    '--proto',
    'UDP',
    '--iif',
    'veth0',
  ]);
  assert.deepEqual(v6.packet, {
    sourceIP: 'fd00:19::1',
    destIP: 'fd00:10:96::a',
    destPort: 53,
    protocol: 'udp',
    iifname: 'veth0',
  });
});

test('refuses what is not an address, a port, a protocol or an interface name', () => {
  for (const argv of [
    ['--from', '198.19.0.1; rm -rf /', '--to', '198.19.16.10:80'],
    ['--from', '198.19.0.1', '--to', '198.19.16.10'],
    ['--from', '198.19.0.1', '--to', '198.19.16.10:70000'],
    ['--from', '198.19.0.1', '--to', '[fd00::1]:80'],
    ['--from', '198.19.0.1', '--to', '198.19.16.10:80', '--proto', 'icmp'],
    ['--from', '198.19.0.1', '--to', '198.19.16.10:80', '--iif', 'eth0 accept'],
    ['--from', '198.19.0.1', '--to', '198.19.16.10:80', '--proxy-mode', 'ipvs'],
    ['--from', '198.19.0.1', '--to', '198.19.16.10:80', '--output', 'yaml'],
    ['--from', '198.19.0.1', '--to', '198.19.16.10:80', '--bogus', 'x'],
    ['--from'],
  ])
    assert.throws(() => parsePacketArgs(argv), { code: 'KP_ERR_INVALID_FLAG' }, argv.join(' '));
});
