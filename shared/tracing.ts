/**
 * Traces (OpenTelemetry): one trace from an API request through the workflow start, the workflow
 * and its activities to the provider's HTTP call. Temporal's interceptors
 * (@temporalio/interceptors-opentelemetry, wired in workers/tracing.ts and api/main.ts) carry the
 * context in workflow and activity headers; HTTP client spans come from the http and undici
 * (fetch) instrumentations.
 *
 * Off unless OTEL_TRACES_EXPORTER or an OTLP endpoint is set (shared/config.ts); then the OTLP
 * exporter, the batch processor and the sampler read the rest of the standard OTEL_* variables
 * themselves. Off, the OpenTelemetry API stays a no-op and costs next to nothing.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type TextMapGetter } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { envDetectorSync, Resource } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NoopSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
// The client part alone: the package's index also loads the worker side.
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client/index.js';
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Config } from './config.ts';

export interface Tracing {
  enabled: boolean;
  resource: Resource;
  /** Where finished spans go; Temporal's workflow span sink feeds it too (workers/tracing.ts). */
  spanProcessor: SpanProcessor;
  /** Flushes what is buffered and stops. */
  shutdown(): Promise<void>;
}

type TracingConfig = Pick<
  Config,
  | 'OTEL_SDK_DISABLED'
  | 'OTEL_TRACES_EXPORTER'
  | 'OTEL_EXPORTER_OTLP_ENDPOINT'
  | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'
  | 'OTEL_SERVICE_NAME'
>;

/** The exporters the configuration asks for: [] means traces are off. */
export function traceExporters(cfg: TracingConfig): ('otlp' | 'console')[] {
  if (cfg.OTEL_SDK_DISABLED) return [];
  const named = (cfg.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (named.length === 0)
    return cfg.OTEL_EXPORTER_OTLP_ENDPOINT || cfg.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? ['otlp'] : [];
  const unknown = named.filter((n) => !['otlp', 'console', 'none'].includes(n));
  if (unknown.length > 0) throw new Error(`OTEL_TRACES_EXPORTER: unknown exporter(s) ${unknown.join(', ')}`);
  return named.filter((n): n is 'otlp' | 'console' => n !== 'none');
}

/**
 * Starts tracing for this process when the configuration asks for it (or `spanProcessors` are
 * given, as tests do). Call it before the modules it instruments load: api/start-tracing.ts and
 * workers/start-tracing.ts are the first imports of the two entry points.
 */
export function startTracing(
  cfg: TracingConfig,
  serviceName: string,
  opts: { spanProcessors?: SpanProcessor[] } = {},
): Tracing {
  const resource = Resource.default()
    .merge(new Resource({ 'service.name': cfg.OTEL_SERVICE_NAME ?? serviceName }))
    .merge(envDetectorSync.detect());
  const processors =
    opts.spanProcessors ??
    traceExporters(cfg).map((name) =>
      name === 'otlp'
        ? new BatchSpanProcessor(new OTLPTraceExporter())
        : new BatchSpanProcessor(new ConsoleSpanExporter()),
    );
  if (processors.length === 0) {
    return { enabled: false, resource, spanProcessor: new NoopSpanProcessor(), shutdown: async () => {} };
  }
  const provider = new NodeTracerProvider({ resource, spanProcessors: processors });
  provider.register(); // the global tracer provider, AsyncLocalStorage context, W3C trace context
  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      // Outgoing only: incoming API requests get their span from requestSpans (with the route).
      new HttpInstrumentation({ disableIncomingRequestInstrumentation: true }),
      new UndiciInstrumentation(),
    ],
  });
  return {
    enabled: true,
    resource,
    spanProcessor: provider.getActiveSpanProcessor(),
    async shutdown() {
      unregister();
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

const headerGetter: TextMapGetter<Headers> = {
  get: (headers, key) => headers.get(key) ?? undefined,
  keys: (headers) => [...headers.keys()],
};

/**
 * A server span per API request, named by method and route ("POST /v1/medications"), continuing a
 * trace the caller sent in `traceparent`. The workflow starts made while handling it are its
 * children. A no-op while tracing is off.
 */
export function requestSpans(): MiddlewareHandler {
  const tracer = trace.getTracer('carecircle-api');
  return async (c, next) => {
    const parent = propagation.extract(context.active(), c.req.raw.headers, headerGetter);
    const attributes = { 'http.request.method': c.req.method, 'url.path': c.req.path };
    await tracer.startActiveSpan(c.req.method, { kind: SpanKind.SERVER, attributes }, parent, async (span) => {
      try {
        await next();
      } finally {
        const route = matchedRoutes(c).findLast((r) => r.method !== 'ALL')?.path;
        if (route) {
          span.updateName(`${c.req.method} ${route}`);
          span.setAttribute('http.route', route);
        }
        span.setAttribute('http.response.status_code', c.res.status);
        if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
    });
  };
}

/** For every Temporal client: a span per workflow start, signal, query or update, passed on in headers. */
export const tracingClientInterceptors = () => ({ workflow: [new OpenTelemetryWorkflowClientInterceptor()] });
