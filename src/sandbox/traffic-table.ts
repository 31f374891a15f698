// Running totals of probe outcomes per (service port, origin), rendered as the demo's live table.
import type { Target } from './example-workload.ts';
import { type Distribution, type FlowResult, summarize } from './flows.ts';

export interface Row {
  target: Target;
  from: string;
  total: Distribution;
  last: Distribution;
}

function addInto(acc: Distribution, d: Distribution): void {
  acc.total += d.total;
  acc.reject += d.reject;
  acc.drop += d.drop;
  acc.error += d.error;
  for (const key of ['pods', 'sources', 'codes'] as const) {
    for (const [k, n] of Object.entries(d[key])) acc[key][k] = (acc[key][k] ?? 0) + n;
  }
}

export class TrafficTally {
  readonly rows: Row[] = [];
  rounds = 0;

  add(target: Target, from: string, results: readonly FlowResult[]): void {
    const d = summarize(results);
    let row = this.rows.find((r) => r.target === target && r.from === from);
    if (!row) {
      row = { target, from, total: summarize([]), last: d };
      this.rows.push(row);
    }
    row.last = d;
    addInto(row.total, d);
  }

  /** What went wrong over the whole run; empty when every service behaved. */
  problems(): string[] {
    const out: string[] = [];
    for (const { target, from, total } of this.rows) {
      const where = `${target.label} from ${from}`;
      if (target.endpoints.length === 0) {
        if (Object.keys(total.pods).length > 0) out.push(`${where}: answered although it has no endpoints`);
        else if (total.reject === 0) out.push(`${where}: has no endpoints but was never rejected`);
        continue;
      }
      const silent = target.endpoints.filter((p) => !total.pods[p]);
      if (silent.length > 0) out.push(`${where}: never answered by ${silent.join(', ')}`);
    }
    return out;
  }

  render(): string {
    const header = [
      'SERVICE',
      'FROM',
      'SENT',
      'ANSWERED BY (count)',
      'SOURCE SEEN',
      'REJECT',
      'DROP',
      'ERROR',
    ];
    const rows = [...this.rows].sort(
      (a, b) => a.target.label.localeCompare(b.target.label) || a.from.localeCompare(b.from),
    );
    const body = rows.map(({ target, from, total }) => [
      target.label + (target.endpoints.length === 0 ? ' (no endpoints)' : ''),
      from,
      String(total.total),
      Object.entries(total.pods)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([pod, n]) => `${pod} ${n}`)
        .join('  ') || '-',
      Object.keys(total.sources).join(',') || '-',
      String(total.reject),
      String(total.drop),
      String(total.error),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
    const line = (cells: string[]): string =>
      cells
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd();
    return [line(header), ...body.map(line)].join('\n');
  }
}
