// How the setup names each allocator and each backing (allocator and page size); which page sizes
// an allocator can back comes from core (ALLOCATOR_PAGE_SIZES).
import { ALLOCATOR_PAGE_SIZES, type AllocatorKind } from '../../../core/config';

export const ALLOCATOR_LABELS: Readonly<Record<AllocatorKind, string>> = {
  hugetlb: 'HugeTLB',
  'hugetlb-cma': 'HugeTLB from CMA (hugetlb_cma=)',
  'cma-raw': 'CMA (raw)',
  thp: 'THP',
  buddy: '4 KiB',
};

export const ALLOCATORS = (Object.keys(ALLOCATOR_PAGE_SIZES) as AllocatorKind[]).map((id) => ({
  id,
  label: ALLOCATOR_LABELS[id],
}));

const SIZE_LABELS: Readonly<Record<string, string>> = {
  '4k': '4 KiB',
  '2m': '2 MiB',
  '1g': '1 GiB',
};

/** Every allocator and page size it can back, as one choice: "HugeTLB 1 GiB", "THP 2 MiB". */
export const BACKINGS = ALLOCATORS.flatMap((a) =>
  ALLOCATOR_PAGE_SIZES[a.id].map((size) => ({
    value: `${a.id}:${size}`,
    allocator: a.id,
    pageSize: size,
    label: a.id === 'buddy' ? a.label : `${a.label} ${SIZE_LABELS[size]}`,
  })),
);

/** A page size the new allocator cannot back becomes the largest one it can. */
export function chooseAllocator(v: Record<string, unknown>, id: AllocatorKind): void {
  const sizes: readonly string[] = ALLOCATOR_PAGE_SIZES[id];
  v['allocator'] = id;
  if (!sizes.includes(String(v['pageSize']))) v['pageSize'] = sizes.at(-1);
}

/** A variant's backing as a name part: "HugeTLB 1 GiB". */
export function backingLabel(v: Record<string, unknown>): string {
  return (
    BACKINGS.find((b) => b.allocator === v['allocator'] && b.pageSize === v['pageSize'])?.label ??
    `${String(v['allocator'])} ${String(v['pageSize'])}`
  );
}
