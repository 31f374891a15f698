import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cidrContains, ipFamilyOf, joinHostPort, parseCIDR, parseIP } from '../../../src/util/ip.ts';

describe('parseIP', () => {
  const valid: [input: string, text: string, family: 'IPv4' | 'IPv6'][] = [
    ['10.0.0.1', '10.0.0.1', 'IPv4'],
    ['0.0.0.0', '0.0.0.0', 'IPv4'],
    ['255.255.255.255', '255.255.255.255', 'IPv4'],
    // Upstream parses with ParseIPSloppy: leading zeros are decimal, not octal.
    ['010.0.0.1', '10.0.0.1', 'IPv4'],
    ['192.168.001.010', '192.168.1.10', 'IPv4'],
    ['000.000.000.000', '0.0.0.0', 'IPv4'],
    ['0010.0.0.1', '10.0.0.1', 'IPv4'],
    // RFC 5952: lower case, no leading zeros, longest zero run compressed.
    ['2001:DB8::1', '2001:db8::1', 'IPv6'],
    ['2001:0db8:0000:0000:0000:ff00:0042:8329', '2001:db8::ff00:42:8329', 'IPv6'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', 'IPv6'], // first of two equal runs
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3', 'IPv6'], // longest run, not the first
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1', 'IPv6'], // a single zero group is not compressed
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0', 'IPv6'],
    ['0:0:0:0:0:0:0:0', '::', 'IPv6'],
    ['::', '::', 'IPv6'],
    ['::1', '::1', 'IPv6'],
    ['fe80::', 'fe80::', 'IPv6'],
    ['FD00:10:96::A', 'fd00:10:96::a', 'IPv6'],
    ['::1.2.3.4', '::102:304', 'IPv6'],
  ];
  for (const [input, text, family] of valid) {
    test(`${JSON.stringify(input)} -> ${text} (${family})`, () => {
      const ip = parseIP(input);
      assert.ok(ip, `expected ${input} to parse`);
      assert.equal(ip.text, text);
      assert.equal(ip.family, family);
      assert.equal(ip.parts.length, family === 'IPv4' ? 4 : 8);
      assert.equal(ipFamilyOf(input), family);
    });
  }

  test('parts hold the numeric octets and groups', () => {
    assert.deepEqual(parseIP('010.1.2.255')?.parts, [10, 1, 2, 255]);
    assert.deepEqual(
      parseIP('2001:db8::ff00:42:8329')?.parts,
      [0x2001, 0xdb8, 0, 0, 0, 0xff00, 0x42, 0x8329],
    );
  });

  const invalid = [
    '',
    ' ',
    '10.0.0.1 ',
    ' 10.0.0.1',
    '10.0.0',
    '10.0.0.1.2',
    '10.0.0.256',
    '256.0.0.1',
    '10..0.1',
    '10.0.0.',
    '.10.0.0.1',
    '-1.0.0.1',
    '+1.0.0.1',
    '0x0a.0.0.1',
    '1e1.0.0.1',
    '10.0.0.1/32',
    '10.0.0.1:80',
    'localhost',
    'a.b.c.d',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    ':::',
    '12345::1',
    'g::1',
    'fe80::1%eth0',
    '[::1]',
    '::1/128',
    '10.0.0.1\n',
    '10.0.0.1;drop',
    '"10.0.0.1"',
    '１０.0.0.1', // full-width digits
  ];
  for (const input of invalid) {
    test(`rejects ${JSON.stringify(input)}`, () => {
      assert.equal(parseIP(input), undefined);
      assert.equal(ipFamilyOf(input), undefined);
    });
  }

  test('rejects non-strings', () => {
    for (const v of [undefined, null, 10, {}, ['10.0.0.1']]) {
      assert.equal(parseIP(v as unknown as string), undefined);
    }
  });
});

describe('parseCIDR', () => {
  const valid: [input: string, text: string, network: string, prefix: number][] = [
    ['10.0.0.0/8', '10.0.0.0/8', '10.0.0.0', 8],
    ['10.1.2.3/8', '10.0.0.0/8', '10.0.0.0', 8],
    ['10.1.2.3/32', '10.1.2.3/32', '10.1.2.3', 32],
    ['10.1.2.3/0', '0.0.0.0/0', '0.0.0.0', 0],
    ['192.168.1.130/25', '192.168.1.128/25', '192.168.1.128', 25],
    ['192.168.1.130/23', '192.168.0.0/23', '192.168.0.0', 23],
    ['203.0.113.255/31', '203.0.113.254/31', '203.0.113.254', 31],
    ['010.000.0.0/08', '10.0.0.0/8', '10.0.0.0', 8],
    ['2001:db8::1/32', '2001:db8::/32', '2001:db8::', 32],
    ['2001:DB8:ABCD:1234::1/48', '2001:db8:abcd::/48', '2001:db8:abcd::', 48],
    ['fe80::1/10', 'fe80::/10', 'fe80::', 10],
    ['febf:ffff::1/10', 'fe80::/10', 'fe80::', 10],
    ['2001:db8::1/127', '2001:db8::/127', '2001:db8::', 127],
    ['2001:db8::3/127', '2001:db8::2/127', '2001:db8::2', 127],
    ['::1/128', '::1/128', '::1', 128],
    ['1:2:3:4:5:6:7:8/0', '::/0', '::', 0],
    ['fd00:10:96::/112', 'fd00:10:96::/112', 'fd00:10:96::', 112],
  ];
  for (const [input, text, network, prefix] of valid) {
    test(`${input} -> ${text}`, () => {
      const c = parseCIDR(input);
      assert.ok(c, `expected ${input} to parse`);
      assert.equal(c.text, text);
      assert.equal(c.network.text, network);
      assert.equal(c.prefix, prefix);
      assert.equal(c.family, input.includes(':') ? 'IPv6' : 'IPv4');
      assert.equal(c.network.family, c.family);
    });
  }

  const invalid = [
    '',
    '10.0.0.0',
    '10.0.0.0/',
    '/8',
    '10.0.0.0/33',
    '10.0.0.0/-1',
    '10.0.0.0/+8',
    '10.0.0.0/8/8',
    '10.0.0.0/ 8',
    '10.0.0.0 /8',
    '10.0.0.0/8 ',
    '10.0.0.0/x',
    '10.0.0/8',
    '::/129',
    '::/1000',
    'fe80::1%eth0/64',
    'garbage/8',
  ];
  for (const input of invalid) {
    test(`rejects ${JSON.stringify(input)}`, () => assert.equal(parseCIDR(input), undefined));
  }
});

describe('cidrContains', () => {
  const cases: [cidr: string, ip: string, contained: boolean][] = [
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['10.0.0.0/8', '9.255.255.255', false],
    ['192.168.1.128/25', '192.168.1.128', true],
    ['192.168.1.128/25', '192.168.1.127', false],
    ['192.168.0.0/23', '192.168.1.200', true],
    ['192.168.0.0/23', '192.168.2.0', false],
    ['10.1.2.3/32', '10.1.2.3', true],
    ['10.1.2.3/32', '10.1.2.4', false],
    ['0.0.0.0/0', '203.0.113.7', true],
    ['0.0.0.0/0', '::1', false], // families never mix
    ['::/0', '10.0.0.1', false],
    ['::/0', '2001:db8::1', true],
    ['2001:db8::/32', '2001:db8:ffff:ffff::1', true],
    ['2001:db8::/32', '2001:db9::1', false],
    ['fe80::/10', 'febf::1', true],
    ['fe80::/10', 'fec0::1', false],
    ['2001:db8::/127', '2001:db8::1', true],
    ['2001:db8::/127', '2001:db8::2', false],
    ['::1/128', '::1', true],
    ['::1/128', '::', false],
  ];
  for (const [cidr, ip, contained] of cases) {
    test(`${cidr} ${contained ? 'contains' : 'does not contain'} ${ip}`, () => {
      const c = parseCIDR(cidr);
      const a = parseIP(ip);
      assert.ok(c && a);
      assert.equal(cidrContains(c, a), contained);
    });
  }

  test('a CIDR given with host bits contains its own network', () => {
    const c = parseCIDR('10.1.2.3/16');
    assert.ok(c);
    assert.equal(cidrContains(c, parseIP('10.1.0.0')!), true);
    assert.equal(cidrContains(c, parseIP('10.2.0.0')!), false);
  });
});

describe('joinHostPort', () => {
  test('brackets IPv6 only', () => {
    assert.equal(joinHostPort('10.0.0.1', 80), '10.0.0.1:80');
    assert.equal(joinHostPort('2001:db8::1', 443), '[2001:db8::1]:443');
    assert.equal(joinHostPort('::', 0), '[::]:0');
  });
});
