/**
 * The OpenAPI document is the API's contract: it validates as OpenAPI 3.1, names every route the
 * app serves (and nothing it does not), declares the problem responses each route can give, and
 * the generated typed client in client/ matches it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDocumentationApp } from '../api/app.ts';
import { openApiDocument } from '../api/routes/docs.ts';
import { projectRoot } from '../shared/config.ts';
import { generateClientFiles } from '../scripts/generate-client.ts';

// No request reaches a handler here: the document is built from the route declarations.
const app = createDocumentationApp();
type Operation = {
  summary?: string;
  security?: unknown[];
  responses: Record<string, { content?: Record<string, unknown> }>;
};
const document = openApiDocument(app) as unknown as {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
};
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const operations = Object.entries(document.paths).flatMap(([p, item]) =>
  Object.entries(item)
    .filter(([method]) => METHODS.includes(method))
    .map(([method, op]) => ({ key: `${method.toUpperCase()} ${p}`, path: p, op })),
);
/** Served but deliberately not operations of the API: the document itself and its viewer. */
const NOT_IN_SPEC = new Set(['GET /openapi.json', 'GET /docs', 'GET /docs/assets/{file}']);

describe('OpenAPI document', () => {
  it('validates as OpenAPI 3.1', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document) as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('names exactly the routes the app serves', () => {
    const served = new Set(
      app.routes
        .filter((r) => METHODS.includes(r.method.toLowerCase()))
        .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`)
        .filter((key) => !NOT_IN_SPEC.has(key)),
    );
    const documented = new Set(operations.map((o) => o.key));
    expect(
      [...served].filter((k) => !documented.has(k)),
      'served but not in the spec',
    ).toEqual([]);
    expect(
      [...documented].filter((k) => !served.has(k)),
      'in the spec but not served',
    ).toEqual([]);
    expect(documented.size).toBeGreaterThan(30);
  });

  it('declares a summary, a success response and problem+json errors for every operation', () => {
    for (const { key, op } of operations) {
      expect(op.summary, key).toBeTruthy();
      const statuses = Object.keys(op.responses);
      expect(
        statuses.some((s) => s.startsWith('2')),
        `${key} has a 2xx`,
      ).toBe(true);
      // Probes answer 503 with their own JSON document (what is down), which load balancers read.
      if (key === 'GET /health' || key === 'GET /ready') continue;
      for (const status of statuses.filter((s) => Number(s) >= 400)) {
        expect(Object.keys(op.responses[status]?.content ?? {}), `${key} ${status}`).toEqual([
          'application/problem+json',
        ]);
      }
    }
  });

  it('requires a bearer token on every /v1 operation, and only there', () => {
    expect(document).toMatchObject({ security: [{ bearerAuth: [] }] });
    for (const { key, path: p, op } of operations) {
      if (p.startsWith('/v1/')) {
        expect(op.security, `${key} uses the document's bearer security`).toBeUndefined();
        expect(Object.keys(op.responses), key).toEqual(expect.arrayContaining(['401', '429']));
      } else {
        expect(op.security, `${key} is public`).toEqual([]);
      }
    }
  });
});

describe('typed client', () => {
  let files: Record<string, string>;
  beforeAll(async () => {
    files = await generateClientFiles();
  });

  it('is generated from the current routes (run npm run client:generate after changing one)', () => {
    for (const [file, content] of Object.entries(files)) {
      expect(fs.readFileSync(path.join(projectRoot, file), 'utf8') === content, `${file} is up to date`).toBe(true);
    }
  });
});
