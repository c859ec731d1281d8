/**
 * A headless Chromium for the browser tests (Temporal Web UI, API docs), found in this order:
 * CHROMIUM_PATH, the Debian package (/usr/bin/chromium), else the Chromium build that the
 * @sparticuz/chromium npm package carries for Linux x64, so the tests run on a fresh machine after
 * `npm install` with no system packages. Null where none can run (e.g. macOS without Chromium).
 */
import fs from 'node:fs';

export interface ChromiumBinary {
  executablePath: string;
  args: string[];
  source: string;
}

const HEADLESS_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export async function findChromium(): Promise<ChromiumBinary | null> {
  const explicit = process.env.CHROMIUM_PATH;
  if (explicit)
    return fs.existsSync(explicit) ? { executablePath: explicit, args: HEADLESS_ARGS, source: explicit } : null;
  if (fs.existsSync('/usr/bin/chromium')) {
    return { executablePath: '/usr/bin/chromium', args: HEADLESS_ARGS, source: 'Debian chromium' };
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') return null;
  try {
    const { default: packaged } = await import('@sparticuz/chromium');
    return { executablePath: await packaged.executablePath(), args: packaged.args, source: '@sparticuz/chromium' };
  } catch {
    return null;
  }
}
