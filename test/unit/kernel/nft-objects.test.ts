import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KubeProxyError } from '../../../src/errors.ts';
import {
  checkName,
  type Family,
  type NftObject,
  render,
  type Verb,
  validate,
} from '../../../src/kernel/nft/objects.ts';

const T = 'kube-proxy';

function line(verb: Verb, object: NftObject, family: Family = 'ip'): string {
  validate(verb, object);
  return render(family, T, { verb, object });
}

function refused(verb: Verb, object: NftObject) {
  assert.throws(
    () => validate(verb, object),
    (err: unknown) => err instanceof KubeProxyError && err.code === 'KP_ERR_NFT_INVALID',
    `expected ${verb} ${JSON.stringify(object)} to be refused`,
  );
}

describe('render of valid objects', () => {
  const cases: [verb: Verb, object: NftObject, want: string, family?: Family][] = [
    [
      'add',
      { kind: 'table', comment: 'rules for kube-proxy' },
      'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
    ],
    ['add', { kind: 'table' }, 'add table ip kube-proxy'],
    ['flush', { kind: 'table' }, 'flush table ip kube-proxy'],
    ['delete', { kind: 'table' }, 'delete table ip6 kube-proxy', 'ip6'],
    ['add', { kind: 'chain', name: 'services' }, 'add chain ip kube-proxy services'],
    [
      'add',
      { kind: 'chain', name: 'nat-prerouting', base: { type: 'nat', hook: 'prerouting', priority: -100 } },
      'add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }',
    ],
    [
      'add',
      {
        kind: 'chain',
        name: 'filter-input',
        base: { type: 'filter', hook: 'input', priority: -110 },
        comment: 'kube-proxy firewall',
      },
      'add chain ip kube-proxy filter-input { type filter hook input priority -110 ; comment "kube-proxy firewall" ; }',
    ],
    [
      'add',
      { kind: 'chain', name: 'mark-for-masquerade', comment: 'x' },
      'add chain ip kube-proxy mark-for-masquerade { comment "x" ; }',
    ],
    [
      'flush',
      { kind: 'chain', name: 'service-ULMVA6XW-ns1/svc1/tcp/p80' },
      'flush chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80',
    ],
    [
      'delete',
      { kind: 'chain', name: 'endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80' },
      'delete chain ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80',
    ],
    [
      'add',
      { kind: 'rule', chain: 'services', rule: 'ip daddr . meta l4proto . th dport vmap @service-ips' },
      'add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips',
    ],
    [
      'add',
      {
        kind: 'rule',
        chain: 'filter-forward',
        rule: 'ct state new jump service-endpoints-check',
        comment: 'ns1/svc1:p80',
      },
      'add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check comment "ns1/svc1:p80"',
    ],
    [
      'add',
      { kind: 'rule', chain: 'firewall-x', rule: 'ip saddr != { 203.0.113.0/25, 10.0.0.0/8 } drop' },
      'add rule ip kube-proxy firewall-x ip saddr != { 203.0.113.0/25, 10.0.0.0/8 } drop',
    ],
    [
      'add',
      { kind: 'set', name: 'cluster-ips', type: 'ipv4_addr', comment: 'Active ClusterIPs' },
      'add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }',
    ],
    [
      'add',
      {
        kind: 'map',
        name: 'service-ips',
        type: 'ipv4_addr . inet_proto . inet_service : verdict',
        comment: 'ClusterIP, ExternalIP and LoadBalancer IP traffic',
      },
      'add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }',
    ],
    [
      'add',
      {
        kind: 'set',
        name: 'affinity-XPGD46QR-ns1/svc1/tcp/p80__10.180.0.1/80',
        type: 'ipv4_addr',
        flags: ['dynamic', 'timeout'],
        timeoutSeconds: 10800,
      },
      'add set ip kube-proxy affinity-XPGD46QR-ns1/svc1/tcp/p80__10.180.0.1/80 { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }',
    ],
    ['flush', { kind: 'map', name: 'service-ips', type: 'ipv4_addr' }, 'flush map ip kube-proxy service-ips'],
    [
      'delete',
      { kind: 'set', name: 'cluster-ips', type: 'ipv4_addr' },
      'delete set ip kube-proxy cluster-ips',
    ],
    [
      'add',
      { kind: 'element', set: 'cluster-ips', key: ['198.19.0.1'] },
      'add element ip kube-proxy cluster-ips { 198.19.0.1 }',
    ],
    [
      'add',
      {
        kind: 'element',
        set: 'service-ips',
        key: ['198.19.0.1', 'tcp', '80'],
        value: 'goto service-ULMVA6XW-ns1/svc1/tcp/p80',
        comment: 'ns1/svc1:p80',
      },
      'add element ip kube-proxy service-ips { 198.19.0.1 . tcp . 80 comment "ns1/svc1:p80" : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }',
    ],
    [
      'add',
      { kind: 'element', set: 'affinity-X', key: ['fd00::1'], value: 'fd00:10::2', expiresSeconds: 42 },
      'add element ip6 kube-proxy affinity-X { fd00::1 expires 42s : fd00:10::2 }',
      'ip6',
    ],
    [
      'add',
      { kind: 'element', set: 'no-endpoint-services', key: ['fd00::1', 'udp', '53'], value: 'drop' },
      'add element ip6 kube-proxy no-endpoint-services { fd00::1 . udp . 53 : drop }',
      'ip6',
    ],
    [
      'add',
      { kind: 'element', set: 'service-nodeports', key: ['tcp', '30080'], value: 'jump external-x' },
      'add element ip kube-proxy service-nodeports { tcp . 30080 : jump external-x }',
    ],
    [
      'delete',
      {
        kind: 'element',
        set: 'service-ips',
        key: ['198.19.0.1', 'tcp', '80'],
        value: 'goto x',
        comment: 'c',
      },
      'delete element ip kube-proxy service-ips { 198.19.0.1 . tcp . 80 }',
    ],
    [
      'add',
      { kind: 'element', set: 'firewall-ips', key: ['10.0.0.0/8'] },
      'add element ip kube-proxy firewall-ips { 10.0.0.0/8 }',
    ],
  ];
  for (const [verb, object, want, family] of cases) {
    test(want, () => assert.equal(line(verb, object, family), want));
  }

  test('names up to 256 characters and comments up to 128 are accepted', () => {
    assert.doesNotThrow(() => checkName('chain', `a${'b'.repeat(255)}`));
    assert.doesNotThrow(() => validate('add', { kind: 'chain', name: 'c', comment: 'x'.repeat(128) }));
  });

  test('comments may hold any printable ASCII except quote and backslash', () => {
    const printable = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i))
      .filter((c) => c !== '"' && c !== '\\')
      .join('');
    for (let i = 0; i < printable.length; i += 100) {
      const comment = printable.slice(i, i + 100);
      assert.doesNotThrow(() => validate('add', { kind: 'chain', name: 'c', comment }));
    }
  });
});

describe('validation refuses anything that could escape into the nft script', () => {
  const badNames = [
    '',
    'a b',
    'a"b',
    "a'b",
    'a;b',
    'a#b',
    'a{b',
    'a}b',
    'a\nb',
    'a\rb',
    'a\tb',
    'a$b',
    'a@b',
    'a,b',
    'a:b',
    '1chain',
    '-chain',
    '/chain',
    'chain\u0000',
    'ché',
    `a${'b'.repeat(256)}`,
    'services; flush ruleset',
  ];
  for (const name of badNames) {
    const shown = JSON.stringify(name.length > 40 ? `${name.length} chars` : name);
    test(`name ${shown}`, () => {
      assert.throws(() => checkName('chain', name), KubeProxyError);
      refused('add', { kind: 'chain', name });
      refused('add', { kind: 'rule', chain: name, rule: 'accept' });
      refused('add', { kind: 'set', name, type: 'ipv4_addr' });
      refused('add', { kind: 'map', name, type: 'ipv4_addr : verdict' });
      refused('add', { kind: 'element', set: name, key: ['198.18.0.1'] });
    });
  }

  const badComments = [
    'a"b',
    'a\\b',
    'a\nb',
    'a\rb',
    'a\tb',
    'caf\u00e9',
    'a\u0000',
    'a\u007f',
    'x'.repeat(129),
    '" ; flush ruleset ; "',
  ];
  for (const comment of badComments) {
    const shown = JSON.stringify(comment.length > 40 ? `${comment.length} chars` : comment);
    test(`comment ${shown}`, () => {
      refused('add', { kind: 'table', comment });
      refused('add', { kind: 'chain', name: 'c', comment });
      refused('add', { kind: 'rule', chain: 'c', rule: 'accept', comment });
      refused('add', { kind: 'set', name: 's', type: 'ipv4_addr', comment });
      refused('add', { kind: 'element', set: 's', key: ['198.18.0.1'], comment });
    });
  }

  const badRules = [
    '',
    'accept; flush ruleset',
    'accept\nflush ruleset',
    'accept\rflush ruleset',
    'accept # comment',
    'ip saddr "x" accept',
    'meta mark set 0x1 \\',
  ];
  for (const rule of badRules) {
    test(`rule ${JSON.stringify(rule)}`, () => refused('add', { kind: 'rule', chain: 'c', rule }));
  }

  test('rules can only be added', () => {
    refused('flush', { kind: 'rule', chain: 'c', rule: 'accept' });
    refused('delete', { kind: 'rule', chain: 'c', rule: 'accept' });
  });

  const badBases: [string, { type: 'filter' | 'nat'; hook: string; priority: number }][] = [
    ['hook with a space', { type: 'filter', hook: 'pre routing', priority: 0 }],
    ['hook with a semicolon', { type: 'filter', hook: 'input;', priority: 0 }],
    ['upper-case hook', { type: 'filter', hook: 'INPUT', priority: 0 }],
    ['empty hook', { type: 'filter', hook: '', priority: 0 }],
    ['fractional priority', { type: 'nat', hook: 'output', priority: 1.5 }],
    ['NaN priority', { type: 'nat', hook: 'output', priority: Number.NaN }],
    [
      'injected type',
      {
        type: 'filter hook input priority 0 ; } ; flush ruleset ; #' as 'filter',
        hook: 'input',
        priority: 0,
      },
    ],
    ['unknown type', { type: 'route' as 'filter', hook: 'output', priority: 0 }],
  ];
  for (const [name, base] of badBases) {
    test(`base chain: ${name}`, () => refused('add', { kind: 'chain', name: 'c', base }));
  }

  const badTypes = [
    '',
    'ipv4_addr ; flush ruleset',
    'ipv4_addr }',
    'IPV4_ADDR',
    'ipv4_addr\n',
    'ipv4_addr # x',
    'ipv4_addr "x"',
  ];
  for (const type of badTypes) {
    test(`set type ${JSON.stringify(type)}`, () => {
      refused('add', { kind: 'set', name: 's', type });
      refused('add', { kind: 'map', name: 'm', type });
    });
  }

  test('set flags and timeouts', () => {
    for (const flags of [['dynamic,timeout'], ['a b'], ['interval;'], [''], ['Timeout']]) {
      refused('add', { kind: 'set', name: 's', type: 'ipv4_addr', flags });
    }
    for (const timeoutSeconds of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      refused('add', { kind: 'set', name: 's', type: 'ipv4_addr', timeoutSeconds });
    }
  });

  const badKeys: string[][] = [
    [],
    [''],
    ['10.0.0.1 }'],
    ['10.0.0.1;'],
    ['"x"'],
    ['a b'],
    ['198.18.0.1', 'tcp\n'],
    ['{'],
    ['#'],
  ];
  test('element expiry', () => {
    for (const expiresSeconds of [0, -1, 1.5, Number.NaN])
      refused('add', { kind: 'element', set: 's', key: ['198.18.0.1'], value: '198.18.0.2', expiresSeconds });
  });
  for (const key of badKeys) {
    test(`element key ${JSON.stringify(key)}`, () => refused('add', { kind: 'element', set: 's', key }));
  }

  const badValues = [
    '',
    'goto a b',
    'goto 1chain',
    'jump x;y',
    'accept; flush ruleset',
    'drop }',
    '{ x }',
    'goto "x"',
    'goto\tx',
  ];
  for (const value of badValues) {
    test(`element value ${JSON.stringify(value)}`, () =>
      refused('add', { kind: 'element', set: 's', key: ['1'], value }));
  }
});

describe('everything accepted renders to one safe line', () => {
  // Deterministic fuzz: strings built from nasty characters; whatever validate() accepts must render
  // to a single line whose only quotes are the comment delimiters and with no ";" or "#" outside them.
  const alphabet = [
    'a',
    'Z',
    '0',
    '-',
    '_',
    '.',
    '/',
    ':',
    ' ',
    '"',
    "'",
    ';',
    '#',
    '{',
    '}',
    '\n',
    '\\',
    '$',
    '@',
    ',',
    'é',
    '\t',
  ];
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const str = () => Array.from({ length: 1 + rand(8) }, () => alphabet[rand(alphabet.length)]).join('');

  test('2000 random objects', () => {
    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      const objects: NftObject[] = [
        { kind: 'chain', name: str(), comment: str() },
        { kind: 'rule', chain: str(), rule: `ip daddr ${str()} accept`, comment: str() },
        { kind: 'set', name: str(), type: 'ipv4_addr', comment: str() },
        { kind: 'element', set: 's', key: [str(), str()], value: `goto ${str()}`, comment: str() },
      ];
      for (const object of objects) {
        let ok = true;
        try {
          validate('add', object);
        } catch (err) {
          assert.ok(err instanceof KubeProxyError && err.code === 'KP_ERR_NFT_INVALID');
          ok = false;
        }
        if (!ok) continue;
        accepted++;
        const text = render('ip', T, { verb: 'add', object });
        assert.equal(/[\n\r]/.test(text), false, text);
        // Strip the quoted comment and the " ; " separators inside chain and set bodies.
        const outside = text.replace(/ comment "[^"\\\n]*"/g, '').replace(/ ;(?= )/g, '');
        assert.equal(/["\\;#]/.test(outside), false, `unsafe: ${text}`);
      }
    }
    assert.ok(accepted > 100, `fuzz accepted only ${accepted} objects`);
  });
});
