import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (`.ci/run` installs it); the tests fail, not skip, when it cannot start. */
const CHROMIUM = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
