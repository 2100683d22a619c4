/** Test support: Chromium driven by playwright-core. */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (`.ci/run` installs it); playwright-core never downloads a browser. */
const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here, if they cannot: they are skipped with this reason, never faked. */
export const NO_CHROMIUM = existsSync(CHROMIUM)
  ? undefined
  : `needs Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`;

/** Fails, not skips, when Chromium is there but cannot start. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
