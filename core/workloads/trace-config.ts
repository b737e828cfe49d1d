// The trace workload's configuration in the experiment file: which trace, how to read it, how its
// guest physical addresses map to guest_memfd offsets, and what replay does around and on errors.
import { z } from 'zod';
import { GiB, PAGE_SIZE } from '../units.js';
import { HIGH_RAM_GPA } from './trace-ops.js';

export const GpaLayoutSchema = z
  .object({
    lowMemBytes: z
      .number()
      .int()
      .min(0)
      .max(HIGH_RAM_GPA)
      .multipleOf(PAGE_SIZE)
      .default(2 * GiB)
      .meta({
        unit: 'bytes',
        description:
          'Guest RAM QEMU maps below 4 GiB (x86: up to the PCI hole); the rest starts at GPA 4 GiB. The q35 machine with 2.75 GiB of RAM or more uses 2 GiB (hw/i386/pc_q35.c), i440fx with 3.5 GiB or more 3 GiB; -machine max-ram-below-4g lowers it. guest_memfd offset = gpa below lowMemBytes, gpa - 4 GiB + lowMemBytes from 4 GiB; a GPA in between (the hole) is an error for its line.',
      }),
  })
  .strict();
export type GpaLayout = z.infer<typeof GpaLayoutSchema>;

export const TRACE_FORMATS = ['qemu', 'qemu-simple', 'tracepoint', 'csv', 'jsonl'] as const;
export type TraceFormat = (typeof TRACE_FORMATS)[number];

export const TraceWorkloadSchema = z
  .object({
    kind: z.literal('trace').meta({ description: 'Workload kind.' }),
    path: z.string().min(1).max(4096).meta({
      description:
        'Trace file, relative to the experiment file: a QEMU log or simple-backend binary trace of kvm_convert_memory events, perf script / trace-cmd report text of the KVM conversion tracepoints, or a CSV / JSONL operation trace (docs/trace-format.md).',
    }),
    format: z
      .enum(['auto', ...TRACE_FORMATS])
      .default('auto')
      .meta({
        description:
          "auto: a QEMU simple-backend file by its header, .csv, .jsonl / .ndjson and .log files by their extension, anything else by its first line; qemu: QEMU's kvm_convert_memory log (log backend); qemu-simple: the same event in QEMU's simple-backend binary file; tracepoint: perf script or trace-cmd report text of kvm:kvm_hypercall (KVM_HC_MAP_GPA_RANGE) and kvm:kvm_vmgexit_msr_protocol_enter (SNP GHCB MSR page-state changes); csv / jsonl: our operation formats.",
      }),
    timing: z.enum(['recorded', 'back-to-back']).default('recorded').meta({
      description:
        "recorded: simulated time advances to each operation's timestamp (deferred merges can run in the gaps); back-to-back: timestamps are ignored and each operation starts when the previous one ends.",
    }),
    gpaLayout: GpaLayoutSchema.default({ lowMemBytes: 2 * GiB }).meta({
      description:
        'How guest physical addresses (QEMU traces, the gpa column) map to guest_memfd offsets.',
    }),
    populate: z.enum(['none', 'fallocate', 'prefault']).default('fallocate').meta({
      description:
        'What the VMM does before the traced operations: nothing (folios appear only on faults in the trace), fallocate the whole file (preallocated guest memory, as QEMU does for HugeTLB backends), or fallocate and pre-fault it (KVM_PRE_FAULT_MEMORY). QEMU traces hold conversions only, so without populating them nothing is split.',
    }),
    onError: z.enum(['stop', 'skip']).default('stop').meta({
      description:
        'What replay does when an operation fails in the model (EINVAL past the end of the guest, EAGAIN on a pinned page, ...): stop the run with the trace line and the error, or count it and go on.',
    }),
  })
  .strict();
export type TraceWorkloadConfig = z.infer<typeof TraceWorkloadSchema>;
