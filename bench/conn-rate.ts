// Runs inside the client namespace: opens as many TCP connections as it can to one address for a
// fixed time (a bounded number of concurrent workers, each connect → read the echo line → close),
// then prints {"connections": n, "errors": e, "seconds": s}.
import { connect } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    seconds: { type: 'string', default: '5' },
    workers: { type: 'string', default: '16' },
  },
});
const host = values.host!;
const port = Number(values.port);
const deadline = performance.now() + Number(values.seconds) * 1000;
let connections = 0;
let errors = 0;

function once(): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const t = setTimeout(() => s.destroy(new Error('timeout')), 2000);
    s.on('data', () => {});
    s.on('end', () => {
      connections++;
      clearTimeout(t);
      s.destroy();
      resolve();
    });
    s.on('error', () => {
      errors++;
      clearTimeout(t);
      resolve();
    });
  });
}

async function worker(): Promise<void> {
  while (performance.now() < deadline) await once();
}

const start = performance.now();
await Promise.all(Array.from({ length: Number(values.workers) }, () => worker()));
process.stdout.write(
  `${JSON.stringify({ connections, errors, seconds: (performance.now() - start) / 1000 })}\n`,
);
