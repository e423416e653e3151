/**
 * Debian's Chromium driven by playwright-core, for the browser tests. Without
 * Chromium a browser suite skips with one line, except under CI, where
 * .ci/run installs it and its absence is a failure.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
// Without the networking flags, Chromium floods this closed network with refused connections.
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

if (!existsSync(CHROMIUM) && process.env.CI)
  throw new Error(`browser tests need ${CHROMIUM} (CI is set, so this fails instead of skipping)`);
if (!existsSync(CHROMIUM)) console.warn(`browser tests skipped: ${CHROMIUM} not found (apt-get install -y chromium)`);

export const describeIfChromium = existsSync(CHROMIUM) ? describe : describe.skip;

/** A fresh profile and a headless browser context on it; `close()` removes both. */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'nsa-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
