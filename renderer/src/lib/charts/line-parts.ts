// The Chart.js parts every line chart of the workbench needs, on screen and in the PNG exports
// (tree-shaken Chart.js registers nothing by itself).
import {
  Filler,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  LogarithmicScale,
  PointElement,
} from 'chart.js';

export const LINE_CHART_PARTS = [
  LineController,
  LineElement,
  PointElement,
  LinearScale,
  LogarithmicScale,
  Filler,
  Legend,
] as const;
