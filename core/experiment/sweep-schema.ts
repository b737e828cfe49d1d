// The sweep an experiment file keeps (core/experiment/sweep.ts expands it into points).
import { z } from 'zod';

/** Values one axis takes at most. */
export const MAX_AXIS_VALUES = 64;

/** A sweep kept in the experiment file: the axes the workbench runs (and `gmem-lab sweep` runs
 * when given no --param). */
export const SweepSchema = z
  .object({
    axes: z
      .array(
        z
          .object({
            path: z.string().min(1).max(200).meta({
              description:
                'Parameter path, as gmem-lab sweep --param takes it: guest.memoryBytes, guest.vcpus, variants[0].policies.mergeDelayNs, ...',
            }),
            values: z.array(z.unknown()).min(1).max(MAX_AXIS_VALUES).meta({
              description: 'The values the parameter takes, in the field’s own form.',
            }),
          })
          .strict(),
      )
      .min(1)
      .max(2)
      .meta({ description: 'One or two parameters; with two, every combination runs.' }),
    metric: z
      .string()
      .optional()
      .meta({ description: 'Metric the sweep view plots first (a metric name).' }),
  })
  .strict()
  .meta({
    description:
      'Parameters to sweep: the experiment runs once per combination of their values, every variant at each point.',
  });
export type Sweep = z.infer<typeof SweepSchema>;
