// A long-lived TCP conversation for the chaos tests, run inside a sandbox namespace:
//
//   server --port P              echoes every line back on the same connection, forever
//   client --host H --port P     one connection; sends "n\n" every --interval ms and prints one
//                                JSON line per echo ({"seq":n}); on any failure prints
//                                {"error":"..."} and exits 1. Exits when stdin closes.
//
// The client never reconnects: its connection is the established flow whose survival the chaos
// tests check across proxy kills and restarts.
import { createConnection, createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    interval: { type: 'string', default: '100' },
    timeout: { type: 'string', default: '2000' },
  },
});
const port = Number(values.port);
// The sandbox starts helpers with stdin as a pipe: its end means the test is gone.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

if (positionals[0] === 'server') {
  const server = createServer((sock) => {
    sock.on('error', () => {});
    sock.pipe(sock);
  });
  server.listen({ port, host: '::', ipv6Only: false }, () =>
    console.log(JSON.stringify({ listening: port })),
  );
} else if (positionals[0] === 'client') {
  const fail = (error: string): never => {
    console.log(JSON.stringify({ error }));
    process.exit(1);
  };
  const sock = createConnection({ host: values.host ?? '', port });
  let seq = 0;
  let waitingSince = 0;
  let buffered = '';
  sock.on('error', (err) => fail(err.message));
  sock.on('close', () => fail('connection closed'));
  sock.on('data', (chunk) => {
    buffered += chunk.toString();
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (Number(line) !== seq) fail(`echo ${JSON.stringify(line)} for ${seq}`);
      console.log(JSON.stringify({ seq }));
      waitingSince = 0;
    }
  });
  sock.on('connect', () => {
    setInterval(() => {
      if (waitingSince !== 0) {
        if (Date.now() - waitingSince > Number(values.timeout))
          fail(`no echo for ${seq} within ${values.timeout} ms`);
        return;
      }
      seq++;
      waitingSince = Date.now();
      sock.write(`${seq}\n`);
    }, Number(values.interval));
  });
} else {
  console.error('usage: stream.ts server --port P | client --host H --port P [--interval MS]');
  process.exit(2);
}
