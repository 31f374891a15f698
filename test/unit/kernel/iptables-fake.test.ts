// FakeIptables: --noflush restore semantics, all-or-nothing with the kernel's failure cases and line
// numbers, the single-rule commands, and dump(). Also IptablesCli's command lines and error reading
// through a scripted Execer (the real binaries are exercised in test/kernel/iptables-runner.test.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hasCode, KubeProxyError } from '../../../src/errors.ts';
import { FakeIptables, quoteRuleWord, splitRuleWords } from '../../../src/kernel/iptables/fake.ts';
import { IptablesCli, IptablesError, restoreErrorLine } from '../../../src/kernel/iptables/iptables.ts';
import { FakeExecer } from '../../support/fake-execer.ts';

const lines = (...l: string[]) => `${l.join('\n')}\n`;

const BASE = lines(
  '*filter',
  ':KUBE-SERVICES - [0:0]',
  '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 198.19.16.41 --dport 80 -j REJECT',
  'COMMIT',
  '*nat',
  ':KUBE-SERVICES - [0:0]',
  ':KUBE-MARK-MASQ - [0:0]',
  ':KUBE-SVC-AAA - [0:0]',
  ':KUBE-SEP-AAA - [0:0]',
  '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
  '-A KUBE-SERVICES -d 198.19.16.10/32 -p tcp --dport 80 -j KUBE-SVC-AAA',
  '-A KUBE-SVC-AAA -j KUBE-SEP-AAA',
  '-A KUBE-SEP-AAA -p tcp -j DNAT --to-destination 198.18.1.2:8080',
  'COMMIT',
);

/** A fake holding BASE. */
async function withBase(): Promise<FakeIptables> {
  const f = new FakeIptables();
  await f.restore(BASE);
  return f;
}

async function restoreError(f: FakeIptables, input: string): Promise<IptablesError> {
  try {
    await f.restore(input);
  } catch (e) {
    assert.ok(e instanceof IptablesError, String(e));
    assert.ok(hasCode(e, 'KP_ERR_EXEC'));
    return e;
  }
  assert.fail('restore should have failed');
}

describe('FakeIptables restore', () => {
  test('starts with the built-in chains and dumps in iptables-save format', () => {
    const f = new FakeIptables();
    assert.equal(
      f.dump('filter'),
      lines('*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', 'COMMIT'),
    );
    assert.deepEqual(f.chains('nat'), ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']);
    assert.deepEqual(f.chains('mangle'), ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);
  });

  test('applies a multi-table input; dump lists built-ins first, then chains as declared, quoting as iptables-save', async () => {
    const f = await withBase();
    assert.equal(f.restoreCount, 1);
    assert.equal(f.lastRestoreInput, BASE);
    assert.equal(
      f.dump('nat'),
      lines(
        '*nat',
        ':PREROUTING ACCEPT [0:0]',
        ':INPUT ACCEPT [0:0]',
        ':OUTPUT ACCEPT [0:0]',
        ':POSTROUTING ACCEPT [0:0]',
        ':KUBE-SERVICES - [0:0]',
        ':KUBE-MARK-MASQ - [0:0]',
        ':KUBE-SVC-AAA - [0:0]',
        ':KUBE-SEP-AAA - [0:0]',
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A KUBE-SERVICES -d 198.19.16.10/32 -p tcp --dport 80 -j KUBE-SVC-AAA',
        '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
        '-A KUBE-SVC-AAA -j KUBE-SEP-AAA',
        '-A KUBE-SEP-AAA -p tcp -j DNAT --to-destination 198.18.1.2:8080',
        'COMMIT',
      ),
    );
    assert.equal(await f.save('filter'), f.dump('filter'));
  });

  test('--noflush: a ":CHAIN -" line flushes that chain; undeclared chains and built-in rules are kept', async () => {
    const f = await withBase();
    await f.restore(
      lines(
        '*nat',
        ':KUBE-SERVICES - [0:0]',
        ':PREROUTING ACCEPT [0:0]',
        '-A KUBE-SERVICES -j RETURN',
        'COMMIT',
      ),
    );
    assert.deepEqual(f.rules('nat', 'KUBE-SERVICES'), ['-j RETURN']);
    assert.deepEqual(f.rules('nat', 'KUBE-SVC-AAA'), ['-j KUBE-SEP-AAA']);
    assert.deepEqual(f.rules('nat', 'PREROUTING'), [
      '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    ]);
    assert.equal(f.rules('filter', 'KUBE-SERVICES')?.length, 1);
  });

  test('-I, -I n, -D by rule and by number, -F, -N, -X of a flushed unreferenced chain, -P', async () => {
    const f = await withBase();
    await f.restore(
      lines(
        '*nat',
        '-I KUBE-SVC-AAA -j KUBE-MARK-MASQ',
        '-I KUBE-SVC-AAA 2 -s 198.18.0.0/16 -j RETURN',
        '-D KUBE-SEP-AAA -p tcp -j DNAT --to-destination 198.18.1.2:8080',
        '-N KUBE-NEW',
        '-A KUBE-NEW -j RETURN',
        '-F KUBE-NEW',
        '-X KUBE-NEW',
        'COMMIT',
        '*filter',
        '-P FORWARD DROP',
        '-D KUBE-SERVICES 1',
        'COMMIT',
      ),
    );
    assert.deepEqual(f.rules('nat', 'KUBE-SVC-AAA'), [
      '-j KUBE-MARK-MASQ',
      '-s 198.18.0.0/16 -j RETURN',
      '-j KUBE-SEP-AAA',
    ]);
    assert.deepEqual(f.rules('nat', 'KUBE-SEP-AAA'), []);
    assert.equal(await f.chainExists('nat', 'KUBE-NEW'), false);
    assert.deepEqual(f.rules('filter', 'KUBE-SERVICES'), []);
    assert.match(f.dump('filter'), /^:FORWARD DROP \[0:0\]$/m);
  });

  test('deleting a stale chain as the proxier does: declared (flushed) and unreferenced, then -X', async () => {
    const f = await withBase();
    await f.restore(
      lines(
        '*nat',
        ':KUBE-SERVICES - [0:0]',
        ':KUBE-SVC-AAA - [0:0]',
        ':KUBE-SEP-AAA - [0:0]',
        '-X KUBE-SVC-AAA',
        '-X KUBE-SEP-AAA',
        'COMMIT',
      ),
    );
    assert.deepEqual(f.chains('nat').slice(4), ['KUBE-SERVICES', 'KUBE-MARK-MASQ']);
  });

  test('accepts --counters prefixes, comments and blank lines', async () => {
    const f = new FakeIptables();
    await f.restore(
      lines('# Generated by a test', '*filter', '', ':A - [0:0]', '[5:300] -A A -j ACCEPT', 'COMMIT'),
      {
        counters: true,
      },
    );
    assert.deepEqual(f.rules('filter', 'A'), ['-j ACCEPT']);
  });

  const failures: [string, string, number, RegExp][] = [
    [
      'a jump to a chain that does not exist',
      lines('*nat', ':KUBE-X - [0:0]', '-A KUBE-X -j KUBE-NOPE', 'COMMIT'),
      3,
      /KUBE-NOPE/,
    ],
    [
      'a goto to a chain that does not exist',
      lines('*nat', '-A PREROUTING -g KUBE-NOPE', 'COMMIT'),
      2,
      /KUBE-NOPE/,
    ],
    [
      '-X of a chain still referenced',
      lines('*nat', ':KUBE-SVC-AAA - [0:0]', '-X KUBE-SVC-AAA', 'COMMIT'),
      3,
      /referenced/,
    ],
    ['-X of a chain with rules (not flushed)', lines('*nat', '-X KUBE-SEP-AAA', 'COMMIT'), 2, /not empty/],
    ['-X of a built-in chain', lines('*nat', '-X PREROUTING', 'COMMIT'), 2, /built-in/],
    ['-X of a missing chain', lines('*nat', '-X KUBE-NOPE', 'COMMIT'), 2, /No chain/],
    ['an unknown table', lines('*raw2', 'COMMIT'), 1, /table name/],
    ['a rule before any table', lines('-A INPUT -j ACCEPT'), 1, /no table/],
    ['a missing COMMIT', lines('*filter', ':A - [0:0]'), 3, /COMMIT expected/],
    ['a new table before COMMIT', lines('*filter', '*nat', 'COMMIT'), 2, /COMMIT expected/],
    ['an unknown command', lines('*filter', '-Q INPUT', 'COMMIT'), 2, /unknown command/],
    ['a rule in a missing chain', lines('*filter', '-A NOPE -j ACCEPT', 'COMMIT'), 2, /No chain/],
    [
      'an unterminated quote',
      lines('*filter', '-A INPUT -m comment --comment "x -j ACCEPT', 'COMMIT'),
      2,
      /quoted/,
    ],
    ['-j without a target', lines('*filter', '-A INPUT -p tcp -j', 'COMMIT'), 2, /requires an argument/],
    [
      'a word where an option belongs',
      lines('*filter', '-A INPUT tcp -j ACCEPT', 'COMMIT'),
      2,
      /Bad argument/,
    ],
    [
      'DNAT outside nat',
      lines('*filter', '-A INPUT -j DNAT --to-destination 198.18.0.1', 'COMMIT'),
      2,
      /nat table/,
    ],
    ['REJECT in nat', lines('*nat', '-A PREROUTING -j REJECT', 'COMMIT'), 2, /filter table/],
    ['a jump to a built-in chain', lines('*filter', '-A INPUT -j OUTPUT', 'COMMIT'), 2, /built-in/],
    ['-D of a missing rule', lines('*filter', '-D INPUT -j ACCEPT', 'COMMIT'), 2, /Bad rule/],
    ['a policy on a user chain', lines('*filter', ':A ACCEPT [0:0]', 'COMMIT'), 2, /policy/],
    ['-N of an existing chain', lines('*nat', '-N KUBE-SERVICES', 'COMMIT'), 2, /already exists/],
  ];
  for (const [name, input, line, message] of failures) {
    test(`fails on ${name}, at line ${line}, changing nothing`, async () => {
      const f = await withBase();
      const before = ['filter', 'nat', 'mangle'].map((t) => f.dump(t as 'filter'));
      const err = await restoreError(f, input);
      assert.equal(err.line, line);
      assert.match(err.stderr, new RegExp(`line ${line} failed`));
      assert.match(err.message, message);
      assert.deepEqual(
        ['filter', 'nat', 'mangle'].map((t) => f.dump(t as 'filter')),
        before,
      );
    });
  }

  test('a failure in a later table undoes the earlier tables too (stricter than the kernel)', async () => {
    const f = new FakeIptables();
    const err = await restoreError(
      f,
      lines('*filter', ':A - [0:0]', 'COMMIT', '*nat', '-A PREROUTING -j NOPE', 'COMMIT'),
    );
    assert.equal(err.line, 5);
    assert.equal(await f.chainExists('filter', 'A'), false);
  });

  test('commitPerTable mirrors the kernel: tables committed before the failing one stay', async () => {
    const f = new FakeIptables({ commitPerTable: true });
    await restoreError(
      f,
      lines('*filter', ':A - [0:0]', 'COMMIT', '*nat', ':B - [0:0]', '-A PREROUTING -j NOPE', 'COMMIT'),
    );
    assert.equal(await f.chainExists('filter', 'A'), true);
    assert.equal(await f.chainExists('nat', 'B'), false);
  });

  test('failNext fails the next restore once, counted, without applying it', async () => {
    const f = new FakeIptables();
    f.failNext = new KubeProxyError('KP_ERR_EXEC', 'injected');
    await assert.rejects(f.restore(BASE), /injected/);
    assert.equal(f.restoreCount, 1);
    assert.equal(await f.chainExists('nat', 'KUBE-SERVICES'), false);
    await f.restore(BASE);
    assert.equal(f.restoreCount, 2);
    assert.equal(await f.chainExists('nat', 'KUBE-SERVICES'), true);
  });

  test('fromSave reads iptables-save text, including its own dump', () => {
    const f = FakeIptables.fromSave(BASE);
    const g = FakeIptables.fromSave(f.dump('filter') + f.dump('nat'));
    assert.equal(g.dump('nat'), f.dump('nat'));
    assert.equal(g.dump('filter'), f.dump('filter'));
  });

  test('flushTable removes our chains behind the proxy back (the canary disappears)', async () => {
    const f = await withBase();
    await f.ensureChain('nat', 'KUBE-PROXY-CANARY');
    f.flushTable('nat');
    assert.equal(await f.chainExists('nat', 'KUBE-PROXY-CANARY'), false);
    assert.deepEqual(f.chains('nat'), ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']);
    assert.equal(await f.chainExists('filter', 'KUBE-SERVICES'), true);
  });
});

describe('FakeIptables single-rule commands', () => {
  test('ensureChain, ensureRule (prepend/append, idempotent), deleteRule, deleteChain', async () => {
    const f = new FakeIptables({ family: 'IPv6' });
    assert.equal(await f.ensureChain('filter', 'KUBE-FIREWALL'), false);
    assert.equal(await f.ensureChain('filter', 'KUBE-FIREWALL'), true);
    assert.equal(await f.ensureRule('filter', 'INPUT', ['-j', 'ACCEPT'], 'append'), false);
    assert.equal(await f.ensureRule('filter', 'INPUT', ['-j', 'KUBE-FIREWALL'], 'prepend'), false);
    assert.equal(await f.ensureRule('filter', 'INPUT', ['-j', 'KUBE-FIREWALL'], 'prepend'), true);
    assert.deepEqual(f.rules('filter', 'INPUT'), ['-j KUBE-FIREWALL', '-j ACCEPT']);
    await assert.rejects(f.deleteChain('filter', 'KUBE-FIREWALL'), /referenced/);
    await f.deleteRule('filter', 'INPUT', ['-j', 'KUBE-FIREWALL']);
    await f.deleteRule('filter', 'INPUT', ['-j', 'KUBE-FIREWALL']); // missing: not an error
    await f.deleteRule('filter', 'NOPE', ['-j', 'ACCEPT']);
    await f.deleteChain('filter', 'KUBE-FIREWALL');
    await f.deleteChain('filter', 'KUBE-FIREWALL'); // missing: not an error
    assert.equal(await f.chainExists('filter', 'KUBE-FIREWALL'), false);
  });

  test('ensureRule into a missing chain or to a missing target fails like iptables', async () => {
    const f = new FakeIptables();
    await assert.rejects(f.ensureRule('nat', 'NOPE', ['-j', 'ACCEPT'], 'append'), (e: unknown) => {
      return (
        e instanceof IptablesError &&
        /No chain/.test(e.stderr) &&
        /iptables-nft -w 5 -A NOPE -t nat/.test(e.message)
      );
    });
    await assert.rejects(f.ensureRule('nat', 'OUTPUT', ['-j', 'KUBE-NOPE'], 'append'), /KUBE-NOPE/);
  });
});

describe('rule words', () => {
  test('split as iptables-restore does, quote as iptables-save does', () => {
    const words = splitRuleWords('-A X -m comment --comment "a \\"b\\" c" --comment plain -j ACCEPT');
    assert.deepEqual(words, [
      '-A',
      'X',
      '-m',
      'comment',
      '--comment',
      'a "b" c',
      '--comment',
      'plain',
      '-j',
      'ACCEPT',
    ]);
    assert.equal(quoteRuleWord('a "b" c'), '"a \\"b\\" c"');
    assert.equal(quoteRuleWord('ns1/svc1:p80'), 'ns1/svc1:p80');
    assert.equal(quoteRuleWord(''), '""');
  });
});

describe('IptablesCli command lines', () => {
  test('restore: <family>-<variant>-restore -w 5 --noflush [--counters], input on stdin', async () => {
    const exec = new FakeExecer();
    await new IptablesCli(exec, 'IPv4', 'nft').restore(BASE);
    await new IptablesCli(exec, 'IPv6', 'legacy').restore('x', { counters: true });
    assert.deepEqual(exec.calls, [
      { argv: ['iptables-nft-restore', '-w', '5', '--noflush'], stdin: BASE },
      { argv: ['ip6tables-legacy-restore', '-w', '5', '--noflush', '--counters'], stdin: 'x' },
    ]);
  });

  test('a failed restore is an IptablesError with stderr and the reported line', async () => {
    const stderr = 'iptables-restore: line 12 failed\n';
    const exec = new FakeExecer({ script: [{ code: 1, stderr }] });
    const err = await new IptablesCli(exec, 'IPv4', 'legacy').restore(BASE).then(
      () => assert.fail('should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof IptablesError);
    assert.equal(err.code, 'KP_ERR_EXEC');
    assert.equal(err.line, 12);
    assert.equal(err.stderr, stderr);
    assert.equal(err.exitCode, 1);
  });

  test('restoreErrorLine reads every wording the two variants use', () => {
    assert.equal(restoreErrorLine('iptables-restore: line 51 failed'), 51);
    assert.equal(
      restoreErrorLine(
        "iptables-nft-restore v1.8.9 (nf_tables): Chain 'X' does not exist\nError occurred at line: 8\n",
      ),
      8,
    );
    assert.equal(
      restoreErrorLine(
        'iptables-nft-restore v1.8.9 (nf_tables): \nline 3: CHAIN_DEL failed (Device or resource busy): chain KEEP',
      ),
      3,
    );
    assert.equal(restoreErrorLine('iptables-restore: COMMIT expected at line 3'), 3);
    assert.equal(restoreErrorLine('Another app is currently holding the xtables lock.'), undefined);
  });

  test('save: -save -t <table>, stdout returned', async () => {
    const exec = new FakeExecer({ script: [{ stdout: '*nat\nCOMMIT\n' }] });
    assert.equal(await new IptablesCli(exec, 'IPv6', 'nft').save('nat'), '*nat\nCOMMIT\n');
    assert.deepEqual(exec.calls[0]?.argv, ['ip6tables-nft-save', '-t', 'nat']);
  });

  test('ensureRule: -C then -I/-A; exit 1 of -C is "missing", other codes fail', async () => {
    const exec = new FakeExecer({ script: [{ code: 1 }, {}, {}] });
    const ipt = new IptablesCli(exec, 'IPv4', 'nft');
    assert.equal(await ipt.ensureRule('filter', 'INPUT', ['-j', 'KUBE-FIREWALL'], 'prepend'), false);
    assert.equal(await ipt.ensureRule('filter', 'INPUT', ['-j', 'KUBE-FIREWALL'], 'prepend'), true);
    assert.deepEqual(
      exec.calls.map((c) => c.argv.join(' ')),
      [
        'iptables-nft -w 5 -C INPUT -t filter -j KUBE-FIREWALL',
        'iptables-nft -w 5 -I INPUT -t filter -j KUBE-FIREWALL',
        'iptables-nft -w 5 -C INPUT -t filter -j KUBE-FIREWALL',
      ],
    );
    const locked = new FakeExecer({
      script: [
        {
          code: 4,
          stderr: 'Another app is currently holding the xtables lock.',
        },
      ],
    });
    const err = await new IptablesCli(locked, 'IPv4', 'nft')
      .ensureRule('nat', 'OUTPUT', ['-j', 'X'], 'append')
      .catch((e: unknown) => e);
    assert.ok(err instanceof IptablesError && err.resourceProblem && /xtables lock/.test(err.message));
  });

  test('deleteRule checks first and does nothing when the rule is missing', async () => {
    const exec = new FakeExecer({ script: [{ code: 1 }, {}, {}] });
    const ipt = new IptablesCli(exec, 'IPv4', 'legacy');
    await ipt.deleteRule('nat', 'OUTPUT', ['-j', 'KUBE-SERVICES']);
    await ipt.deleteRule('nat', 'OUTPUT', ['-j', 'KUBE-SERVICES']);
    assert.deepEqual(
      exec.calls.map((c) => c.argv.join(' ')),
      [
        'iptables-legacy -w 5 -C OUTPUT -t nat -j KUBE-SERVICES',
        'iptables-legacy -w 5 -C OUTPUT -t nat -j KUBE-SERVICES',
        'iptables-legacy -w 5 -D OUTPUT -t nat -j KUBE-SERVICES',
      ],
    );
  });

  test('ensureChain, chainExists, deleteChain read the exit codes as upstream', async () => {
    const exec = new FakeExecer({ script: [{}, { code: 1 }, {}, { code: 1 }, {}, {}, { code: 1 }] });
    const ipt = new IptablesCli(exec, 'IPv6', 'nft');
    assert.equal(await ipt.ensureChain('mangle', 'KUBE-PROXY-CANARY'), false);
    assert.equal(await ipt.ensureChain('mangle', 'KUBE-PROXY-CANARY'), true);
    assert.equal(await ipt.chainExists('mangle', 'KUBE-PROXY-CANARY'), true);
    assert.equal(await ipt.chainExists('mangle', 'KUBE-PROXY-CANARY'), false);
    await ipt.deleteChain('mangle', 'KUBE-PROXY-CANARY'); // -F, -X
    await ipt.deleteChain('mangle', 'KUBE-PROXY-CANARY'); // -F says missing: done
    assert.deepEqual(
      exec.calls.map((c) => c.argv.slice(3, 5).join(' ')),
      [
        '-N KUBE-PROXY-CANARY',
        '-N KUBE-PROXY-CANARY',
        '-S KUBE-PROXY-CANARY',
        '-S KUBE-PROXY-CANARY',
        '-F KUBE-PROXY-CANARY',
        '-X KUBE-PROXY-CANARY',
        '-F KUBE-PROXY-CANARY',
      ],
    );
    assert.equal(exec.calls[0]?.argv[0], 'ip6tables-nft');
  });
});
