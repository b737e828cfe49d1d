// Sizes and page orders, in the kernel's vocabulary (PAGE_SIZE, order, PMD/PUD).

export const PAGE_SIZE = 4096;
export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

/** Folio orders the model knows: base page, PMD-sized (2 MiB), PUD-sized (1 GiB) on x86-64. */
export const ORDER_4K = 0;
export const ORDER_2M = 9;
export const ORDER_1G = 18;
export type PageOrder = typeof ORDER_4K | typeof ORDER_2M | typeof ORDER_1G;

/** Page sizes as users write them in experiment files. */
export type PageSizeName = '4k' | '2m' | '1g';

export const PAGES_PER_2M = 512;
export const PAGES_PER_1G = 512 * 512;

export function orderOfPageSize(size: PageSizeName): PageOrder {
  switch (size) {
    case '4k':
      return ORDER_4K;
    case '2m':
      return ORDER_2M;
    case '1g':
      return ORDER_1G;
  }
}

/** Number of 4 KiB pages in a folio of this order. */
export function nrPages(order: number): number {
  // A shift for the orders in use (exact for 0..30), the power otherwise.
  return order >= 0 && order <= 30 && (order | 0) === order ? 1 << order : 2 ** order;
}

export function bytesOfOrder(order: number): number {
  return PAGE_SIZE * nrPages(order);
}

/** Human-readable byte size with binary units, as the kernel prints them (kB/MB/GB are KiB/MiB/GiB). */
export function formatBytes(bytes: number): string {
  const abs = Math.abs(bytes);
  if (abs >= TiB && abs % (TiB / 1024) === 0) return `${bytes / TiB} TiB`;
  if (abs >= GiB) return `${+(bytes / GiB).toFixed(3)} GiB`;
  if (abs >= MiB) return `${+(bytes / MiB).toFixed(3)} MiB`;
  if (abs >= KiB) return `${+(bytes / KiB).toFixed(3)} KiB`;
  return `${bytes} B`;
}

export function alignDown(value: number, alignment: number): number {
  return value - (value % alignment);
}

export function alignUp(value: number, alignment: number): number {
  const rem = value % alignment;
  return rem === 0 ? value : value + alignment - rem;
}

// 4 KiB indexes of a 64 TiB guest reach 2^34, past JavaScript's 32-bit operators (`>>>`, `<<`,
// `& ~mask` wrap at 2^32): index arithmetic divides instead (exact below 2^53). Low-bit masks
// (`i & 511`) stay exact for every non-negative integer, 2^32 being a multiple of their period.

/** The 2 MiB block holding 4 KiB index `i`. */
export function blockOfPage(i: number): number {
  return Math.floor(i / PAGES_PER_2M);
}

/** The 1 GiB range holding 4 KiB index `i`. */
export function gigOfPage(i: number): number {
  return Math.floor(i / PAGES_PER_1G);
}

/** The 1 GiB range holding 2 MiB block `b`. */
export function gigOfBlock(b: number): number {
  return Math.floor(b / PAGES_PER_2M);
}
