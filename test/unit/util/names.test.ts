import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  isDNSLabel,
  isDNSSubdomain,
  isPortName,
  isPortNumber,
  parseProtocol,
} from '../../../src/model/names.ts';

describe('isDNSLabel', () => {
  const ok = ['a', 'default', 'kube-system', 'svc-1', '0abc', '1', 'a'.repeat(63)];
  const bad = [
    '',
    'A',
    'Abc',
    '-a',
    'a-',
    'a.b',
    'a_b',
    'a b',
    'a'.repeat(64),
    'a"b',
    'a;b',
    'a\nb',
    'a{b}',
    'ä',
  ];
  for (const s of ok)
    test(`accepts ${JSON.stringify(s.length > 20 ? `${s.length} chars` : s)}`, () =>
      assert.equal(isDNSLabel(s), true));
  for (const s of bad)
    test(`rejects ${JSON.stringify(s.length > 20 ? `${s.length} chars` : s)}`, () =>
      assert.equal(isDNSLabel(s), false));
  test('rejects non-strings', () => {
    for (const v of [undefined, null, 1, {}, ['a']]) assert.equal(isDNSLabel(v), false);
  });
});

describe('isDNSSubdomain', () => {
  const ok = [
    'a',
    'svc-abc12',
    'node-a.example.com',
    'a.b.c',
    `${'a'.repeat(63)}.${'b'.repeat(63)}`,
    'x'.repeat(253),
  ];
  const bad = [
    '',
    'a..b',
    '.a',
    'a.',
    'A.b',
    '-a.b',
    'a-.b',
    'a_b',
    'x'.repeat(254),
    'a/b',
    'a b',
    'a;b',
    'a#b',
  ];
  for (const s of ok)
    test(`accepts ${s.length > 30 ? `${s.length} chars` : s}`, () => assert.equal(isDNSSubdomain(s), true));
  for (const s of bad)
    test(`rejects ${JSON.stringify(s.length > 30 ? `${s.length} chars` : s)}`, () =>
      assert.equal(isDNSSubdomain(s), false));
});

describe('isPortName (IANA_SVC_NAME)', () => {
  const ok = ['http', 'dns-tcp', 'p80', '80p', 'a', 'a-b-c', 'x'.repeat(15)];
  const bad = [
    '',
    '80',
    '1-2',
    'a--b',
    '-http',
    'http-',
    'HTTP',
    'http_s',
    'x'.repeat(16),
    'a b',
    'a.b',
    'a"b',
  ];
  for (const s of ok) test(`accepts ${JSON.stringify(s)}`, () => assert.equal(isPortName(s), true));
  for (const s of bad) test(`rejects ${JSON.stringify(s)}`, () => assert.equal(isPortName(s), false));
});

describe('isPortNumber', () => {
  test('1..65535 integers only', () => {
    for (const n of [1, 80, 65535]) assert.equal(isPortNumber(n), true);
    for (const n of [0, -1, 65536, 80.5, Number.NaN, Number.POSITIVE_INFINITY, '80', null, undefined]) {
      assert.equal(isPortNumber(n), false, String(n));
    }
  });
});

describe('parseProtocol', () => {
  test('defaults to TCP and accepts exactly TCP, UDP, SCTP', () => {
    assert.equal(parseProtocol(undefined), 'TCP');
    assert.equal(parseProtocol(null), 'TCP');
    assert.equal(parseProtocol(''), 'TCP', 'kube-apiserver defaults an empty Service port protocol to TCP');
    assert.equal(parseProtocol('TCP'), 'TCP');
    assert.equal(parseProtocol('UDP'), 'UDP');
    assert.equal(parseProtocol('SCTP'), 'SCTP');
    for (const p of ['tcp', 'Udp', 'ICMP', 'TCP ', 6]) assert.equal(parseProtocol(p), undefined, String(p));
  });
});
