// --oom-score-adj / oomScoreAdj (default -999) applied to this process, as upstream's OOMAdjuster;
// a failure is logged at V(2) and ignored, as upstream does.

import type { Logger } from '../log/logger.ts';
import type { SysFs } from './fs.ts';

export function applyOOMScoreAdj(
  value: number | undefined,
  fs: SysFs,
  log: Logger,
  pid: number | 'self' = 'self',
) {
  if (value === undefined) return false;
  const path = `/proc/${pid}/oom_score_adj`;
  try {
    fs.write(path, String(value));
    return true;
  } catch (err) {
    log.v(2, 'Failed to apply OOMScore', { err });
    return false;
  }
}
