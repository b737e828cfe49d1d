// The kernel's guest_memfd selftests, run against the model as one suite. Each case cites the
// selftest function it mirrors in tools/testing/selftests/kvm/guest_memfd_test.c (torvalds/linux),
// or, for the huge-page and conversion behaviour, the RFC v2 code the model follows (Ackerley
// Tng, "[RFC PATCH v2 00/51] 1G page support for guest_memfd", 14 May 2025, with its conversion
// selftests). The selftest file's gmem_test() runs each case on a file of page_size * 4.
import { describe, expect, it } from 'vitest';
import { simOf } from '../sim/test-helpers.js';
import type { Simulation } from '../sim/simulation.js';
import { KiB, MiB } from '../units.js';

const page = 4 * KiB;
const total = page * 4; // gmem_test(): __gmem_test(..., page_size * 4)

/** A 4 KiB-backed guest_memfd of `bytes` (the selftests' files have no huge pages). */
function fileOf(bytes: number, variant: Record<string, unknown> = {}): Simulation {
  return simOf({}, { pageSize: '4k', allocator: 'buddy', guestBytes: bytes, ...variant });
}

const allocatedBytes = (sim: Simulation) => sim.gmem.layout.allocated.total * page;

describe('guest_memfd selftests (tools/testing/selftests/kvm/guest_memfd_test.c)', () => {
  // test_create_guest_memfd_multiple(): files of page_size and page_size * 2 are created, and
  // gmem_test()'s page_size * 4: a 4 KiB-backed file needs only PAGE_SIZE alignment
  // (kvm_gmem_create() in virt/kvm/guest_memfd.c), not 2 MiB.
  it('test_create_guest_memfd_multiple: 4 KiB, 8 KiB and 16 KiB files are created', () => {
    for (const bytes of [page, 2 * page, total]) {
      const sim = fileOf(bytes);
      expect(sim.gmem.nrPages).toBe(bytes / page);
      expect(sim.checkInvariants()).toEqual([]);
    }
  });

  // test_create_guest_memfd_invalid_sizes(): every size from 1 to page_size - 1 fails with
  // EINVAL; the model's schema refuses any size that is not whole pages, with the reason.
  it('test_create_guest_memfd_invalid_sizes: sizes that are not whole pages are refused', () => {
    for (const bytes of [1, page - 1, page + 1, total - 1]) {
      expect(() => fileOf(bytes)).toThrow(/4 KiB page/);
    }
    // A huge-page backed file (the HugeTLB series) needs whole huge pages: a 16 KiB file of
    // 2 MiB pages is refused with EINVAL.
    expect(() =>
      simOf({ hugetlb2m: 4 }, { pageSize: '2m', allocator: 'hugetlb', guestBytes: total }),
    ).toThrow(/multiple of the 2m backing page size/);
  });

  // test_fallocate(), on a file of total_size = page_size * 4, step by step.
  it('test_fallocate: the selftest sequence, PUNCH_HOLE at and after EOF included', () => {
    const sim = fileOf(total);
    // "fallocate with aligned offset and size should succeed"
    expect(sim.fallocate(0, total).ok).toBe(true);
    expect(allocatedBytes(sim)).toBe(total);
    // "fallocate with unaligned offset should fail" (PUNCH_HOLE at page_size - 1)
    expect(sim.punchHole(page - 1, page)).toMatchObject({ ok: false, errno: 'EINVAL' });
    // "fallocate beginning at total_size should fail", "... after total_size should fail"
    // (kvm_gmem_allocate(): offset + len > i_size is EINVAL)
    expect(sim.fallocate(total, page)).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(sim.fallocate(total + page, page)).toMatchObject({ ok: false, errno: 'EINVAL' });
    // "fallocate(PUNCH_HOLE) at total_size should succeed", "... after total_size should
    // succeed": kvm_gmem_punch_hole() has no size check, truncation stops at i_size.
    expect(sim.punchHole(total, page).ok).toBe(true);
    expect(sim.punchHole(total + page, page).ok).toBe(true);
    expect(allocatedBytes(sim)).toBe(total);
    // "fallocate with unaligned size should fail"
    expect(sim.punchHole(page, page - 1)).toMatchObject({ ok: false, errno: 'EINVAL' });
    // "fallocate(PUNCH_HOLE) with aligned offset and size should succeed"
    expect(sim.punchHole(page, page).ok).toBe(true);
    expect(allocatedBytes(sim)).toBe(total - page);
    // "fallocate to restore punched hole should succeed"
    expect(sim.fallocate(page, page).ok).toBe(true);
    expect(allocatedBytes(sim)).toBe(total);
    expect(sim.checkInvariants()).toEqual([]);
  });

  // A PUNCH_HOLE that starts inside the file and runs past EOF frees what is inside (clamped to
  // i_size), on huge-page backed files too (kvm_gmem_truncate_inode_range() of RFC v2).
  it('test_fallocate: a punch running past EOF is clamped to i_size', () => {
    const sim = fileOf(total);
    expect(sim.fallocate(0, total).ok).toBe(true);
    expect(sim.punchHole(2 * page, 4 * page).ok).toBe(true);
    expect(allocatedBytes(sim)).toBe(2 * page);
    const huge = simOf(
      { hugetlb2m: 2 },
      { pageSize: '2m', allocator: 'hugetlb', guestBytes: 4 * MiB },
    );
    expect(huge.fallocate(0, 4 * MiB).ok).toBe(true);
    expect(huge.punchHole(2 * MiB, 4 * MiB).ok).toBe(true);
    expect(allocatedBytes(huge)).toBe(2 * MiB);
    expect(huge.checkInvariants()).toEqual([]);
  });

  // test_invalid_punch_hole(): every offset/len pair that is not PAGE_SIZE aligned fails with
  // EINVAL (kvm_gmem_fallocate(): !PAGE_ALIGNED(offset) || !PAGE_ALIGNED(len)).
  it('test_invalid_punch_hole: unaligned offsets and lengths fail with EINVAL', () => {
    const sim = fileOf(total);
    const cases: [number, number][] = [
      [0, 1],
      [0, page - 1],
      [0, page + 1],
      [1, 1],
      [1, page - 1],
      [1, page],
      [1, page + 1],
      [page, 1],
      [page, page - 1],
      [page, page + 1],
    ];
    for (const [offset, len] of cases) {
      expect(sim.punchHole(offset, len), `${offset}/${len}`).toMatchObject({
        ok: false,
        errno: 'EINVAL',
      });
    }
  });

  // test_fault_private(): with GUEST_MEMFD_FLAG_MMAP but not INIT_SHARED, a host access to the
  // file's (private) pages gets SIGBUS (kvm_gmem_fault_user_mapping()).
  it('test_fault_private: a host fault on a private page fails (SIGBUS)', () => {
    const sim = fileOf(total, { mmap: true, initPrivate: true });
    for (let i = 0; i < total / page; i++) {
      expect(sim.fault(i, 'host', 'write')).toMatchObject({ ok: false, errno: 'EFAULT' });
    }
  });

  // test_mmap_supported() (MMAP | INIT_SHARED): the host faults every shared page in.
  it('test_mmap_supported: an INIT_SHARED file is faulted in by the host', () => {
    const sim = fileOf(total, { mmap: true, initPrivate: false });
    for (let i = 0; i < total / page; i++) expect(sim.fault(i, 'host', 'write').ok).toBe(true);
    expect(allocatedBytes(sim)).toBe(total);
    // "fallocate the first page should succeed" (PUNCH_HOLE of page 0): it is gone, the rest stays.
    expect(sim.punchHole(0, page).ok).toBe(true);
    expect(allocatedBytes(sim)).toBe(total - page);
  });

  // test_mmap_not_supported(): without GUEST_MEMFD_FLAG_MMAP the file cannot be mapped.
  it('test_mmap_not_supported: without MMAP the host cannot fault the file', () => {
    const sim = fileOf(total, { mmap: false, initPrivate: false });
    expect(sim.fault(0, 'host', 'read')).toMatchObject({ ok: false, errno: 'ENODEV' });
  });
});

describe('guest_memfd huge pages and conversions (RFC v2 and its conversion selftests)', () => {
  // truncate_inode_pages_range() (mm/truncate.c), which mainline kvm_gmem_punch_hole() calls for
  // a PAGE_SIZE file, removes a page from the file whatever extra references it has: punching a
  // pinned shared page succeeds. A huge-page backed file gives a huge page back only at the safe
  // refcount (RFC v2 kvm_gmem_truncate_inode_range()), so it keeps EAGAIN.
  it('truncate_inode_pages_range: a pinned shared page of a 4 KiB file is punched; huge-backed files keep EAGAIN', () => {
    const sim = fileOf(total, { mmap: true, initPrivate: false });
    expect(sim.fault(1, 'host', 'write').ok).toBe(true);
    expect(sim.pin(page, page).ok).toBe(true);
    expect(sim.punchHole(page, page).ok).toBe(true);
    expect(allocatedBytes(sim)).toBe(0);
    // The pin's holder still drops its reference afterwards.
    expect(sim.unpin(page, page).ok).toBe(true);
    expect(sim.unpin(page, page)).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(sim.checkInvariants()).toEqual([]);

    const huge = simOf(
      { hugetlb2m: 1 },
      { pageSize: '2m', allocator: 'hugetlb', guestBytes: 2 * MiB, initPrivate: false },
    );
    expect(huge.fault(1, 'host', 'write').ok).toBe(true);
    expect(huge.pin(page, page).ok).toBe(true);
    expect(huge.punchHole(0, 2 * MiB)).toMatchObject({ ok: false, errno: 'EAGAIN' });
    expect(allocatedBytes(huge)).toBe(2 * MiB);
  });

  // kvm_gmem_allocate() in RFC v2 (virt/kvm/guest_memfd.c): with a custom allocator start and
  // end are both round_down() to the folio size, so [1 MiB, 3 MiB) on 2 MiB pages allocates the
  // folio at 0 only, and a range inside one folio allocates nothing.
  it('kvm_gmem_allocate: fallocate rounds the end down to the folio size (HugeTLB)', () => {
    const sim = simOf(
      { hugetlb2m: 4 },
      { pageSize: '2m', allocator: 'hugetlb', guestBytes: 8 * MiB },
    );
    expect(sim.fallocate(1 * MiB, 2 * MiB).ok).toBe(true);
    expect(sim.summary().metrics.folios_2m).toBe(1);
    expect(sim.gmem.layout.isAllocated(0)).toBe(true);
    expect(sim.gmem.layout.isAllocated((2 * MiB) / page)).toBe(false);
    expect(sim.fallocate(4 * MiB + 4 * KiB, 1 * MiB).ok).toBe(true);
    expect(sim.summary().metrics.folios_2m).toBe(1);
  });

  // The RFC v2 conversion ioctl returns 0 for a size of 0 (checked by its conversion selftests,
  // tools/testing/selftests/kvm/guest_memfd_conversions_test.c; the selftest function was not
  // located in the sources read here): nothing converts and no conversion call is counted.
  it('kvm_gmem_convert: a conversion of size 0 returns 0', () => {
    const sim = fileOf(total);
    for (const to of ['shared', 'private'] as const) {
      expect(sim.convert(page, 0, to).ok).toBe(true);
    }
    const s = sim.summary().metrics;
    expect(s.conversions_to_shared + s.conversions_to_private).toBe(0);
    // An unaligned offset is still refused.
    expect(sim.convert(1, 0, 'shared')).toMatchObject({ ok: false, errno: 'EINVAL' });
  });
});
