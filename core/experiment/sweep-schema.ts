// The sweep an experiment file keeps (core/experiment/sweep.ts expands it into points).
import { z } from 'zod';

/** Values one axis takes at most. */
export const MAX_AXIS_VALUES = 64;

const AxisSchema = z
  .object({
    path: z.string().min(1).max(200).meta({
      description:
        'Parameter path, as gmem-lab sweep --param takes it: guest.memoryBytes, guest.vcpus, variants[0].policies.mergeDelayNs, ...',
    }),
    values: z.array(z.unknown()).min(1).max(MAX_AXIS_VALUES).meta({
      description: 'The values the parameter takes, in the field’s own form.',
    }),
  })
  .strict();

/** The last results of a sweep, kept with the file: each run's summary. */
const SweepResultsSchema = z
  .object({
    engineVersion: z.string().meta({ description: 'Version of the engine that ran the sweep.' }),
    configHash: z.string().meta({
      description:
        'Hash of the configuration the sweep ran on (the sweep itself left out): results are stale when it no longer matches.',
    }),
    createdAt: z.string().meta({ description: 'When the sweep ran (ISO 8601).' }),
    axes: z.array(AxisSchema).min(1).max(2).meta({ description: 'The axes the rows belong to.' }),
    rows: z
      .array(
        z
          .object({
            point: z
              .number()
              .int()
              .nonnegative()
              .meta({ description: 'Index of the point, in the sweep’s order.' }),
            params: z
              .record(z.string(), z.unknown())
              .meta({ description: 'The swept values at the point, by parameter path.' }),
            variantIndex: z
              .number()
              .int()
              .min(0)
              .max(15)
              .meta({ description: 'Index of the variant.' }),
            variant: z.string().meta({ description: 'Name of the variant.' }),
            summary: z
              .record(z.string(), z.number())
              .optional()
              .meta({ description: 'Final value of every metric; absent when the run failed.' }),
            error: z.string().optional().meta({ description: 'Why the run failed, when it did.' }),
          })
          .strict(),
      )
      .max(MAX_AXIS_VALUES * MAX_AXIS_VALUES * 16)
      .meta({
        description:
          'One row per point and variant: the swept values, the final value of every metric, or why the run failed.',
      }),
  })
  .strict();

/** A sweep kept in the experiment file: the axes the workbench runs (and `gmem-lab sweep` runs
 * when given no --param). */
export const SweepSchema = z
  .object({
    axes: z
      .array(AxisSchema)
      .min(1)
      .max(2)
      .meta({ description: 'One or two parameters; with two, every combination runs.' }),
    metric: z
      .string()
      .optional()
      .meta({ description: 'Metric the sweep view plots first (a metric name).' }),
    results: SweepResultsSchema.optional().meta({
      description: 'The last results of the sweep, shown again when the file is reopened.',
    }),
  })
  .strict()
  .meta({
    description:
      'Parameters to sweep: the experiment runs once per combination of their values, every variant at each point.',
  });
export type Sweep = z.infer<typeof SweepSchema>;
