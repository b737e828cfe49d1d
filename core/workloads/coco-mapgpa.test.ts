// TDX MapGPA (arch/x86/kvm/vmx/tdx.c): the guest's TDG.VP.VMCALL<MapGPA> is one VM exit; KVM
// hands the range to the VMM in TDX_MAP_GPA_MAX_LEN (2 MiB) chunks, one KVM_EXIT_HYPERCALL each
// (__tdx_map_gpa()), and tdx_complete_vmcall_map_gpa() goes on to the next chunk on the next
// KVM_RUN without re-entering the guest. Guest exits and exits to userspace are counted apart.
import { describe, expect, it } from 'vitest';
import { Rng } from '../rng.js';
import { simOf } from '../sim/test-helpers.js';
import { GiB, MiB } from '../units.js';
import { CocoGuest } from './coco-guest.js';
import { WorkloadContext } from './context.js';

function tdxGuest() {
  const sim = simOf(
    { hugetlb2m: 512 + 16 },
    { allocator: 'hugetlb', pageSize: '2m', vendor: 'tdx', guestBytes: 1 * GiB },
  );
  const ctx = new WorkloadContext(sim, new Rng(1), { sampleIntervalNs: 1e6 });
  const guest = new CocoGuest(
    ctx,
    { memoryBytes: 1 * GiB, vcpus: 4, vendor: 'tdx' },
    { acceptPageSize: '2m', largePscEntries: true },
  );
  return { sim, guest };
}

describe('tdx_complete_vmcall_map_gpa', () => {
  it('one MapGPA of 65 MiB is one guest exit and 33 exits to the VMM, one conversion call each', () => {
    const { sim, guest } = tdxGuest();
    const before = {
      vm: sim.metrics.get('vm_exits'),
      calls: sim.metrics.get('conversions_to_shared'),
    };
    expect(guest.share(0, 65 * MiB).ok).toBe(true);
    // ceil(65 MiB / 2 MiB) = 33 chunks, the last one 1 MiB.
    expect(sim.metrics.get('mapgpa_guest_exits')).toBe(1);
    expect(sim.metrics.get('mapgpa_userspace_exits')).toBe(33);
    expect(sim.metrics.get('conversions_to_shared') - before.calls).toBe(33);
    // Only the TDVMCALL is a VM exit; the chunks are exits from KVM_RUN to the VMM.
    expect(sim.metrics.get('vm_exits') - before.vm).toBe(1);
  });

  it('a range of one chunk or less is one guest exit and one exit to the VMM', () => {
    const { sim, guest } = tdxGuest();
    expect(guest.share(4 * MiB, 4096).ok).toBe(true);
    expect(guest.share(8 * MiB, 2 * MiB).ok).toBe(true);
    expect(sim.metrics.get('mapgpa_guest_exits')).toBe(2);
    expect(sim.metrics.get('mapgpa_userspace_exits')).toBe(2);
  });

  it('the two counts are separate metrics of the summary', () => {
    const { sim, guest } = tdxGuest();
    guest.share(0, 8 * MiB);
    const s = sim.summary().metrics;
    expect(s.mapgpa_guest_exits).toBe(1);
    expect(s.mapgpa_userspace_exits).toBe(4);
  });
});
