import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type FlagSpec, type FlagValue, formatUsage, parseFlags } from '../../../src/cmd/flag-parser.ts';
import { KubeProxyError } from '../../../src/errors.ts';

const SPECS: FlagSpec[] = [
  { name: 'cleanup', type: 'bool', usage: 'clean up' },
  { name: 'masquerade-all', type: 'bool', usage: 'masq', defaultText: 'false' },
  { name: 'hostname-override', type: 'string', usage: 'host' },
  { name: 'iptables-masquerade-bit', type: 'int', usage: 'bit', defaultText: '14' },
  { name: 'iptables-sync-period', type: 'duration', usage: 'period', defaultText: '30s' },
  { name: 'nodeport-addresses', type: 'stringSlice', usage: 'addresses' },
  { name: 'v', shorthand: 'v', type: 'int', usage: 'verbosity' },
  { name: 'help', shorthand: 'h', type: 'bool', usage: 'help' },
];

const parse = (...argv: string[]) => Object.fromEntries(parseFlags(SPECS, argv));

function flagErr(argv: string[], message: string | RegExp) {
  assert.throws(
    () => parseFlags(SPECS, argv),
    (err: unknown) => {
      assert.ok(err instanceof KubeProxyError);
      assert.equal(err.code, 'KP_ERR_INVALID_FLAG');
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

describe('parseFlags: pflag semantics', () => {
  const ok: [argv: string[], want: Record<string, FlagValue>][] = [
    [[], {}],
    [['--cleanup'], { cleanup: true }],
    [['--cleanup=true'], { cleanup: true }],
    [['--cleanup=false'], { cleanup: false }],
    [['--cleanup=0'], { cleanup: false }],
    [['--cleanup=1'], { cleanup: true }],
    [['--cleanup=t'], { cleanup: true }],
    [['--cleanup=F'], { cleanup: false }],
    [['--cleanup=TRUE'], { cleanup: true }],
    [['--cleanup=False'], { cleanup: false }],
    [['--hostname-override=node-a'], { 'hostname-override': 'node-a' }],
    [['--hostname-override', 'node-a'], { 'hostname-override': 'node-a' }],
    [['--hostname-override='], { 'hostname-override': '' }],
    [['--hostname-override=a=b'], { 'hostname-override': 'a=b' }],
    [['--hostname-override', '-x'], { 'hostname-override': '-x' }],
    [['--iptables-masquerade-bit=14'], { 'iptables-masquerade-bit': 14 }],
    [['--iptables-masquerade-bit', '-1'], { 'iptables-masquerade-bit': -1 }],
    [['--iptables-masquerade-bit=+3'], { 'iptables-masquerade-bit': 3 }],
    [['--iptables-sync-period=30s'], { 'iptables-sync-period': 30_000 }],
    [['--iptables-sync-period', '1m30s'], { 'iptables-sync-period': 90_000 }],
    [['--iptables-sync-period=0'], { 'iptables-sync-period': 0 }],
    [['--iptables-sync-period=1.5h'], { 'iptables-sync-period': 5_400_000 }],
    [['--iptables-sync-period=250ms'], { 'iptables-sync-period': 250 }],
    [['-v=4'], { v: 4 }],
    [['-v', '4'], { v: 4 }],
    [['-v4'], { v: 4 }],
    [['--v=4'], { v: 4 }],
    [['--v', '2'], { v: 2 }],
    [['-h'], { help: true }],
    [['--help'], { help: true }],
    [['-h=false'], { help: false }],
    // Go's flag package style with a single dash for a long name.
    [['-cleanup'], { cleanup: true }],
    [['-hostname-override=n1'], { 'hostname-override': 'n1' }],
    // The last value of a scalar flag wins.
    [['--v=1', '-v', '5'], { v: 5 }],
    [['--cleanup', '--cleanup=false'], { cleanup: false }],
    // Slices split on commas and accumulate across repetitions.
    [
      ['--nodeport-addresses=10.0.0.0/8,192.168.0.0/16'],
      { 'nodeport-addresses': ['10.0.0.0/8', '192.168.0.0/16'] },
    ],
    [['--nodeport-addresses', 'primary'], { 'nodeport-addresses': ['primary'] }],
    [['--nodeport-addresses=a', '--nodeport-addresses=b,c'], { 'nodeport-addresses': ['a', 'b', 'c'] }],
    [['--nodeport-addresses='], { 'nodeport-addresses': [] }],
    // "--" ends the flags.
    [['--cleanup', '--'], { cleanup: true }],
    [
      ['--cleanup', '--hostname-override', 'n', '-v=3', '--iptables-sync-period=10s'],
      { cleanup: true, 'hostname-override': 'n', v: 3, 'iptables-sync-period': 10_000 },
    ],
  ];
  for (const [argv, want] of ok) {
    test(JSON.stringify(argv), () => assert.deepEqual(parse(...argv), want));
  }

  test('unset flags are absent from the result', () => {
    const m = parseFlags(SPECS, ['--cleanup']);
    assert.equal(m.has('v'), false);
    assert.equal(m.has('masquerade-all'), false);
  });

  const bad: [argv: string[], message: string | RegExp][] = [
    [['--unknown'], 'unknown flag: --unknown'],
    [['--unknown=1'], 'unknown flag: --unknown'],
    [['--Cleanup'], 'unknown flag: --Cleanup'],
    [['-x'], "unknown shorthand flag: 'x' in -x"],
    [['-hv'], /unknown shorthand flag/],
    [['--cleanup=yes'], /invalid argument "yes" for "--cleanup" flag: strconv.ParseBool/],
    [['--cleanup='], /invalid argument "" for "--cleanup" flag/],
    [['--v=four'], /invalid argument "four" for "--v" flag: strconv.ParseInt/],
    [['-vx'], /invalid argument "x" for "--v" flag/],
    [['--v=1.5'], /strconv.ParseInt/],
    [['--v='], /strconv.ParseInt/],
    [
      ['--iptables-sync-period=30'],
      'invalid argument "30" for "--iptables-sync-period" flag: time: invalid duration "30"',
    ],
    [['--iptables-sync-period=abc'], /time: invalid duration "abc"/],
    [['--iptables-sync-period=1d'], /time: invalid duration/],
    [['--iptables-sync-period='], /time: invalid duration/],
    [['--hostname-override'], 'flag needs an argument: --hostname-override'],
    [['-v'], 'flag needs an argument: --v'],
    [['--iptables-sync-period'], /flag needs an argument/],
    [['positional'], 'unexpected argument "positional"'],
    [['--cleanup', 'true'], 'unexpected argument "true"'],
    [['-'], 'unexpected argument "-"'],
    [['--', 'x'], 'unexpected argument "x"'],
  ];
  for (const [argv, message] of bad) {
    test(`rejects ${JSON.stringify(argv)}`, () => flagErr(argv, message));
  }
});

describe('formatUsage', () => {
  test('lists every flag with shorthand, type and default', () => {
    const text = formatUsage(SPECS);
    assert.ok(text.startsWith('Flags:\n'));
    const lines = text.trimEnd().split('\n').slice(1);
    assert.equal(lines.length, SPECS.length);
    assert.match(lines.find((l) => l.includes('--v '))!, /-v, --v int\s+verbosity/);
    assert.match(lines.find((l) => l.includes('--cleanup'))!, /^\s+--cleanup\s+clean up$/);
    assert.match(
      lines.find((l) => l.includes('--iptables-sync-period'))!,
      /--iptables-sync-period duration\s+period \(default 30s\)$/,
    );
    assert.match(lines.find((l) => l.includes('--masquerade-all'))!, /masq \(default false\)$/);
  });
});
