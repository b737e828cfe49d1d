import { describe, expect, it } from 'vitest';
import { render } from 'vitest-browser-svelte';
import SummaryTable from './SummaryTable.svelte';
import type { RunResultView } from '@contract/api';

function result(name: string, metrics: Record<string, number>, index = 0): RunResultView {
  return {
    runId: index + 1,
    name,
    variantIndex: index,
    summary: { metrics, nodeBytes: [] },
    endNs: 1e9,
    series: {
      timeNs: new Float64Array([0, 1e9]),
      names: [],
      values: [],
      nodeBytes: [],
      fullLength: 2,
    },
  };
}

describe('SummaryTable', () => {
  it('shows every non-zero counter for every variant, formatted in its unit, best value marked', async () => {
    const screen = await render(SummaryTable, {
      results: [
        result(
          'HugeTLB 1 GiB',
          { host_total_bytes: 16 * 1024 ** 3, splits_1g: 14, pages_2m: 0 },
          0,
        ),
        result(
          'HugeTLB 2 MiB',
          { host_total_bytes: 17 * 1024 ** 3, splits_1g: 0, pages_2m: 128 },
          1,
        ),
      ],
    });
    const rows = screen.container.querySelectorAll('tbody tr');
    const byMetric = new Map([...rows].map((r) => [r.querySelector('th')!.textContent!.trim(), r]));
    expect(byMetric.get('host_total_bytes')!.textContent).toContain('16 GiB');
    expect(byMetric.get('host_total_bytes')!.textContent).toContain('17 GiB');
    // Lower memory is better: the first column is marked.
    const cells = byMetric.get('host_total_bytes')!.querySelectorAll('td.num');
    expect(cells[0]!.classList.contains('best')).toBe(true);
    expect(cells[1]!.classList.contains('best')).toBe(false);
    // Higher is better for 2 MiB mappings.
    expect(
      byMetric.get('pages_2m')!.querySelectorAll('td.num')[1]!.classList.contains('best'),
    ).toBe(true);
    // Rows that are 0 everywhere are hidden by default.
    expect(byMetric.has('splits_2m')).toBe(false);
    // Each metric carries its one-line definition on hover.
    expect(byMetric.get('splits_1g')!.querySelector('abbr')!.getAttribute('title')).toMatch(
      /1 GiB folios/,
    );
  });

  it('adds a row per phase for the phase counters, with the phase in its definition', async () => {
    const phases = (boot: number, runtime: number) => [
      { name: 'boot', count: 1, durationNs: 1e8, metrics: { splits_2m: boot } },
      { name: 'runtime', count: 1, durationNs: 1e8, metrics: { splits_2m: runtime } },
    ];
    const a = result('HugeTLB 2 MiB', { splits_2m: 520 }, 0);
    const b = result('THP 2 MiB', { splits_2m: 530 }, 1);
    const screen = await render(SummaryTable, {
      results: [
        { ...a, summary: { ...a.summary, phases: phases(518, 2) } },
        { ...b, summary: { ...b.summary, phases: phases(518, 12) } },
      ],
    });
    const rows = [...screen.container.querySelectorAll('tbody tr')];
    const byMetric = new Map(rows.map((r) => [r.querySelector('th')!.textContent!.trim(), r]));
    expect(byMetric.get('splits_2m@boot')!.textContent).toMatch(/518[\s\S]*518/);
    expect(byMetric.get('splits_2m@runtime')!.textContent).toMatch(/2[\s\S]*12/);
    expect(byMetric.get('splits_2m@runtime')!.querySelector('abbr')!.getAttribute('title')).toMatch(
      /during the runtime phase/,
    );
    // Phase rows follow the totals.
    const keys = [...byMetric.keys()];
    expect(keys.indexOf('splits_2m@boot')).toBeGreaterThan(keys.indexOf('splits_2m'));
  });

  it('can show only the rows that differ', async () => {
    const screen = await render(SummaryTable, {
      results: [
        result('a', { splits_1g: 3, vm_exits: 10 }, 0),
        result('b', { splits_1g: 3, vm_exits: 12 }, 1),
      ],
    });
    await screen.getByLabelText('only rows that differ').click();
    const names = [...screen.container.querySelectorAll('tbody th')].map((th) =>
      th.textContent!.trim(),
    );
    expect(names).toEqual(['vm_exits']);
  });

  it('compares every variant with the baseline: the first, or the one picked', async () => {
    const screen = await render(SummaryTable, {
      results: [
        result('HugeTLB 1 GiB', { splits_1g: 4, host_total_bytes: 16 * 1024 ** 3 }, 0),
        result('CMA 1 GiB', { splits_1g: 6, host_total_bytes: 16 * 1024 ** 3 + 2 ** 21 }, 1),
      ],
    });
    const header = () =>
      [...screen.container.querySelectorAll('thead th')].map((th) => th.textContent!.trim());
    const cellsOf = (metric: string) => {
      const row = [...screen.container.querySelectorAll('tbody tr')].find(
        (r) => r.querySelector('th')!.textContent!.trim() === metric,
      )!;
      return [...row.querySelectorAll('td.delta')];
    };
    expect(header()).toEqual([
      'metric',
      'unit',
      'HugeTLB 1 GiB (baseline)',
      'CMA 1 GiB',
      'Δ CMA 1 GiB',
      '× CMA 1 GiB',
    ]);
    // More splits and more memory: worse, in red.
    const [delta, ratio] = cellsOf('splits_1g');
    expect(delta!.textContent).toMatch(/^\+2/);
    expect(ratio!.textContent).toBe('x1.5');
    expect(delta!.classList.contains('worse')).toBe(true);
    expect(cellsOf('host_total_bytes')[0]!.textContent).toMatch(/^\+2 MiB/);
    // The other way round, the same difference is better.
    await screen.getByLabelText('Baseline variant').selectOptions('CMA 1 GiB');
    expect(header()).toContain('Δ HugeTLB 1 GiB');
    const [flipped] = cellsOf('splits_1g');
    expect(flipped!.textContent).toMatch(/^-2/);
    expect(flipped!.classList.contains('better')).toBe(true);
    await screen.getByLabelText('Baseline variant').selectOptions('none');
    expect(header().some((h) => h.startsWith('Δ'))).toBe(false);
  });

  it('keeps a failed variant in its place as a column that says "failed" and why, never best', async () => {
    const screen = await render(SummaryTable, {
      results: [
        result('HugeTLB 2 MiB', { splits_2m: 5 }, 0),
        result('THP 2 MiB', { splits_2m: 7 }, 2),
      ],
      failed: [{ name: 'HugeTLB 1 GiB', variantIndex: 1, reason: 'ENOMEM: no 1 GiB pages' }],
    });
    const names = [...screen.container.querySelectorAll('thead th.num')]
      .slice(0, 3)
      .map((th) => th.textContent!.trim());
    expect(names).toEqual(['HugeTLB 2 MiB (baseline)', 'HugeTLB 1 GiB', 'THP 2 MiB']);
    const row = [...screen.container.querySelectorAll('tbody tr')].find(
      (r) => r.querySelector('th')!.textContent!.trim() === 'splits_2m',
    )!;
    const cells = [...row.querySelectorAll('td.num')];
    expect(cells[1]!.textContent!.trim()).toBe('failed');
    expect(cells[1]!.getAttribute('title')).toBe('ENOMEM: no 1 GiB pages');
    expect(row.querySelectorAll('td.best')).toHaveLength(1);
    expect(cells[0]!.classList.contains('best')).toBe(true);
    expect(screen.container.querySelector('.failures')!.textContent).toContain(
      'HugeTLB 1 GiB failed: ENOMEM: no 1 GiB pages',
    );
  });
});
