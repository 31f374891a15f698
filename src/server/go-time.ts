// Times as Go's encoding/json writes a time.Time (RFC 3339 with trailing zeros of the fraction
// dropped), and Go's zero time for "never".

export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

export function goJSONTime(d: Date): string {
  if (d.getTime() === 0) return GO_ZERO_TIME;
  const iso = d.toISOString(); // 2006-01-02T15:04:05.000Z
  return iso.replace(/\.(\d*?)0*Z$/, (_, frac: string) => (frac === '' ? 'Z' : `.${frac}Z`));
}
