// A promise whose outcome a test can read without awaiting it: "still pending" is then an assertion.
export interface Settled<T> {
  readonly promise: Promise<T>;
  /** undefined while pending. */
  outcome: 'resolved' | 'rejected' | undefined;
}

export function settled<T>(promise: Promise<T>): Settled<T> {
  const s: Settled<T> = { promise, outcome: undefined };
  promise.then(
    () => {
      s.outcome = 'resolved';
    },
    () => {
      s.outcome = 'rejected';
    },
  );
  return s;
}
