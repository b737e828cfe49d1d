// The memory the model may use for its own state. Typed arrays (bitmaps, per-block tables, page
// tables, sampled series) live outside the V8 heap, so a worker's heap limit does not bound them: a
// large guest touched everywhere (a 64 TiB guest accepted eagerly at 4 KiB is 16 Gi pages) would
// grow until the operating system kills the process. Every growing store of the model charges what
// it allocates here; a run started with a budget (withStorageBudget) stops with
// StorageBudgetExceeded, naming what asked for the memory and how much, before passing it.
//
// One run at a time per thread (a worker runs one variant, the core is synchronous): the budget in
// force is the innermost withStorageBudget() on this thread. Outside one, nothing is counted.
import { formatBytes } from './units.js';

/** Thrown when the model's storage would pass the run's budget. */
export class StorageBudgetExceeded extends Error {
  constructor(
    /** What asked for the memory (for example "4 KiB page bitmaps"). */
    readonly what: string,
    /** Bytes it asked for. */
    readonly requestBytes: number,
    /** Bytes the model held before the request. */
    readonly usedBytes: number,
    readonly budgetBytes: number,
  ) {
    super(
      `the model needs more memory than its budget of ${formatBytes(budgetBytes)}: it holds ` +
        `${formatBytes(usedBytes)} and the ${what} asked for ${formatBytes(requestBytes)} more. ` +
        "Raise the budget (--memory-budget of gmem-lab run, sweep or serve; the workbench's Settings), " +
        'or model a smaller guest, lazy acceptance or a larger backing page size',
    );
    this.name = 'StorageBudgetExceeded';
  }
}

interface Account {
  readonly budgetBytes: number;
  usedBytes: number;
}

let account: Account | null = null;

/** Run `fn` with a storage budget of `budgetBytes` (undefined: unlimited, nothing counted). */
export function withStorageBudget<T>(budgetBytes: number | undefined, fn: () => T): T {
  if (budgetBytes === undefined) return fn();
  if (!(budgetBytes > 0)) throw new RangeError(`storage budget ${budgetBytes} must be positive`);
  const outer = account;
  account = { budgetBytes, usedBytes: 0 };
  try {
    return fn();
  } finally {
    account = outer;
  }
}

/** Charge `bytes` the model is about to allocate for `what`; throws StorageBudgetExceeded first
 * when they would pass the budget in force. */
export function chargeStorage(bytes: number, what: string): void {
  const a = account;
  if (a === null) return;
  if (a.usedBytes + bytes > a.budgetBytes)
    throw new StorageBudgetExceeded(what, bytes, a.usedBytes, a.budgetBytes);
  a.usedBytes += bytes;
}

/** Give back `bytes` charged earlier (a store freed them). */
export function releaseStorage(bytes: number): void {
  if (account !== null) account.usedBytes = Math.max(0, account.usedBytes - bytes);
}

/** Bytes charged under the budget in force (0 outside one). */
export function storageInUse(): number {
  return account?.usedBytes ?? 0;
}
