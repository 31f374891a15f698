// What nft itself sends for a script: the nf_tables batch nft 1.0.6 writes to its netlink socket,
// captured with strace. The netlink writer is held to these bytes, message by message.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attrString, type Message, parseAttrs, parseMessages } from '../../src/kernel/netlink/message.ts';

/** Runs `nft -f` on the script in the network namespace and returns the batch it sent. */
export function nftBatch(netns: string, script: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'kpts-oracle-'));
  try {
    const file = join(dir, 'script.nft');
    const trace = join(dir, 'strace.txt');
    writeFileSync(file, script);
    const r = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        netns,
        'strace',
        '-o',
        trace,
        '-e',
        'trace=sendmsg',
        '-e',
        'write=all',
        'nft',
        '-f',
        file,
      ],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`nft -f failed: ${r.stderr}`);
    const lines = readFileSync(trace, 'utf8').split('\n');
    const bytes: number[] = [];
    let inBatch = false;
    for (const line of lines) {
      if (line.startsWith('sendmsg(')) {
        if (inBatch) break;
        inBatch = true;
        continue;
      }
      const m = /^ \| [0-9a-f]{5} {2}((?:[0-9a-f]{2} {1,2})+)/.exec(line);
      if (inBatch && m) for (const h of m[1]!.trim().split(/\s+/)) bytes.push(Number.parseInt(h, 16));
    }
    return Buffer.from(bytes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function hasStrace(): boolean {
  return spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;
}

/** The messages of a batch with sequence numbers cleared, for comparison. */
export function batchMessages(buf: Buffer): Message[] {
  return parseMessages(buf).map((m) => ({ ...m, seq: 0, pid: 0 }));
}

/** A readable dump of one message's attributes, for test failure messages. */
export function describe(msg: Message): string {
  const out = [`type 0x${msg.type.toString(16)} flags 0x${msg.flags.toString(16)} family ${msg.payload[0]}`];
  const walk = (buf: Buffer, depth: number) => {
    for (const a of parseAttrs(buf)) {
      const pad = '  '.repeat(depth);
      if (a.nested) {
        out.push(`${pad}${a.type} {`);
        walk(a.data, depth + 1);
        out.push(`${pad}}`);
      } else {
        const s = attrString(a.data);
        const printable = s !== undefined && s.length > 1 && /^[\x20-\x7e]+$/.test(s) ? ` "${s}"` : '';
        out.push(`${pad}${a.type}: ${a.data.toString('hex')}${printable}`);
      }
    }
  };
  walk(msg.payload.subarray(4), 1);
  return out.join('\n');
}
