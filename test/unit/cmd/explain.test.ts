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

test('explain service: NAMESPACE/NAME and --server are validated before anything runs', async () => {
  const { parseServiceArgs } = await import('../../../src/cmd/explain-service.ts');
  assert.deepEqual(parseServiceArgs(['demo/web']), {
    namespace: 'demo',
    name: 'web',
    server: '127.0.0.1:10249',
    output: 'text',
  });
  assert.equal(parseServiceArgs(['demo/web', '--server', '[::1]:9999']).server, '[::1]:9999');
  assert.equal(parseServiceArgs(['--server=localhost:1', 'demo/web', '--output=json']).output, 'json');
  for (const argv of [
    [],
    ['web'],
    ['demo/web/x'],
    ['demo/web;ls'],
    ['demo/web', 'other/x'],
    ['demo/web', '--server', 'example.com:10249'],
    ['demo/web', '--server', '127.0.0.1'],
    ['demo/web', '--server', '127.0.0.1:0'],
    ['demo/web', '--output', 'yaml'],
    ['demo/web', '--from', '198.18.0.1'],
  ]) {
    assert.throws(
      () => parseServiceArgs(argv),
      (e: unknown) => (e as { code?: string }).code === 'KP_ERR_INVALID_FLAG',
      argv.join(' '),
    );
  }
});
