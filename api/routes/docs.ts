/**
 * The API's own description: GET /openapi.json (OpenAPI 3.1, generated from the route schemas) and
 * GET /docs, Swagger UI served from the swagger-ui-dist package, so the page works offline.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Hono } from 'hono';
import { addLinks } from '../links.ts';
import type { Router } from '../openapi.ts';

const swaggerDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>CareCircle API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', persistAuthorization: true });
  </script>
</body>
</html>`;

export const API_INFO = {
  title: 'CareCircle API',
  version: '1.0.0',
  description:
    'Starts, changes and stops the durable workflows behind CareCircle: medication reminders, ' +
    'appointments, caregiver shifts, circle notifications and documents. Every /v1 route needs a ' +
    'bearer token (`npm run --silent token -- --user <id>` locally). Errors are RFC 9457 problems.',
};

const DOCUMENT = { openapi: '3.1.0', info: API_INFO, security: [{ bearerAuth: [] }] };

/** The OpenAPI document of an app built by createApp (what GET /openapi.json serves). */
export function openApiDocument(app: Router) {
  return addLinks(app.getOpenAPI31Document(DOCUMENT));
}

/** Mounts the spec of `app` (all routes registered on it, including later ones) and the docs page. */
export function mountDocs(app: Router): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
  });
  // Built on each request, as the routes stand then (all are registered by the first request).
  app.get('/openapi.json', (c) => c.json(openApiDocument(app)));

  const docs = new Hono();
  docs.get('/', (c) => c.html(PAGE));
  docs.get('/assets/:file', (c) => {
    const file = c.req.param('file');
    const type = ASSETS[file];
    if (!type) return c.notFound();
    return c.body(fs.readFileSync(path.join(swaggerDir, file)), 200, {
      'Content-Type': type,
      'Cache-Control': 'public, max-age=86400',
    });
  });
  app.route('/docs', docs);
}
