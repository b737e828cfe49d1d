// The experiment file (`*.gmemlab.json`), format version 2: host, guest, workload, seed and two or
// more variants compared side by side (each whole, or as its differences from a `base` variant:
// variant-base.ts), plus optionally a sweep, the last results and saved chart views.
// This schema is the one source for validation, defaults, the CLI, the setup form and
// docs/experiment-format.md.
import { SweepSchema } from './sweep-schema.js';
import { z } from 'zod';
import { ALLOCATOR_PAGE_SIZES, GmemVariantSchema, HostSchema, VendorSchema } from '../config.js';
import { ChangePteVariantSchema, FaultPathSchema } from '../workloads/fault-path.js';
import { FleetSchema } from '../workloads/fleet.js';
import { LifecycleSchema } from '../workloads/lifecycle.js';
import { TraceWorkloadSchema } from '../workloads/trace.js';
import { SavedResultsSchema } from '../metrics/result.js';
import { GiB, MiB, PAGE_SIZE, bytesOfOrder, formatBytes, orderOfPageSize } from '../units.js';
import { parsePath, withPath } from './param-path.js';
import { baseProblems } from './variant-base.js';

export const FORMAT_NAME = 'gmem-lab-experiment';
/** 2: variants may name a `base` and keep only their differences (a version 1 reader would
 * refuse them); version 1 files are migrated on load (load.ts). */
export const FORMAT_VERSION = 2;

const GuestSchema = z
  .object({
    memoryBytes: z
      .number()
      .int()
      .min(2 * MiB)
      .max(64 * 1024 * GiB)
      .multipleOf(PAGE_SIZE, 'guest RAM is whole 4 KiB pages: use a multiple of 4096 bytes')
      .meta({
        unit: 'bytes',
        description:
          "Guest RAM: the size of its guest_memfd file, whole 4 KiB pages (and a multiple of each variant's backing page size).",
      }),
    vcpus: z.number().int().min(1).max(4096).default(4).meta({
      unit: 'count',
      description: 'Possible vCPUs of the guest (one GHCB page each on SNP).',
    }),
    vendor: VendorSchema.default('snp'),
    memslotGpaBytes: z
      .number()
      .int()
      .nonnegative()
      .default(0)
      .meta({ unit: 'bytes', description: 'Guest physical address where the memslot starts.' }),
  })
  .strict();

/** A variant: one guest_memfd design. Guest size and vendor come from the experiment's guest. */
export const ExperimentVariantSchema = GmemVariantSchema.omit({
  guestBytes: true,
  vendor: true,
  memslotGpaBytes: true,
})
  .extend({
    base: z.string().min(1).max(80).optional().meta({
      description:
        "Name of another variant this one is written as differences from: every field it does not set is the base's (objects field by field, lists and workloadOverrides whole), so a change to the base carries to it.",
    }),
    faultPath: ChangePteVariantSchema.optional().meta({
      description: 'fault-path workload only: the host fault path of an ordinary VM to model.',
    }),
    workloadOverrides: z.record(z.string(), z.json()).default({}).meta({
      description:
        'Workload parameters this variant changes, by parameter path (e.g. {"runtime.guestSharedPool.enabled": true}); the rest of the workload is shared by all variants.',
    }),
  })
  .strict();
export type ExperimentVariant = z.infer<typeof ExperimentVariantSchema>;

export const WorkloadSchema = z.discriminatedUnion('kind', [
  LifecycleSchema,
  FleetSchema,
  TraceWorkloadSchema,
  FaultPathSchema,
]);
export type WorkloadConfig = z.infer<typeof WorkloadSchema>;

const SamplingSchema = z
  .object({
    intervalNs: z.number().int().min(1000).default(1_000_000).meta({
      unit: 'ns',
      description: 'Sample every metric at most this often in simulated time.',
    }),
  })
  .strict();

const SavedViewSchema = z
  .object({
    name: z.string().min(1).max(80).meta({ description: 'Name of the view.' }),
    metrics: z.array(z.string()).max(64).meta({ description: 'Metric names charted in the view.' }),
    mode: z
      .enum(['side-by-side', 'overlay'])
      .default('side-by-side')
      .meta({ description: 'One panel per variant, or all variants in one chart.' }),
  })
  .strict();

export const ExperimentSchema = z
  .object({
    format: z.literal(FORMAT_NAME).meta({ description: 'Always "gmem-lab-experiment".' }),
    version: z.literal(FORMAT_VERSION).meta({
      description: 'Format version of the file; newer versions are refused, older ones migrated.',
    }),
    name: z
      .string()
      .min(1)
      .max(120)
      .meta({ description: 'Title of the experiment, shown in the library.' }),
    notes: z.string().max(20_000).default('').meta({
      description: 'Free text: the question the experiment answers, sources, conclusions.',
    }),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(1)
      .meta({ description: 'Seed of every random draw: same file and seed, same results.' }),
    host: HostSchema.meta({
      description: 'The host every variant runs on: NUMA nodes, HugeTLB pools, CMA areas.',
    }),
    guest: GuestSchema.meta({
      description: 'The guest: its RAM, vCPUs and confidential-computing technology.',
    }),
    workload: WorkloadSchema.meta({
      description: 'What drives the simulation; one kind, chosen by its "kind" field.',
    }),
    sampling: SamplingSchema.default({ intervalNs: 1_000_000 }).meta({
      description: 'How often metrics are sampled into time series.',
    }),
    variants: z
      .array(ExperimentVariantSchema)
      .min(2)
      .max(16)
      .meta({
        description:
          'The designs compared side by side (2 to 16), each a guest_memfd configuration.',
      })
      .refine(
        (vs) => new Set(vs.map((v) => v.name)).size === vs.length,
        'variant names must be unique',
      ),
    sweep: SweepSchema.optional(),
    results: SavedResultsSchema.optional().meta({
      description:
        'The last results, saved with the file; shown as stale when configHash no longer matches.',
    }),
    views: z
      .array(SavedViewSchema)
      .max(32)
      .default([])
      .meta({ description: 'Saved chart views of the compare screen.' }),
  })
  .strict()
  .superRefine((experiment, ctx) => {
    for (const p of baseProblems(experiment.variants)) {
      ctx.addIssue({ code: 'custom', path: parsePath(p.path), message: p.message });
    }
    experiment.variants.forEach((variant, i) => {
      const sizes = ALLOCATOR_PAGE_SIZES[variant.allocator];
      if (!sizes.includes(variant.pageSize)) {
        ctx.addIssue({
          code: 'custom',
          path: ['variants', i, 'pageSize'],
          message: `the ${variant.allocator} allocator cannot back ${variant.pageSize} pages: use ${sizes.join(' or ')}, or another allocator`,
        });
      }
    });
    // guest_memfd of huge pages is made of whole huge pages (the HugeTLB series refuses others).
    experiment.variants.forEach((variant, i) => {
      const unit = bytesOfOrder(orderOfPageSize(variant.pageSize));
      if (experiment.guest.memoryBytes % unit !== 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['variants', i, 'pageSize'],
          message: `guest.memoryBytes (${formatBytes(experiment.guest.memoryBytes)}) is not a multiple of the ${variant.pageSize} backing page size: use a guest size of whole ${variant.pageSize} pages, or a smaller page size`,
        });
      }
    });
    // A CMA variant (raw CMA, or HugeTLB pages from hugetlb_cma=) needs a CMA area somewhere on
    // the host, or every allocation fails.
    const cmaNodes = experiment.host.nodes.flatMap((n, i) => (n.cma ? [i] : []));
    experiment.variants.forEach((variant, i) => {
      const kind = variant.allocator;
      if ((kind === 'cma-raw' || kind === 'hugetlb-cma') && cmaNodes.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['variants', i, 'allocator'],
          message: `${kind} backing needs a CMA area on the host: add one under host.nodes[0].cma (hugetlb_cma=)`,
        });
      }
    });
    experiment.variants.forEach((variant, i) => {
      for (const [path, value] of Object.entries(variant.workloadOverrides)) {
        const at = ['variants', i, 'workloadOverrides', path];
        if (path === 'kind' || path.startsWith('kind.')) {
          ctx.addIssue({
            code: 'custom',
            path: at,
            message: 'a variant cannot change the workload kind',
          });
          continue;
        }
        let next: unknown;
        try {
          next = withPath(experiment.workload, path, value);
        } catch (err) {
          ctx.addIssue({ code: 'custom', path: at, message: (err as Error).message });
          continue;
        }
        const parsed = WorkloadSchema.safeParse(next);
        if (!parsed.success) {
          for (const issue of parsed.error.issues) {
            ctx.addIssue({
              code: 'custom',
              path: at,
              message: `workload.${issue.path.join('.')}: ${issue.message}`,
            });
          }
        }
      }
    });
  });

/** The workload one variant runs: the experiment's, with the variant's overrides applied. */
export function effectiveWorkload(
  experiment: Experiment,
  variant: ExperimentVariant,
): WorkloadConfig {
  let workload: unknown = experiment.workload;
  for (const [path, value] of Object.entries(variant.workloadOverrides))
    workload = withPath(workload, path, value);
  return WorkloadSchema.parse(workload);
}
export type Experiment = z.infer<typeof ExperimentSchema>;
