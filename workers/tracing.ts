/**
 * Temporal's OpenTelemetry interceptors for a worker: spans for each workflow run and activity
 * attempt, children of the span that started the workflow (the API request), and the context the
 * provider calls' HTTP spans hang from. Workflow spans leave the sandbox through a sink into the
 * process's span processor (shared/tracing.ts).
 */
import { createRequire } from 'node:module';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { WorkerInterceptors, WorkerOptions } from '@temporalio/worker';
import type { Tracing } from '../shared/tracing.ts';

/** The package's workflow interceptor module; part of every workflow bundle (scripts/build-workflow-bundle.ts). */
export const tracingWorkflowModule = createRequire(import.meta.url).resolve(
  '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors',
);

/** `interceptors` plus tracing: the workflow module and the activity interceptors. */
export function withTracing(interceptors: WorkerInterceptors): WorkerInterceptors {
  return {
    ...interceptors,
    activity: [
      ...(interceptors.activity ?? []),
      (ctx) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
    ],
    workflowModules: [...(interceptors.workflowModules ?? []), tracingWorkflowModule],
  };
}

/** The sink the workflow module exports its spans through. */
export function tracingSinks(tracing: Tracing): NonNullable<WorkerOptions['sinks']> {
  return { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) };
}
