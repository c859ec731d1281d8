/**
 * Draining state of an API instance, keyed by its deps object: api/main.ts marks it on SIGTERM and
 * GET /ready answers 503 from then on, so load balancers stop sending new requests while the
 * in-flight ones finish.
 */
import type { ApiDeps } from './deps.ts';

const draining = new WeakSet<ApiDeps>();

export function beginDraining(deps: ApiDeps): void {
  draining.add(deps);
}

export function isDraining(deps: ApiDeps): boolean {
  return draining.has(deps);
}
