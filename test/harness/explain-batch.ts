// Runs many `kube-proxy-ts explain ...` command lines in one process (the kernel tests' cross-check,
// flow-cases.ts): stdin is a JSON array of argv arrays (the words after `kube-proxy-ts explain`),
// stdout a JSON array of { code, stdout }. Each goes through explainMain, the function the binary's
// `explain` subcommand runs (src/cmd/main.ts), so each reads the live rules afresh; one Node
// start-up instead of one per command. Run as root in the node's network namespace.
import { text } from 'node:stream/consumers';
import { explainMain } from '../../src/cmd/explain.ts';

const argvs = JSON.parse(await text(process.stdin)) as string[][];
const results: { code: number; stdout: string }[] = [];
for (const argv of argvs) {
  let stdout = '';
  const code = await explainMain(argv, { out: (s) => (stdout += s) });
  results.push({ code, stdout });
}
process.stdout.write(JSON.stringify(results));
