// Whether SCTP traffic can be tested here. Node has no SCTP sockets, so the sandbox uses socat, and
// the kernel must offer SCTP sockets inside a network namespace (module sctp, built in or loadable).
import { DEFAULT_PREFIX, deleteNamespaceSync, newSandboxId, register } from './cleanup.ts';
import { run } from './exec.ts';

let cached: Promise<string | undefined> | undefined;

/** Why SCTP flows cannot run, or undefined when they can. Probes once, in a scratch namespace. */
export function sctpUnavailable(): Promise<string | undefined> {
  cached ??= probe();
  return cached;
}

/** Only the reasons that are facts about the kernel, as opposed to a missing tool. */
export function isKernelReason(reason: string): boolean {
  return reason.startsWith('the kernel');
}

async function probe(): Promise<string | undefined> {
  const which = await run('sh', ['-c', 'command -v socat'], { allowFail: true });
  if (which.code !== 0) return 'socat is not installed (scripts/setup.sh installs it)';
  const ns = `${newSandboxId(DEFAULT_PREFIX)}-sctp`;
  const unregister = register({ teardownSync: () => deleteNamespaceSync(ns) });
  try {
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // Nothing listens on port 9: a kernel with SCTP refuses the association (or times out),
    // one without fails to create the socket at all.
    const r = await run(
      'ip',
      ['netns', 'exec', ns, 'socat', '-T', '1', '/dev/null', 'SCTP4-CONNECT:127.0.0.1:9,connect-timeout=1'],
      { allowFail: true, timeoutMs: 5000 },
    );
    if (/Protocol not supported|Address family not supported|Socket type not supported/.test(r.stderr)) {
      return `the kernel has no SCTP sockets in a network namespace (socat: ${r.stderr.trim().split('\n').pop()})`;
    }
    return undefined;
  } finally {
    unregister();
    deleteNamespaceSync(ns);
  }
}
