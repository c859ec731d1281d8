/**
 * One trace from an API request to the provider's HTTP call, with the production wiring
 * (shared/tracing.ts, workers/tracing.ts) and an in-memory exporter in place of OTLP: the request's
 * server span → StartWorkflow → RunWorkflow → StartActivity → RunActivity → the HTTP client span
 * of the provider call (fetch, as the Resend SDK makes it), on the time-skipping server.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config.ts';
import {
  requestSpans,
  startTracing,
  traceExporters,
  tracingClientInterceptors,
  type Tracing,
} from '../shared/tracing.ts';
import { tracingSinks, withTracing } from '../workers/tracing.ts';
import { createTimeSkippingEnv } from './helpers/temporal-env.ts';
import { createWorker, testWorkflowsPath } from './helpers/workers.ts';
import { tracedDeliveryWorkflow } from './workflows/traced.ts';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let env: TestWorkflowEnvironment;
let provider: http.Server;
let providerUrl: string;

beforeAll(async () => {
  tracing = startTracing(loadConfig({}), 'carecircle-test', { spanProcessors: [new SimpleSpanProcessor(exporter)] });
  provider = http.createServer((_req, res) => res.writeHead(202).end());
  await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
  providerUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}/emails`;
  env = await createTimeSkippingEnv();
});

afterAll(async () => {
  await env?.teardown();
  provider?.close();
  await tracing?.shutdown();
});

describe('traces', () => {
  it('are off unless an exporter or an OTLP endpoint is configured', () => {
    expect(traceExporters(loadConfig({}))).toEqual([]);
    expect(traceExporters(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' }))).toEqual(['otlp']);
    expect(traceExporters(loadConfig({ OTEL_TRACES_EXPORTER: 'otlp,console' }))).toEqual(['otlp', 'console']);
    expect(traceExporters(loadConfig({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'x' }))).toEqual([]);
    expect(
      traceExporters(loadConfig({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' })),
    ).toEqual([]);
    expect(startTracing(loadConfig({}), 'x').enabled).toBe(false);
  });

  it('follow one request through the workflow and its activity to the provider call', async () => {
    const taskQueue = 'traced';
    const worker = await createWorker(env, {
      taskQueue,
      workflows: testWorkflowsPath('traced'),
      activities: { callProvider: async (url: string) => (await fetch(url, { method: 'POST' })).status },
      interceptors: withTracing({}),
      sinks: tracingSinks(tracing),
    });
    const client = new Client({ connection: env.connection, interceptors: tracingClientInterceptors() });
    const api = new Hono();
    api.use('*', requestSpans());
    api.post('/doses/:id/send', async (c) => {
      const status = await client.workflow.execute(tracedDeliveryWorkflow, {
        taskQueue,
        workflowId: `traced-${c.req.param('id')}`,
        args: [providerUrl],
      });
      return c.json({ status });
    });

    const res = await worker.runUntil(Promise.resolve(api.request('/doses/42/send', { method: 'POST' })));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 202 });

    const find = (name: string, kind?: SpanKind) =>
      exporter.getFinishedSpans().find((s) => s.name === name && (kind === undefined || s.kind === kind));
    // Workflow spans leave the sandbox through a sink after the workflow task: wait for them.
    for (let i = 0; i < 50 && !find('RunWorkflow:tracedDeliveryWorkflow'); i++)
      await new Promise((r) => setTimeout(r, 100));

    const request = find('POST /doses/:id/send', SpanKind.SERVER);
    const start = find('StartWorkflow:tracedDeliveryWorkflow');
    const run = find('RunWorkflow:tracedDeliveryWorkflow');
    const schedule = find('StartActivity:callProvider');
    const attempt = find('RunActivity:callProvider');
    const call = exporter
      .getFinishedSpans()
      .find((s) => s.kind === SpanKind.CLIENT && String(s.attributes['url.full'] ?? '') === providerUrl);
    const chain: [string, ReadableSpan | undefined][] = [
      ['request', request],
      ['StartWorkflow', start],
      ['RunWorkflow', run],
      ['StartActivity', schedule],
      ['RunActivity', attempt],
      ['provider HTTP call', call],
    ];
    for (const [what, span] of chain) expect(span, `${what} span`).toBeDefined();
    const traceId = request!.spanContext().traceId;
    for (let i = 1; i < chain.length; i++) {
      const [what, span] = chain[i]!;
      const [parentWhat, parent] = chain[i - 1]!;
      expect(span!.spanContext().traceId, what).toBe(traceId);
      expect(span!.parentSpanId, `${what} is a child of ${parentWhat}`).toBe(parent!.spanContext().spanId);
    }
    expect(request!.attributes['http.route']).toBe('/doses/:id/send');
    expect(request!.attributes['http.response.status_code']).toBe(200);
    expect(call!.attributes['http.response.status_code']).toBe(202);
    expect(request!.resource.attributes['service.name']).toBe('carecircle-test');
  });
});
