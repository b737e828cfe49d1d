// The colours charts are drawn in, per resolved theme: on screen (App.svelte, MetricChart.svelte)
// and in exported PNG/SVG files alike. They are the --panel and --fg tokens of styles.css.
import type { ResolvedTheme } from '@contract/api';
import type { Theme } from '../export/export';

export const CHART_THEMES: Readonly<Record<ResolvedTheme, Theme>> = {
  light: { background: '#ffffff', foreground: '#1d2330' },
  dark: { background: '#161a21', foreground: '#dde3ea' },
};
