// Metric and latency positions (METRIC_INDEX, LATENCY_INDEX), resolved once: guest_memfd's hot
// paths add by index, not by name.
import { LATENCY_INDEX, METRIC_INDEX } from '../metrics/definitions.js';

export const M_ALLOC_FAILURES = METRIC_INDEX.alloc_failures;
export const M_CYCLES_TOTAL = METRIC_INDEX.cycles_total;
export const M_EAGAIN_FAILURES = METRIC_INDEX.eagain_failures;
export const M_FAILED_OPERATIONS = METRIC_INDEX.failed_operations;
export const M_FREED_BYTES = METRIC_INDEX.freed_bytes;
export const M_INVALIDATIONS = METRIC_INDEX.invalidations;
export const M_MERGES_CANCELLED = METRIC_INDEX.merges_cancelled;
export const M_MERGES_DEFERRED = METRIC_INDEX.merges_deferred;
export const M_MMU_LOCK_WRITE = METRIC_INDEX.mmu_lock_write;
export const M_PUNCHED_BYTES = METRIC_INDEX.punched_bytes;
export const M_REFUSED_CONVERSIONS = METRIC_INDEX.refused_conversions;
export const M_TDP_FAULTS = METRIC_INDEX.tdp_faults;
export const M_THP_FALLBACKS = METRIC_INDEX.thp_fallbacks;
export const M_VM_EXITS = METRIC_INDEX.vm_exits;
export const M_RMP_PSMASHES = METRIC_INDEX.rmp_psmashes;
export const M_CONVERSIONS_TO_SHARED = METRIC_INDEX.conversions_to_shared;
export const M_CONVERSIONS_TO_PRIVATE = METRIC_INDEX.conversions_to_private;
export const M_CONVERTED_TO_SHARED_BYTES = METRIC_INDEX.converted_to_shared_bytes;
export const M_CONVERTED_TO_PRIVATE_BYTES = METRIC_INDEX.converted_to_private_bytes;
export const M_SPLITS_1G = METRIC_INDEX.splits_1g;
export const M_SPLITS_2M = METRIC_INDEX.splits_2m;
export const M_MERGES_1G = METRIC_INDEX.merges_1g;
export const M_MERGES_2M = METRIC_INDEX.merges_2m;

/** Cycle categories: the metric each one is charged to. */
export const C_CONVERSION = METRIC_INDEX.cycles_conversion;
export const C_SPLIT = METRIC_INDEX.cycles_split;
export const C_MERGE = METRIC_INDEX.cycles_merge;
export const C_VMEMMAP = METRIC_INDEX.cycles_vmemmap;
export const C_ALLOCATION = METRIC_INDEX.cycles_allocation;
export const C_MIGRATION = METRIC_INDEX.cycles_migration;
export const C_ZEROING = METRIC_INDEX.cycles_zeroing;
export const C_FAULT = METRIC_INDEX.cycles_fault;

/** Latency distributions (LATENCY_INDEX); -1: the operation records none. */
export const L_NONE = -1;
export const L_CONVERT = LATENCY_INDEX.convert;
export const L_FALLOCATE = LATENCY_INDEX.fallocate;
export const L_PUNCH_HOLE = LATENCY_INDEX.punch_hole;
export const L_FAULT = LATENCY_INDEX.fault;
export const L_ALLOCATE = LATENCY_INDEX.allocate;
export const L_MERGE = LATENCY_INDEX.merge;
export const L_SPLIT = LATENCY_INDEX.split;
