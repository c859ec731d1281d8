/**
 * A circuit breaker per provider (cockatiel), so that an outage fails fast instead of hammering the
 * provider with every retry of every delivery: after `failures` consecutive transient failures the
 * circuit opens and calls fail at once, as a retryable DeliveryError (code `circuit_open`) whose
 * retry delay is at least the time until the circuit half-opens: Temporal retries the activity
 * later rather than now. After `openMs` one trial call goes through (half-open): success closes the
 * circuit, failure opens it again.
 *
 * Permanent errors (a 4xx for one bad address, an unregistered token) say nothing about the
 * provider's health and do not count. Each worker process has its own breakers.
 *
 * Every state change is reported to shared/metrics.ts (`setCircuitState`: the
 * carecircle_provider_circuit_state gauge and `circuitStates()` there, which the worker's /status
 * serves); `onCircuitStateChange(listener)` is there for anything else that wants to know.
 */
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import { setCircuitState } from '../shared/metrics.ts';
import {
  DeliveryError,
  type EmailMessage,
  type EmailSender,
  type PushMessage,
  type PushSender,
  type PushTokenResult,
} from './types.ts';

export type CircuitStateName = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive transient failures that open the circuit. */
  failures: number;
  /** How long the circuit stays open before a trial call. */
  openMs: number;
}

export const DEFAULT_CIRCUIT_OPTIONS: CircuitBreakerOptions = { failures: 5, openMs: 30_000 };

/** The provider is failing and its circuit is open: retry after `retryAfterMs` at the earliest. */
export class CircuitOpenError extends DeliveryError {
  constructor(
    readonly provider: string,
    retryAfterMs: number,
  ) {
    super(
      `${provider} circuit is open after repeated failures; not calling it for ${retryAfterMs} ms`,
      false,
      'circuit_open',
      retryAfterMs,
    );
  }
}

export interface ProviderCircuit {
  readonly provider: string;
  readonly state: CircuitStateName;
  /** Runs `fn` through the breaker; throws CircuitOpenError while the circuit is open. */
  execute<T>(fn: () => Promise<T>): Promise<T>;
}

type Listener = (provider: string, state: CircuitStateName) => void;
const circuits = new Map<string, ProviderCircuit>();
const listeners = new Set<Listener>();

function stateName(state: CircuitState): CircuitStateName {
  if (state === CircuitState.Closed) return 'closed';
  if (state === CircuitState.HalfOpen) return 'half-open';
  return 'open'; // Open or Isolated
}

/** Called on every state change of any circuit (metrics hook in here); returns an unsubscribe function. */
export function onCircuitStateChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Errors that say the provider itself is unwell: anything but a permanent DeliveryError. */
const countsAsFailure = (err: unknown): boolean => !(err instanceof DeliveryError && err.permanent);

/**
 * The circuit for `provider`, created on first use (later options are ignored) and registered for
 * metrics. The Cloudinary adapter uses it as `circuitFor('cloudinary').execute(() => upload())`,
 * throwing DeliveryError from inside so that permanent failures do not count.
 */
export function circuitFor(
  provider: string,
  options: CircuitBreakerOptions = DEFAULT_CIRCUIT_OPTIONS,
): ProviderCircuit {
  const existing = circuits.get(provider);
  if (existing) return existing;
  const policy: CircuitBreakerPolicy = circuitBreaker(handleWhen(countsAsFailure), {
    halfOpenAfter: options.openMs,
    breaker: new ConsecutiveBreaker(options.failures),
  });
  let openedAt = 0;
  policy.onBreak(() => {
    openedAt = Date.now();
  });
  policy.onStateChange((state) => {
    setCircuitState(provider, state);
    for (const listener of listeners) listener(provider, stateName(state));
  });
  const circuit: ProviderCircuit = {
    provider,
    get state() {
      return stateName(policy.state);
    },
    async execute<T>(fn: () => Promise<T>): Promise<T> {
      try {
        return await policy.execute(fn);
      } catch (err) {
        if (err instanceof BrokenCircuitError) {
          // Half-open with its trial call in flight also lands here: wait about one trial's worth.
          const remaining = Math.max(1000, openedAt + options.openMs - Date.now());
          throw new CircuitOpenError(provider, remaining);
        }
        throw err;
      }
    },
  };
  circuits.set(provider, circuit);
  setCircuitState(provider, policy.state);
  return circuit;
}

/** Forgets every circuit, so the next `circuitFor` builds a fresh one (tests). */
export function resetCircuits(): void {
  circuits.clear();
}

/** Carries a push batch in which every token failed transiently, so the breaker counts it. */
class AllTokensFailed extends Error {
  constructor(readonly results: PushTokenResult[]) {
    super('every token failed transiently');
  }
}

export class CircuitBreakingPushSender implements PushSender {
  readonly name: string;
  private readonly circuit: ProviderCircuit;

  constructor(
    private readonly inner: PushSender,
    options?: CircuitBreakerOptions,
    circuitName = inner.name,
  ) {
    this.name = inner.name;
    this.circuit = circuitFor(circuitName, options);
  }

  async send(tokens: string[], message: PushMessage, idempotencyKey: string): Promise<PushTokenResult[]> {
    try {
      return await this.circuit.execute(async () => {
        const results = await this.inner.send(tokens, message, idempotencyKey);
        // FCM answers per token: a batch where every token hit a server error is a provider failure.
        if (results.length > 0 && results.every((r) => !r.ok && !r.unregistered && !r.error.permanent)) {
          throw new AllTokensFailed(results);
        }
        return results;
      });
    } catch (err) {
      if (err instanceof AllTokensFailed) return err.results;
      throw err;
    }
  }
}

export class CircuitBreakingEmailSender implements EmailSender {
  readonly name: string;
  private readonly circuit: ProviderCircuit;

  constructor(
    private readonly inner: EmailSender,
    options?: CircuitBreakerOptions,
    circuitName = inner.name,
  ) {
    this.name = inner.name;
    this.circuit = circuitFor(circuitName, options);
  }

  send(message: EmailMessage, idempotencyKey: string): Promise<{ messageId: string }> {
    return this.circuit.execute(() => this.inner.send(message, idempotencyKey));
  }
}
