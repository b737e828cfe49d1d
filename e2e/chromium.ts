// Debian's Chromium for the end-to-end suite: never a downloaded browser. .ci/run installs it
// when missing; where it is still missing the suite is skipped with this reason.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env['GMEMLAB_CHROMIUM'] ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const chromiumMissing = !existsSync(CHROMIUM);

export const SKIP_REASON = `e2e skipped: ${CHROMIUM} not found; .ci/run installs it with apt-get install chromium`;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}
