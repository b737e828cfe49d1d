// What the 16 GiB SNP boot preset's results weigh on their way to the renderer: the bridge's
// run.done frames (codec.ts), one per variant, as `gmem-lab serve` broadcasts them, and the
// packed results the workers post to the host before that (typed arrays in the transfer list).
import { encode } from '@contract/codec.js';
import { runVariant } from '../core/experiment/run.js';
import { resultView } from '../main/services/workbench.js';
import { packResult } from '../main/worker/protocol.js';
import type { Figure } from './figures.js';
import { presetExperiment } from './pool.js';

export function benchPayload(figures: Figure[]): void {
  const experiment = presetExperiment('snp-boot-16g-backings');
  let frames = 0;
  let packed = 0;
  let points = 0;
  experiment.variants.forEach((_, i) => {
    const { packed: result, transfer } = packResult(runVariant(experiment, i, {}));
    packed += transfer.reduce((n, b) => n + b.byteLength, 0);
    const view = resultView(i + 1, i, result);
    points = Math.max(points, view.series.timeNs.length);
    const frame = encode({
      event: 'run.done',
      payload: { runId: i + 1, variantIndex: i, status: 'done', result: view },
    });
    frames += typeof frame === 'string' ? new TextEncoder().encode(frame).length : frame.byteLength;
  });
  figures.push({
    name: '16 GiB SNP boot preset: run.done frames to the renderer, 4 variants',
    value: Math.round((frames / 2 ** 20) * 100) / 100,
    unit: 'MiB',
    target: '< 5 MB',
    note: `${points} points a series; worker-to-host typed arrays ${(packed / 2 ** 20).toFixed(2)} MiB`,
  });
}
