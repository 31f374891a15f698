import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { newDefaultConfig } from '../../../src/config/defaults.ts';
import type { ConntrackConfig } from '../../../src/config/types.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { conntrackMax, HASHSIZE, NETFILTER, setupConntrack } from '../../../src/sysctl/conntrack.ts';
import { RootedFs } from '../../../src/sysctl/fs.ts';
import { applyOOMScoreAdj } from '../../../src/sysctl/oom.ts';

// Everything here writes below a temporary root through the SysFs seam, never to the host.
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function fakeRoot(files: Record<string, string>): { fs: RootedFs; read: (p: string) => string } {
  const root = mkdtempSync(join(tmpdir(), 'kpt-sysctl-'));
  roots.push(root);
  for (const [p, v] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), `${v}\n`);
  }
  return { fs: new RootedFs(root), read: (p) => readFileSync(join(root, p), 'utf8').trim() };
}

const BASE = {
  '/proc/mounts': 'sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\nproc /proc proc rw 0 0',
  [`${NETFILTER}/nf_conntrack_max`]: '65536',
  [HASHSIZE]: '16384',
  [`${NETFILTER}/nf_conntrack_tcp_timeout_established`]: '432000',
  [`${NETFILTER}/nf_conntrack_tcp_timeout_close_wait`]: '60',
  [`${NETFILTER}/nf_conntrack_tcp_be_liberal`]: '0',
  [`${NETFILTER}/nf_conntrack_udp_timeout`]: '30',
  [`${NETFILTER}/nf_conntrack_udp_timeout_stream`]: '120',
};

const defaults = (): ConntrackConfig => newDefaultConfig().linux.conntrack;

describe('conntrack sysctls', () => {
  test('nf_conntrack_max = max(maxPerCore × CPUs, min); 0 leaves it', () => {
    assert.equal(conntrackMax(defaults(), 2), 131072);
    assert.equal(conntrackMax(defaults(), 8), 262144);
    assert.equal(conntrackMax({ ...defaults(), maxPerCore: 0 }, 8), 0);
    assert.equal(conntrackMax({ ...defaults(), min: undefined }, 1), 32768);
  });

  test('defaults: max, hashsize = max/4, TCP timeouts; UDP left alone', () => {
    const { fs, read } = fakeRoot(BASE);
    const r = setupConntrack(defaults(), { fs, logger: silentLogger, numCPU: 8 });
    assert.equal(read(`${NETFILTER}/nf_conntrack_max`), '262144');
    assert.equal(read(HASHSIZE), '65536');
    assert.equal(read(`${NETFILTER}/nf_conntrack_tcp_timeout_established`), '86400');
    assert.equal(read(`${NETFILTER}/nf_conntrack_tcp_timeout_close_wait`), '3600');
    assert.equal(read(`${NETFILTER}/nf_conntrack_tcp_be_liberal`), '0');
    assert.equal(read(`${NETFILTER}/nf_conntrack_udp_timeout`), '30');
    assert.deepEqual(r.failed, []);
  });

  test('values already in place are not written; a big enough hashsize stays', () => {
    const { fs } = fakeRoot({ ...BASE, [`${NETFILTER}/nf_conntrack_max`]: '131072', [HASHSIZE]: '40000' });
    const r = setupConntrack(
      { ...defaults(), tcpEstablishedTimeoutMs: 432_000_000, tcpCloseWaitTimeoutMs: 60_000 },
      { fs, logger: silentLogger, numCPU: 1 },
    );
    assert.deepEqual(r.written, []);
  });

  test('be_liberal and UDP timeouts when configured', () => {
    const { fs, read } = fakeRoot(BASE);
    setupConntrack(
      { ...defaults(), maxPerCore: 0, tcpBeLiberal: true, udpTimeoutMs: 45_000, udpStreamTimeoutMs: 300_000 },
      { fs, logger: silentLogger },
    );
    assert.equal(read(`${NETFILTER}/nf_conntrack_max`), '65536', 'maxPerCore 0 leaves the limit');
    assert.equal(read(`${NETFILTER}/nf_conntrack_tcp_be_liberal`), '1');
    assert.equal(read(`${NETFILTER}/nf_conntrack_udp_timeout`), '45');
    assert.equal(read(`${NETFILTER}/nf_conntrack_udp_timeout_stream`), '300');
  });

  test('a read-only /sys leaves the hashsize and reports it; refused writes do not stop start-up', () => {
    const { fs, read } = fakeRoot({ ...BASE, '/proc/mounts': 'sysfs /sys sysfs ro,nosuid 0 0' });
    const r = setupConntrack(defaults(), { fs, logger: silentLogger, numCPU: 8 });
    assert.equal(read(HASHSIZE), '16384');
    assert.deepEqual(r.failed, [HASHSIZE]);
    const missing = fakeRoot({}); // no nf_conntrack: every write fails, nothing throws
    const m = setupConntrack(defaults(), { fs: missing.fs, logger: silentLogger, numCPU: 1 });
    assert.ok(m.failed.includes(`${NETFILTER}/nf_conntrack_max`));
  });
});

describe('oom_score_adj', () => {
  test('written for this process; failures are ignored', () => {
    const { fs, read } = fakeRoot({ '/proc/self/oom_score_adj': '0' });
    assert.equal(applyOOMScoreAdj(-999, fs, silentLogger), true);
    assert.equal(read('/proc/self/oom_score_adj'), '-999');
    assert.equal(applyOOMScoreAdj(undefined, fs, silentLogger), false);
    assert.equal(applyOOMScoreAdj(-999, fs, silentLogger, 4242), false);
  });
});
