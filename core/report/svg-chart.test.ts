import { describe, expect, it } from 'vitest';
import { svgLineChart } from './svg-chart.js';

describe('svgLineChart', () => {
  it('draws one polyline per series with a point per sample, axes in the metric unit and a legend', () => {
    const svg = svgLineChart({
      title: 'Host memory <total> & parts',
      unit: 'bytes',
      x: [0, 1e6, 2e6, 3e6],
      series: [
        {
          label: 'private',
          color: '#0072B2',
          values: [0, 1024 ** 3, 2 * 1024 ** 3, 2 * 1024 ** 3],
        },
        { label: 'shared', color: '#E69F00', dash: [6, 3], values: [0, 0, 1024 ** 2, NaN] },
      ],
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('Host memory &lt;total&gt; &amp; parts');
    const polylines = [...svg.matchAll(/<polyline[^>]*points="([^"]*)"/g)].map((m) =>
      m[1]!.split(' '),
    );
    expect(polylines).toHaveLength(2);
    expect(polylines[0]).toHaveLength(4);
    expect(polylines[1]).toHaveLength(3); // NaN dropped
    expect(svg).toContain('stroke-dasharray="6 3"');
    expect(svg).toMatch(/GiB<\/text>/);
    expect(svg).toMatch(/ms<\/text>/);
    expect(svg.match(/<text/g)!.length).toBeGreaterThan(8);
  });

  it('stacks series as filled bands when asked, as the workbench draws parts of a whole', () => {
    const svg = svgLineChart({
      title: 'stacked',
      unit: 'count',
      stacked: true,
      x: [0, 1, 2],
      series: [
        { label: 'a', color: '#0072B2', values: [1, 1, 1] },
        { label: 'b', color: '#E69F00', values: [2, 2, 2] },
      ],
    });
    expect(svg.match(/<polygon/g)).toHaveLength(2);
    // The top of the second band is the sum (3): higher on the page (smaller y) than the first (1).
    const tops = [...svg.matchAll(/<polyline[^>]*points="([^"]*)"/g)].map((m) =>
      Number(m[1]!.split(' ')[0]!.split(',')[1]),
    );
    expect(tops[1]!).toBeLessThan(tops[0]!);
  });

  it('copes with empty and flat series', () => {
    expect(svgLineChart({ title: 't', unit: 'count', x: [], series: [] })).toContain('</svg>');
    expect(
      svgLineChart({
        title: 't',
        unit: 'count',
        x: [0, 1],
        series: [{ label: 'a', color: '#000', values: [5, 5] }],
      }),
    ).toContain('<polyline');
  });

  it('marks phases with a dashed, labelled line at their time, inside the plot only', () => {
    const svg = svgLineChart({
      title: 't',
      unit: 'count',
      x: [0, 1e6, 2e6, 4e6],
      series: [{ label: 'a', color: '#000', values: [0, 1, 2, 3] }],
      marks: [
        { x: 0, label: 'boot' },
        { x: 2e6, label: 'runtime' },
        { x: 9e6, label: 'reboot' }, // past the data: not drawn
      ],
    });
    const lines = [
      ...svg.matchAll(
        /<line x1="([\d.]+)" x2="[\d.]+" y1="\d+" y2="\d+" stroke-dasharray="4 3"><title>(\w+)/g,
      ),
    ];
    expect(lines.map((l) => l[2])).toEqual(['boot', 'runtime']);
    // runtime at 2 ms of 0..4 ms: half way across the plot (left margin 90, width 690).
    expect(Number(lines[1]![1])).toBeCloseTo(90 + 690 / 2, 0);
    expect(svg).toMatch(/<text[^>]*font-size="10"[^>]*>runtime<\/text>/);
    expect(svg).not.toContain('reboot');
  });

  it('draws a logarithmic y axis in decades, leaving out values of 0 and below', () => {
    const svg = svgLineChart({
      title: 't',
      unit: 'count',
      x: [0, 1, 2, 3],
      series: [{ label: 'a', color: '#000', values: [0, 10, 1000, 100000] }],
      logY: true,
    });
    const points = [...svg.matchAll(/<polyline[^>]*points="([^"]*)"/g)][0]![1]!.split(' ');
    expect(points).toHaveLength(3); // the 0 is not drawn
    // Equal ratios are equal distances: 10 -> 1000 -> 100000.
    const ys = points.map((p) => Number(p.split(',')[1]));
    expect(ys[0]! - ys[1]!).toBeCloseTo(ys[1]! - ys[2]!, 0);
    for (const tick of ['10', '100', '1000', '10 k', '100 k'])
      expect(svg, tick).toMatch(new RegExp(`>${tick}[^<]*</text>`));
  });
});
