import { describe, expect, it } from 'vitest';
import { captureWindow, restoreWindow } from './window-state.js';

const SIZES = { width: 1400, height: 900, minWidth: 800, minHeight: 560 };
const LAPTOP = { x: 0, y: 0, width: 1920, height: 1050 };
const RIGHT = { x: 1920, y: 0, width: 2560, height: 1400 };

describe('restoreWindow', () => {
  it('opens at the default size the first time', () => {
    expect(restoreWindow(undefined, [LAPTOP], SIZES)).toEqual({
      bounds: { width: 1400, height: 900 },
      maximized: false,
    });
  });

  it('opens where it was when that place is on a screen, maximized if it was', () => {
    const saved = { x: 2000, y: 100, width: 1600, height: 1000, maximized: true };
    expect(restoreWindow(saved, [LAPTOP, RIGHT], SIZES)).toEqual({
      bounds: { x: 2000, y: 100, width: 1600, height: 1000 },
      maximized: true,
    });
  });

  it('drops the position when its screen is gone, and keeps the size within the screens', () => {
    const saved = { x: 2000, y: 100, width: 2400, height: 1300, maximized: false };
    expect(restoreWindow(saved, [LAPTOP], SIZES)).toEqual({
      bounds: { width: 1920, height: 1050 },
      maximized: false,
    });
  });

  it('drops a position whose title bar is off every screen', () => {
    const above = { x: 100, y: -500, width: 1000, height: 700, maximized: false };
    expect(restoreWindow(above, [LAPTOP], SIZES).bounds).toEqual({ width: 1000, height: 700 });
    const farLeft = { x: -990, y: 10, width: 1000, height: 700, maximized: false };
    expect(restoreWindow(farLeft, [LAPTOP], SIZES).bounds).toEqual({ width: 1000, height: 700 });
    const partly = { x: -500, y: 10, width: 1000, height: 700, maximized: false };
    expect(restoreWindow(partly, [LAPTOP], SIZES).bounds).toEqual({
      x: -500,
      y: 10,
      width: 1000,
      height: 700,
    });
  });

  it('never opens smaller than the minimum size', () => {
    const tiny = { x: 10, y: 10, width: 20, height: 20, maximized: false };
    expect(restoreWindow(tiny, [LAPTOP], SIZES).bounds).toEqual({
      x: 10,
      y: 10,
      width: 800,
      height: 560,
    });
  });
});

describe('captureWindow', () => {
  it('saves the normal bounds, rounded, and whether it is maximized', () => {
    const state = captureWindow({
      getNormalBounds: () => ({ x: 10.4, y: 20.6, width: 1200.2, height: 799.9 }),
      isMaximized: () => true,
    });
    expect(state).toEqual({ x: 10, y: 21, width: 1200, height: 800, maximized: true });
  });
});
