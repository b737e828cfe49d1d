// Series downsampled for display: a run can record hundreds of thousands of samples, a chart needs
// about as many points as it has pixels across. Full resolution stays on the Node side for CSV.
//
// Method: min/max per bucket, with the SAME buckets for every series of a run, so all series keep
// one shared time axis (the charts overlay and cross-hair them).
// - The first and the last sample are kept as they are.
// - The samples between are cut into B buckets of consecutive sample indexes (equal counts, at
//   least 2 samples each), B = floor((maxPoints - 2) / 2).
// - Each bucket gives two points, at the times of its first and its last sample. For each series,
//   those two points carry the bucket's minimum and maximum, in the order in which they occur.
// So every series keeps every local extreme at its exact value: a spike, a dip, a peak of
// memory use is never averaged away. The price is position: an extreme is drawn at an edge of its
// bucket, at most one bucket (n / B samples) from its true time. For series that only grow or
// only shrink within a bucket (the cumulative counters, most metrics) the minimum and maximum are
// the bucket's first and last samples, so those points are exact.
// NaN samples are skipped; a bucket of NaN only stays NaN.

export const DISPLAY_POINTS = 2000;

export interface AlignedSeries {
  readonly timeNs: Float64Array;
  readonly columns: readonly Float64Array[];
}

/** Downsample series that share `timeNs` to at most `maxPoints` points each, with the same
 * sample times for all of them. Input of `maxPoints` samples or fewer comes back unchanged. */
export function downsampleAligned(
  timeNs: Float64Array,
  columns: readonly Float64Array[],
  maxPoints: number = DISPLAY_POINTS,
): AlignedSeries {
  if (!Number.isInteger(maxPoints) || maxPoints < 4)
    throw new RangeError(`maxPoints must be an integer of at least 4, got ${maxPoints}`);
  const n = timeNs.length;
  for (const column of columns) {
    if (column.length !== n)
      throw new RangeError(`a series has ${column.length} samples where the time axis has ${n}`);
  }
  if (n <= maxPoints) return { timeNs, columns };

  const buckets = Math.floor((maxPoints - 2) / 2);
  const inner = n - 2; // samples 1 .. n-2 go into buckets; inner > 2 * buckets since n > maxPoints
  const outLength = 2 + 2 * buckets;
  const outTime = new Float64Array(outLength);
  const outColumns = columns.map(() => new Float64Array(outLength));

  outTime[0] = timeNs[0]!;
  outTime[outLength - 1] = timeNs[n - 1]!;
  columns.forEach((column, c) => {
    outColumns[c]![0] = column[0]!;
    outColumns[c]![outLength - 1] = column[n - 1]!;
  });

  for (let b = 0; b < buckets; b++) {
    const start = 1 + Math.floor((b * inner) / buckets);
    const end = 1 + Math.floor(((b + 1) * inner) / buckets); // exclusive
    const at = 1 + 2 * b;
    outTime[at] = timeNs[start]!;
    outTime[at + 1] = timeNs[end - 1]!;
    columns.forEach((column, c) => {
      const [first, second] = extremesInOrder(column, start, end);
      outColumns[c]![at] = first;
      outColumns[c]![at + 1] = second;
    });
  }
  return { timeNs: outTime, columns: outColumns };
}

/** The minimum and maximum of column[start..end), the one that occurs first first. */
function extremesInOrder(column: Float64Array, start: number, end: number): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  let minAt = -1;
  let maxAt = -1;
  for (let i = start; i < end; i++) {
    const v = column[i]!;
    if (v < min) {
      min = v;
      minAt = i;
    }
    if (v > max) {
      max = v;
      maxAt = i;
    }
  }
  if (minAt < 0) return [NaN, NaN]; // every sample NaN
  return minAt <= maxAt ? [min, max] : [max, min];
}
