/**
 * The Temporal Web UI, in a real browser: a medication created through the API is found in the
 * UI's workflow list by its search attributes (and another circle's is not), its detail page shows
 * the attributes and the workflow summary the API gave it, and screenshots are saved to
 * test/artifacts/.
 *
 * Chromium comes from test/helpers/chromium.ts (CHROMIUM_PATH, the Debian package, or the build
 * @sparticuz/chromium carries for Linux x64), driven by playwright-core (never `npx playwright
 * install`). Where none can run, this file is skipped, and says so.
 */
import fs from 'node:fs';
import { freePort } from '../shared/free-port.ts';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities/index.ts';
import { createApp } from '../api/app.ts';
import { startTemporalDevServer, type TemporalDevServer } from '../dev/temporal-dev-server.ts';
import { OutboxEmailSender, OutboxPushSender } from '../providers/dev-outbox.ts';
import { projectRoot } from '../shared/config.ts';
import { searchAttributeDefinitions } from '../shared/search-attributes.ts';
import { createWorker } from './helpers/workers.ts';
import { asUser, testTokens } from './helpers/api-auth.ts';
import { findChromium } from './helpers/chromium.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';

const chromiumBinary = await findChromium();
const ARTIFACTS = path.join(projectRoot, 'test', 'artifacts');
const TASK_QUEUE = 'medication-reminders-ui';
const NAMESPACE = 'default';

describe.skipIf(!chromiumBinary)(
  chromiumBinary
    ? 'Temporal Web UI in headless Chromium'
    : 'Temporal Web UI in headless Chromium — SKIPPED: no Chromium for this platform (set CHROMIUM_PATH)',
  () => {
    let dataDir: string;
    let server: TemporalDevServer;
    let db: TestDatabase;
    let connection: Connection;
    let nativeConnection: NativeConnection;
    let worker: Worker;
    let workerRun: Promise<void>;
    let browser: Browser;
    let page: Page;
    let app: ReturnType<typeof createApp>;

    beforeAll(async () => {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carecircle-ui-'));
      const [port, uiPort] = [await freePort(), await freePort()];
      [server, db] = await Promise.all([
        startTemporalDevServer({
          dataDir,
          port,
          uiPort,
          namespace: NAMESPACE,
          searchAttributes: searchAttributeDefinitions,
        }),
        createTestDatabase(),
      ]);
      connection = await Connection.connect({ address: server.address });
      const temporal = new Client({ connection, namespace: NAMESPACE });
      nativeConnection = await NativeConnection.connect({ address: server.address });
      const prisma = db.prisma;
      worker = await createWorker(
        { nativeConnection, namespace: NAMESPACE },
        {
          taskQueue: TASK_QUEUE,
          production: {},
          activities: createActivities({
            prisma,
            push: new OutboxPushSender(prisma),
            email: new OutboxEmailSender(prisma),
          }),
        },
      );
      workerRun = worker.run();
      app = createApp({ prisma, temporal, taskQueue: TASK_QUEUE, devOutbox: true, tokens: testTokens() });
      browser = await chromium.launch({ executablePath: chromiumBinary!.executablePath, args: chromiumBinary!.args });
      page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      fs.mkdirSync(ARTIFACTS, { recursive: true });
    });

    afterAll(async () => {
      await browser?.close();
      worker?.shutdown();
      await workerRun;
      await nativeConnection?.close();
      await connection?.close();
      await server?.stop();
      await db?.drop();
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    });

    /** A POST as `userId` that must create something. */
    const postAs = async <T>(userId: string, url: string, body: unknown): Promise<T> => {
      const res = await (await asUser(app, userId)).post(url, body);
      expect(res.status, `${url}: ${await res.clone().text()}`).toBe(201);
      return (await res.json()) as T;
    };

    /** A circle created by its own caregiver, with a patient and a medication. */
    async function createMedication(family: string) {
      const caregiver = `${family.split(' ')[0]!.toLowerCase()}-caregiver`;
      const post = <T>(url: string, body: unknown) => postAs<T>(caregiver, url, body);
      const circle = await post<{ id: string }>('/v1/care-circles', { name: family });
      const patient = await post<{ id: string }>(`/v1/care-circles/${circle.id}/members`, {
        name: 'Grandma',
        role: 'patient',
        timezone: 'Europe/Paris',
        email: 'grandma@example.com',
      });
      const medication = await post<{ id: string; workflowId: string }>('/v1/medications', {
        careCircleId: circle.id,
        patientId: patient.id,
        name: 'Metformin',
        dosage: '500 mg',
        schedule: { times: ['08:00', '20:00'] },
      });
      return { circleId: circle.id, patientId: patient.id, workflowId: medication.workflowId };
    }

    it('finds a medication schedule by CareCircleId and PatientId, and shows its attributes and summary', async () => {
      const mine = await createMedication('Smith family');
      const theirs = await createMedication('Jones family');

      const query = `CareCircleId = "${mine.circleId}" AND PatientId = "${mine.patientId}"`;
      await page.goto(`${server.uiUrl}/namespaces/${NAMESPACE}/workflows?query=${encodeURIComponent(query)}`);
      const row = page.getByRole('link', { name: mine.workflowId, exact: true });
      await row.waitFor({ timeout: 30_000 });
      expect(await page.getByText('1 Workflow', { exact: true }).count()).toBe(1);
      expect(await page.getByText(theirs.workflowId).count()).toBe(0);
      const listShot = path.join(ARTIFACTS, 'web-ui-workflows-by-search-attributes.png');
      await page.screenshot({ path: listShot });

      // Its page: the search attributes and the summary the API set.
      await row.click();
      await page.getByRole('heading', { name: mine.workflowId }).waitFor({ timeout: 30_000 });
      await page
        .getByRole('link', { name: 'Search Attributes' })
        .or(page.getByRole('tab', { name: 'Search Attributes' }))
        .first()
        .click();
      await page.getByText(mine.circleId).first().waitFor({ timeout: 15_000 });
      expect(await page.getByText(mine.patientId).count()).toBeGreaterThan(0);
      expect(await page.getByText('NextDoseAt').count()).toBeGreaterThan(0);
      await page.screenshot({ path: path.join(ARTIFACTS, 'web-ui-workflow-search-attributes.png'), fullPage: true });

      const summary = await (
        await new Client({ connection, namespace: NAMESPACE }).workflow.getHandle(mine.workflowId).describe()
      ).staticSummary();
      expect(summary, 'POST /v1/medications starts the workflow with a summary').toBeTruthy();
      await page
        .getByRole('link', { name: 'User Metadata' })
        .or(page.getByRole('tab', { name: 'User Metadata' }))
        .first()
        .click();
      // The UI renders the summary (Markdown) in its own frame.
      await page.frameLocator('iframe#user-metadata-summary').getByText(summary!).waitFor({ timeout: 15_000 });
      await page.screenshot({ path: path.join(ARTIFACTS, 'web-ui-workflow-summary.png'), fullPage: true });
      expect(fs.statSync(listShot).size).toBeGreaterThan(10_000);
    });
  },
);
