/**
 * How the browser tests start Chromium: Debian's package at /usr/bin/chromium
 * (`.ci/run` installs it; nothing downloads a browser), with the flags this
 * sandbox needs.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium. */
export const CHROMIUM = '/usr/bin/chromium';

/** Whether the browser tests can run; they are skipped, with a message, otherwise. */
export const hasChromium = existsSync(CHROMIUM);

/** Flags for Chromium in this sandbox: no network chatter, no GPU, no sandbox (root). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Warns once per suite that it is skipped because Chromium is missing. */
export function warnIfNoChromium(suite: string): void {
  if (!hasChromium) console.warn(`[${suite}] skipped: ${CHROMIUM} not found (install Debian's chromium: apt-get install -y chromium)`);
}

/** Launches headless Chromium. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}
