// One byte per 2 MiB block of a file, stored per 1 GiB range (512 blocks) and allocated when a
// range first gets a value other than the initial one. A 64 TiB file has 32 Mi blocks: dense, each
// such table would cost 32 MiB per variant whatever the guest touches; sparse, an untouched range
// costs one array slot.
import { chargeStorage, releaseStorage } from '../storage-budget.js';

const BLOCKS_PER_CHUNK = 512;
/** Storage of one materialised chunk of a block table (a byte per 2 MiB block of 1 GiB). */
export const BLOCK_TABLE_CHUNK_BYTES = BLOCKS_PER_CHUNK;

export class BlockTable {
  private readonly chunks: (Uint8Array | undefined)[];
  private allocatedChunks = 0;

  /** `length` blocks, each reading `initial` until it is set. */
  constructor(
    readonly length: number,
    private readonly initial = 0,
  ) {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`block table ${length}`);
    this.chunks = new Array<Uint8Array | undefined>(Math.ceil(length / BLOCKS_PER_CHUNK)).fill(
      undefined,
    );
  }

  /** Bytes in use: the chunk references (8 bytes a slot) and the chunks allocated. */
  get storageBytes(): number {
    return this.chunks.length * 8 + this.allocatedChunks * BLOCKS_PER_CHUNK;
  }

  get(b: number): number {
    const chunk = this.chunks[Math.floor(b / BLOCKS_PER_CHUNK)];
    return chunk ? chunk[b & (BLOCKS_PER_CHUNK - 1)]! : this.initial;
  }

  set(b: number, value: number): void {
    const c = Math.floor(b / BLOCKS_PER_CHUNK);
    let chunk = this.chunks[c];
    if (!chunk) {
      if (value === this.initial) return;
      chunk = this.allocate(c);
    }
    chunk[b & (BLOCKS_PER_CHUNK - 1)] = value;
  }

  /** Blocks [start, end) all read `value`. A whole range of the initial value frees its chunk. */
  fill(value: number, start: number, end: number): void {
    if (!(start >= 0 && end <= this.length && start <= end))
      throw new RangeError(`block range [${start}, ${end}) outside [0, ${this.length})`);
    let b = start;
    while (b < end) {
      const c = Math.floor(b / BLOCKS_PER_CHUNK);
      const base = c * BLOCKS_PER_CHUNK;
      const stop = Math.min(end, base + BLOCKS_PER_CHUNK);
      const chunk = this.chunks[c];
      const whole = b === base && stop === Math.min(this.length, base + BLOCKS_PER_CHUNK);
      if (value === this.initial && (whole || !chunk)) {
        if (chunk) {
          this.chunks[c] = undefined;
          this.allocatedChunks--;
          releaseStorage(BLOCKS_PER_CHUNK);
        }
      } else {
        (chunk ?? this.allocate(c)).fill(value, b - base, stop - base);
      }
      b = stop;
    }
  }

  private allocate(c: number): Uint8Array {
    chargeStorage(BLOCKS_PER_CHUNK, 'per-2 MiB block tables');
    const chunk = new Uint8Array(BLOCKS_PER_CHUNK);
    if (this.initial !== 0) chunk.fill(this.initial);
    this.chunks[c] = chunk;
    this.allocatedChunks++;
    return chunk;
  }
}
