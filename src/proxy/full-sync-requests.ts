// Who asked for a full sync, and whether the sync that just finished covered the request.
//
// Upstream holds the proxier's mutex for a whole sync, so a handler cannot ask for a full sync
// while one is being written. Here every `await` inside a sync lets handlers run; a boolean that
// the sync resets at its end would swallow a request made in between (issue 20). So requests are
// numbered: a sync records the newest request it started after, and only those are done.

export class FullSyncRequests {
  /** The first sync after start-up is always full: the kernel's state is unknown. */
  #requested = 1;
  #covered = 0;

  /** Asks for the next sync to be full (node, zone or ServiceCIDR changes, failures). */
  request(): void {
    this.#requested++;
  }

  /** Whether a full sync is owed. */
  get pending(): boolean {
    return this.#requested > this.#covered;
  }

  /** Taken when a sync starts: the requests a full sync started now will have covered. */
  snapshot(): number {
    return this.#requested;
  }

  /** A full sync that started at `snapshot` succeeded: requests made after it stay pending. */
  covered(snapshot: number): void {
    if (snapshot > this.#covered) this.#covered = snapshot;
  }
}
