/**
 * A known path asked with a method it does not serve is a 405 with `Allow` (RFC 9110 §15.5.6), not a
 * 404: the client got the path right and learns what it can do there. The methods come from the
 * router's own table, so they cannot drift from the routes.
 */
import type { Router } from './openapi.ts';

const SERVED = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** A route path (`/v1/medications/:id`) as a pattern over request paths. */
function pathPattern(routePath: string): RegExp {
  const source = routePath
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}/?$`);
}

/** `allowedMethods(path)`: the methods `app` serves at `path` (HEAD wherever GET is), empty if none. */
export function allowedMethodsOf(app: Router): (path: string) => string[] {
  let table: { pattern: RegExp; method: string }[] | undefined;
  return (path) => {
    // Built on first use: routes are registered after the app is created.
    table ??= app.routes
      .filter((r) => SERVED.has(r.method))
      .map((r) => ({ pattern: pathPattern(r.path), method: r.method }));
    const methods = new Set(table.filter((r) => r.pattern.test(path)).map((r) => r.method));
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  };
}
