// A log-linear latency histogram (HDR style): 16 sub-buckets per power of two, so every recorded
// value is kept within about 6 % and the memory cost is fixed whatever the run length.
import { addRepeated } from '../repeat.js';

const SUB_BUCKETS = 16;
const MAX_EXPONENT = 64;

function badLatency(value: number): never {
  throw new RangeError(`latency ${value} is not a finite non-negative number`);
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(MAX_EXPONENT * SUB_BUCKETS);
  /** Values below 1 (work that cost nothing) are kept apart: they report as 0. */
  private zeros = 0;
  private total = 0;
  private maxValue = 0;
  private sum = 0;
  /** The last two values recorded and their buckets: an operation mostly records one of a few
   * values (a conversion pair alternates two). */
  private lastValue = -1;
  private lastBucket = 0;
  private prevValue = -1;
  private prevBucket = 0;

  record(value: number, times = 1): void {
    if (!(value >= 0) || !Number.isFinite(value)) badLatency(value);
    if (value < 1) this.zeros += times;
    else this.counts[this.bucket(value)]! += times;
    this.total += times;
    this.sum += value * times;
    if (value > this.maxValue) this.maxValue = value;
  }

  /** The same as `times` calls of record(value): the sum grows by `value` once per call, so it
   * rounds exactly as those calls would. */
  recordEach(value: number, times: number): void {
    if (times <= 0) return;
    const sumBefore = this.sum;
    this.record(value, times);
    this.sum = addRepeated(sumBefore, value, times);
  }

  private bucket(value: number): number {
    if (value === this.lastValue) return this.lastBucket;
    const bucket = value === this.prevValue ? this.prevBucket : bucketOf(value);
    this.prevValue = this.lastValue;
    this.prevBucket = this.lastBucket;
    this.lastValue = value;
    this.lastBucket = bucket;
    return bucket;
  }

  /** The recorded distribution, bucket by bucket (a copy): values below 1 apart, then the
   * log-linear buckets. Two runs recorded the same samples when these are equal. */
  buckets(): { readonly zeros: number; readonly counts: readonly number[] } {
    return { zeros: this.zeros, counts: Array.from(this.counts) };
  }

  get count(): number {
    return this.total;
  }

  get max(): number {
    return this.maxValue;
  }

  get mean(): number {
    return this.total === 0 ? 0 : this.sum / this.total;
  }

  /** Value at percentile p (0-100): the upper edge of the bucket holding it, capped at the max. */
  percentile(p: number): number {
    if (this.total === 0) return 0;
    if (p >= 100) return this.maxValue;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    if (rank <= this.zeros) return 0;
    let seen = this.zeros;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperEdge(i), this.maxValue);
    }
    return this.maxValue;
  }
}

function bucketOf(value: number): number {
  if (value < 1) return 0;
  const exponent = Math.floor(Math.log2(value));
  const base = 2 ** exponent;
  const sub = Math.min(SUB_BUCKETS - 1, Math.floor(((value - base) / base) * SUB_BUCKETS));
  return Math.min(MAX_EXPONENT * SUB_BUCKETS - 1, exponent * SUB_BUCKETS + sub);
}

function upperEdge(bucket: number): number {
  const exponent = Math.floor(bucket / SUB_BUCKETS);
  const sub = bucket % SUB_BUCKETS;
  const base = 2 ** exponent;
  return base + ((sub + 1) * base) / SUB_BUCKETS;
}
