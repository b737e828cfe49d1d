// The event log of a run, written as it goes: each variant's worker streams its events to a part
// file of its own beside the target (a hidden temp name, so a crash leaves nothing that looks like
// a result, and start-up clean-up knows it), and once the runs end the parts are joined into the
// target in variant order, durably and atomically. Memory stays bounded whatever the log's
// length: no event crosses a thread or sits in this process.
import { unlink } from 'node:fs/promises';
import { concatFilesDurable, tempPathFor } from './durable-write.js';

export class EventLogFiles {
  private readonly parts = new Map<number, string>();

  constructor(readonly target: string) {}

  /** The part file for run `key` (created by the worker that streams to it). */
  partFor(key: number): string {
    let part = this.parts.get(key);
    if (part === undefined) {
      part = tempPathFor(`${this.target}.${key}`);
      this.parts.set(key, part);
    }
    return part;
  }

  /** Join the parts of `keys`, in that order, into the target; then remove every part. */
  async commit(keys: readonly number[]): Promise<void> {
    try {
      await concatFilesDurable(
        this.target,
        keys.map((k) => this.partFor(k)),
      );
    } finally {
      await this.discard();
    }
  }

  /** Remove every part written so far (a failed or cancelled run leaves none behind). */
  async discard(): Promise<void> {
    await Promise.all([...this.parts.values()].map((p) => unlink(p).catch(() => undefined)));
    this.parts.clear();
  }
}
