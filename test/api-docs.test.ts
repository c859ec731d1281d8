/**
 * GET /docs renders in a real browser (headless Chromium), offline: Swagger UI comes from the
 * swagger-ui-dist package, not a CDN, and shows every operation of GET /openapi.json. A screenshot
 * is saved to test/artifacts/api-docs.png.
 *
 * Chromium comes from test/helpers/chromium.ts (the Debian package, or the one @sparticuz/chromium
 * carries for Linux x64); where none can run this file is skipped, and says so.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDocumentationApp } from '../api/app.ts';
import { projectRoot } from '../shared/config.ts';
import { findChromium } from './helpers/chromium.ts';

const chromiumBinary = await findChromium();

describe.skipIf(!chromiumBinary)(
  chromiumBinary
    ? `API docs in headless Chromium (${chromiumBinary.source})`
    : 'API docs in headless Chromium — SKIPPED: no Chromium for this platform (set CHROMIUM_PATH)',
  () => {
    let server: Server;
    let baseUrl: string;
    let browser: Browser;

    beforeAll(async () => {
      // The docs and the spec touch neither the database nor Temporal.
      const app = createDocumentationApp();
      server = await new Promise<Server>((resolve) => {
        const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s as Server));
      });
      baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      browser = await chromium.launch({ executablePath: chromiumBinary!.executablePath, args: chromiumBinary!.args });
    });

    afterAll(async () => {
      await browser?.close();
      server?.close();
    });

    it('shows every operation of the spec, with no request leaving the machine', async () => {
      const spec = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as {
        openapi: string;
        paths: Record<string, object>;
      };
      expect(spec.openapi).toBe('3.1.0');
      const operationCount = Object.values(spec.paths).reduce((n, item) => n + Object.keys(item).length, 0);

      const page = await browser.newPage();
      const outside: string[] = [];
      page.on('request', (request) => {
        if (!request.url().startsWith(baseUrl) && !request.url().startsWith('data:')) outside.push(request.url());
      });
      await page.goto(`${baseUrl}/docs`);
      await page.waitForSelector('.opblock', { timeout: 30_000 });
      expect(await page.locator('.opblock').count()).toBe(operationCount);
      await expect(page.locator('.info .title').innerText()).resolves.toContain('CareCircle API');
      // The bearer scheme is offered, so a token can be pasted in and requests tried.
      expect(await page.locator('.btn.authorize').count()).toBe(1);
      const artifacts = path.join(projectRoot, 'test', 'artifacts');
      fs.mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: path.join(artifacts, 'api-docs.png'), fullPage: false });
      expect(outside).toEqual([]);
    });
  },
);
