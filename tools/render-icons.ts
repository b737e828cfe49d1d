// Renders resources/icons/icon.svg to resources/icons/icon.png (512x512, transparent corners) in
// Debian's Chromium (playwright-core, never a downloaded browser). electron-builder makes the
// .icns (macOS), .ico (Windows) and the Linux icon sizes from that PNG.
// Run: npm run icons
import { readFile, writeFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';

const SIZE = 512;
const CHROMIUM = process.env['GMEMLAB_CHROMIUM'] ?? '/usr/bin/chromium';
const svgUrl = new URL('../resources/icons/icon.svg', import.meta.url);
const pngUrl = new URL('../resources/icons/icon.png', import.meta.url);

const svg = await readFile(svgUrl);
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
});
try {
  const page = await browser.newPage({
    viewport: { width: SIZE, height: SIZE },
    deviceScaleFactor: 1,
  });
  const src = `data:image/svg+xml;base64,${svg.toString('base64')}`;
  await page.setContent(
    `<html><body style="margin:0;background:transparent"><img src="${src}" width="${SIZE}" height="${SIZE}" style="display:block"></body></html>`,
  );
  await page.waitForFunction(() => document.images[0]?.complete === true);
  const png = await page.screenshot({ omitBackground: true, type: 'png' });
  await writeFile(pngUrl, png);
  console.log(`wrote ${pngUrl.pathname} (${png.length} bytes)`);
} finally {
  await browser.close();
}
