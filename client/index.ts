/**
 * A typed client of the CareCircle API for app developers and the project's tests: paths, bodies,
 * queries and responses are checked against the OpenAPI document (client/openapi.d.ts, generated
 * by `npm run client:generate`).
 *
 *   const api = createCareCircleClient({ baseUrl: 'http://127.0.0.1:3000', token });
 *   const { data, error } = await api.POST('/v1/care-circles', { body: { name: 'Curie family' } });
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './openapi.d.ts';

export type CareCircleClient = Client<paths>;
export type Schemas = components['schemas'];
export type { paths };

export interface ClientOptions {
  /** Where the API listens, e.g. http://127.0.0.1:3000. */
  baseUrl: string;
  /** A bearer token (locally: `npm run --silent token -- --user <id>`). */
  token?: string;
  /** Another fetch, e.g. a Hono app's in-process `app.request` in tests. */
  fetch?: (request: Request) => Promise<Response>;
}

export function createCareCircleClient(opts: ClientOptions): CareCircleClient {
  return createClient<paths>({
    baseUrl: opts.baseUrl,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
  });
}
