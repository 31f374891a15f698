// Reads what `node --test --test-reporter=tap` printed: the run's counts (its closing "# pass N"
// lines) and every failing or skipped test by its full name. Pure: the guest runner feeds it the
// streamed output.

export interface TapTest {
  /** Names from the outermost test down, joined with " > ". */
  name: string;
  /** failing tests: the error message node:test reported; skipped: the skip reason. */
  detail: string;
}

export interface TapSummary {
  /** null when the run did not get as far as printing its counts (it crashed or was killed). */
  counts: {
    tests: number;
    pass: number;
    fail: number;
    skipped: number;
    cancelled: number;
    todo: number;
  } | null;
  /** Failed leaves only: a parent that failed because a subtest did is not repeated. */
  failures: TapTest[];
  skips: TapTest[];
  /** What the tests said with t.diagnostic(), in order (the closing counts excluded). */
  diagnostics: string[];
}

const RESULT = /^( *)(ok|not ok) \d+ - (.*?)(?: # (SKIP|TODO)\b ?(.*))?$/;
const SUBTEST = /^( *)# Subtest: (.*)$/;
const COUNT = /^# (tests|pass|fail|skipped|cancelled|todo) (\d+)$/;
const DIAGNOSTIC = /^ *# (.*)$/;
const CLOSING = /^# (tests|suites|pass|fail|skipped|cancelled|todo|duration_ms) [\d.]+$/;
const INDENT = 4;

/** TAP escapes "#" and "\" in names. */
function tapName(name: string): string {
  return name.replace(/\\([#\\])/g, '$1');
}

/**
 * The error of a result's YAML block: `error: 'one line'` or `error: |-` and the more indented lines
 * below it. Returns the text and the index of the line after the block.
 */
function yamlError(lines: readonly string[], start: number, indent: number): string {
  for (let i = start; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.trimStart();
    if (trimmed === '...' && line.length - trimmed.length === indent + 2) break;
    const m = /^ *error: (.*)$/.exec(line);
    if (!m) continue;
    const v = m[1]!;
    if (v !== '|-' && v !== '|' && v !== '>-') return v.replace(/^'(.*)'$/, '$1').replace(/''/g, "'");
    const own = line.length - line.trimStart().length;
    const block: string[] = [];
    for (let j = i + 1; j < lines.length; j++) {
      const l = lines[j]!;
      if (l.trim() !== '' && l.length - l.trimStart().length <= own) break;
      block.push(l.slice(own + 2));
    }
    return block.join('\n').trimEnd();
  }
  return '';
}

export function parseTap(output: string): TapSummary {
  const lines = output.split('\n');
  const counts: Record<string, number> = {};
  const failures: TapTest[] = [];
  const skips: TapTest[] = [];
  const diagnostics: string[] = [];
  // The open "# Subtest:" names by depth, so a result gets its parents' names.
  const path: string[] = [];
  // Depths at which a subtest failed, so its parent's "subtests failed" is not reported again.
  const failedBelow = new Set<number>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const sub = SUBTEST.exec(line);
    if (sub) {
      const depth = sub[1]!.length / INDENT;
      path.length = depth;
      path[depth] = tapName(sub[2]!);
      continue;
    }
    const res = RESULT.exec(line);
    if (res) {
      const depth = res[1]!.length / INDENT;
      path.length = depth;
      const name = [...path, tapName(res[3]!)].join(' > ');
      const directive = res[4];
      if (res[2] === 'not ok' && directive !== 'TODO') {
        if (!failedBelow.has(depth + 1))
          failures.push({ name, detail: yamlError(lines, i + 1, res[1]!.length) });
        failedBelow.add(depth);
      } else if (directive === 'SKIP') {
        skips.push({ name, detail: res[5] ?? '' });
      }
      failedBelow.delete(depth + 1);
      continue;
    }
    const c = COUNT.exec(line);
    if (c) counts[c[1]!] = Number(c[2]);
    const d = DIAGNOSTIC.exec(line);
    // The reporter writes a newline in a diagnostic as two backslashes and an n.
    if (d && !CLOSING.test(line)) diagnostics.push(d[1]!.replace(/\\\\n/g, '\n'));
  }
  const done = ['tests', 'pass', 'fail'].every((k) => k in counts);
  return {
    counts: done
      ? {
          tests: counts.tests!,
          pass: counts.pass!,
          fail: counts.fail!,
          skipped: counts.skipped ?? 0,
          cancelled: counts.cancelled ?? 0,
          todo: counts.todo ?? 0,
        }
      : null,
    failures,
    skips,
    diagnostics,
  };
}
