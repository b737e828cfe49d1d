// The window's size and position across runs: what to save when it closes (its normal bounds and
// whether it was maximized) and where to open it next time, kept on a screen that still exists.
// Plain functions over rectangles, tested without Electron (window-state.test.ts).
import type { WindowState } from '../services/settings-store.js';

export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface WindowSizes {
  readonly width: number;
  readonly height: number;
  readonly minWidth: number;
  readonly minHeight: number;
}

export interface RestoredWindow {
  /** Bounds for the BrowserWindow constructor: x and y only when the place is on a screen. */
  readonly bounds: { x?: number; y?: number; width: number; height: number };
  readonly maximized: boolean;
}

/** How much of the window must be on a screen (its title bar, at least) to open it there. */
const VISIBLE_WIDTH = 120;
const VISIBLE_HEIGHT = 40;

/** Where and how large to open the window, from the saved state and the screens' work areas. */
export function restoreWindow(
  saved: WindowState | undefined,
  workAreas: readonly Rect[],
  sizes: WindowSizes,
): RestoredWindow {
  if (!saved) return { bounds: { width: sizes.width, height: sizes.height }, maximized: false };
  const maxWidth = Math.max(sizes.minWidth, ...workAreas.map((a) => a.width));
  const maxHeight = Math.max(sizes.minHeight, ...workAreas.map((a) => a.height));
  const width = clamp(Math.round(saved.width), sizes.minWidth, maxWidth);
  const height = clamp(Math.round(saved.height), sizes.minHeight, maxHeight);
  const rect = { x: Math.round(saved.x), y: Math.round(saved.y), width, height };
  // The top strip (title bar) must be on a screen, or the window could not be moved back.
  const titleBar = { ...rect, height: Math.min(rect.height, VISIBLE_HEIGHT) };
  const onScreen = workAreas.some((area) => {
    const o = overlap(titleBar, area);
    return o.width >= Math.min(VISIBLE_WIDTH, rect.width) && o.height >= titleBar.height / 2;
  });
  return {
    bounds: onScreen ? rect : { width, height },
    maximized: saved.maximized,
  };
}

/** What to save of a window: its normal bounds (the size it returns to when unmaximized). */
export function captureWindow(window: {
  getNormalBounds(): Rect;
  isMaximized(): boolean;
}): WindowState {
  const b = window.getNormalBounds();
  return {
    x: Math.round(b.x),
    y: Math.round(b.y),
    width: Math.max(1, Math.round(b.width)),
    height: Math.max(1, Math.round(b.height)),
    maximized: window.isMaximized(),
  };
}

function overlap(a: Rect, b: Rect): { width: number; height: number } {
  const width = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const height = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return { width: Math.max(0, width), height: Math.max(0, height) };
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
