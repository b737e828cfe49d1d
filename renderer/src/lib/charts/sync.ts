// One crosshair and one zoom/pan range shared by every chart of the compare view.
import type { Chart, Plugin } from 'chart.js';

export class ChartSync {
  private readonly charts = new Set<Chart>();
  /** x value (ns) under the pointer, or null. */
  crosshair: number | null = null;
  /** Shared x range (ns), or null for the full range. */
  range: { min: number; max: number } | null = null;
  /** The full range every chart shows when not zoomed. */
  fullMax: number | undefined = undefined;
  private syncing = false;

  register(chart: Chart): () => void {
    this.charts.add(chart);
    if (this.range) this.apply(chart);
    return () => this.charts.delete(chart);
  }

  setCrosshair(x: number | null, from: Chart): void {
    this.crosshair = x;
    for (const c of this.charts) if (c !== from) c.draw();
  }

  setRange(range: { min: number; max: number } | null, from?: Chart): void {
    if (this.syncing) return;
    this.range = range;
    this.syncing = true;
    try {
      for (const c of this.charts) if (c !== from) this.apply(c);
    } finally {
      this.syncing = false;
    }
  }

  private apply(chart: Chart): void {
    const x = chart.options.scales?.['x'];
    if (!x) return;
    x.min = this.range?.min ?? 0;
    x.max = this.range?.max ?? this.fullMax;
    chart.update('none');
  }

  /** The Chart.js plugin drawing the shared crosshair and reporting the pointer. */
  plugin(): Plugin {
    return {
      id: 'gmemlabSync',
      afterEvent: (chart, args) => {
        const e = args.event;
        const x = chart.scales['x'];
        if (!x) return;
        if (e.type === 'mouseout') this.setCrosshair(null, chart);
        else if (e.type === 'mousemove' && e.x !== null) {
          this.crosshair = x.getValueForPixel(e.x) ?? null;
          for (const c of this.charts) if (c !== chart) c.draw();
          args.changed = true;
        }
      },
      afterDatasetsDraw: (chart) => {
        const x = chart.scales['x'];
        if (this.crosshair === null || !x) return;
        const px = x.getPixelForValue(this.crosshair);
        const { top, bottom, left, right } = chart.chartArea;
        if (px < left || px > right) return;
        const ctx = chart.ctx;
        ctx.save();
        ctx.strokeStyle = 'rgba(127,127,127,0.8)';
        ctx.setLineDash([4, 3]);
        ctx.beginPath();
        ctx.moveTo(px, top);
        ctx.lineTo(px, bottom);
        ctx.stroke();
        ctx.restore();
      },
    };
  }
}

/** Fills the canvas before drawing, so PNG exports are opaque (toBase64Image keeps alpha). */
export function backgroundPlugin(color: string): Plugin {
  return {
    id: 'gmemlabBackground',
    beforeDraw: (chart) => {
      const ctx = chart.ctx;
      ctx.save();
      ctx.globalCompositeOperation = 'destination-over';
      ctx.fillStyle = color;
      ctx.fillRect(0, 0, chart.width, chart.height);
      ctx.restore();
    },
  };
}

/** A moment on the time axis the chart marks with a dashed line and its name (a phase began). */
export interface TimeMark {
  readonly x: number;
  readonly label: string;
}

/** Dashed vertical lines at the marks `marks()` gives, each named at the top of the plot; a
 * name that would overlap the one before it is left out (the line stays). */
export function timeMarksPlugin(marks: () => readonly TimeMark[], color: string): Plugin {
  return {
    id: 'gmemlabTimeMarks',
    afterDatasetsDraw: (chart) => {
      const list = marks();
      const x = chart.scales['x'];
      if (list.length === 0 || !x) return;
      const { top, bottom, left, right } = chart.chartArea;
      const ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.setLineDash([4, 3]);
      ctx.lineWidth = 1;
      ctx.font = '10px sans-serif';
      ctx.textBaseline = 'top';
      let labelEnd = -Infinity;
      for (const m of list) {
        const px = x.getPixelForValue(m.x);
        if (px < left - 0.5 || px > right + 0.5) continue;
        ctx.beginPath();
        ctx.moveTo(px, top);
        ctx.lineTo(px, bottom);
        ctx.stroke();
        const width = ctx.measureText(m.label).width;
        if (px + 2 >= labelEnd && px + 2 + width <= right) {
          ctx.fillText(m.label, px + 2, top + 1);
          labelEnd = px + 2 + width + 6;
        }
      }
      ctx.restore();
    },
  };
}
