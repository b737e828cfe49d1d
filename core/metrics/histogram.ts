// A log-linear latency histogram (HDR style): 16 sub-buckets per power of two, so every recorded
// value is kept within about 6 % and the memory cost is fixed whatever the run length.
import { addRepeated } from '../repeat.js';

const SUB_BUCKETS = 16;
const MAX_EXPONENT = 64;
/** Samples recorded one at a time wait in a small buffer and are folded in, in the order they
 * came, when it fills or when the histogram is read: the hot path of an operation stores one
 * number, and the buckets, sum, count and max come out exactly as recording each at once would. */
const PENDING = 512;

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
  private readonly pending = new Float64Array(PENDING);
  private nrPending = 0;

  /** One sample of `value` (the same as record(value), later folded in order). */
  recordOne(value: number): void {
    // value >= 0 fails for NaN; Infinity is the one other non-finite value it lets through.
    if (!(value >= 0) || value === Infinity) badLatency(value);
    const n = this.nrPending;
    this.pending[n] = value;
    if (n + 1 === PENDING) this.fold(PENDING);
    else this.nrPending = n + 1;
  }

  /** Fold the first `n` buffered samples in, as record() would have one by one. */
  private fold(n: number): void {
    const pending = this.pending;
    let zeros = this.zeros;
    let sum = this.sum;
    let max = this.maxValue;
    for (let i = 0; i < n; i++) {
      const value = pending[i]!;
      if (value < 1) zeros++;
      else this.counts[this.bucket(value)]!++;
      sum += value;
      if (value > max) max = value;
    }
    this.zeros = zeros;
    this.sum = sum;
    this.maxValue = max;
    this.total += n;
    this.nrPending = 0;
  }

  private settle(): void {
    if (this.nrPending !== 0) this.fold(this.nrPending);
  }

  record(value: number, times = 1): void {
    if (!(value >= 0) || !Number.isFinite(value)) badLatency(value);
    this.settle();
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
    this.settle();
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
    this.settle();
    return { zeros: this.zeros, counts: Array.from(this.counts) };
  }

  get count(): number {
    this.settle();
    return this.total;
  }

  get max(): number {
    this.settle();
    return this.maxValue;
  }

  get mean(): number {
    this.settle();
    return this.total === 0 ? 0 : this.sum / this.total;
  }

  /** Value at percentile p (0-100): the upper edge of the bucket holding it, capped at the max. */
  percentile(p: number): number {
    this.settle();
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

/** The value's bits, to read its binary exponent and leading mantissa bits. */
const valueBits = new Float64Array(1);
const valueWords = new Uint32Array(valueBits.buffer);
/** Index of the word holding the sign, exponent and top 20 mantissa bits. */
const HIGH_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/**
 * The bucket of `value` (finite, non-negative): floor(log2(value)) sub-divided in SUB_BUCKETS by
 * the mantissa, that is the IEEE 754 exponent and the mantissa's top four bits, read from the
 * number's bits (Math.log2 and a power per sample cost more than the sample). The same buckets
 * as Math.floor(Math.log2(value)) and floor((value - 2^e) / 2^e * 16), a test compares them.
 */
export function bucketOf(value: number): number {
  if (value < 1) return 0;
  valueBits[0] = value;
  const high = valueWords[HIGH_WORD]!;
  const exponent = (high >>> 20) - 1023;
  if (exponent >= MAX_EXPONENT) return MAX_EXPONENT * SUB_BUCKETS - 1;
  return exponent * SUB_BUCKETS + ((high >>> 16) & (SUB_BUCKETS - 1));
}

function upperEdge(bucket: number): number {
  const exponent = Math.floor(bucket / SUB_BUCKETS);
  const sub = bucket % SUB_BUCKETS;
  const base = 2 ** exponent;
  return base + ((sub + 1) * base) / SUB_BUCKETS;
}
