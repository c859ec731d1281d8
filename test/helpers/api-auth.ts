/**
 * Signed-in requests for tests: tokens signed with the local development key, checked by the same
 * verifier the API uses. A user who creates a care circle is its first caregiver.
 */
import { signDevToken, tokenVerifier, type TokenRequest } from '../../shared/auth-tokens.ts';
import { loadConfig } from '../../shared/config.ts';

const cfg = loadConfig({ NODE_ENV: 'test' });

/** The verifier to put in ApiDeps. */
export const testTokens = () => tokenVerifier(cfg);

export const tokenFor = (userId: string, opts: Omit<TokenRequest, 'userId'> = {}) =>
  signDevToken(cfg, { userId, ...opts });

interface Requester {
  request(input: string, init?: RequestInit): Response | Promise<Response>;
}

export interface UserClient {
  userId: string;
  request(path: string, init?: RequestInit): Promise<Response>;
  get(path: string): Promise<Response>;
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  patch(path: string, body: unknown): Promise<Response>;
  delete(path: string): Promise<Response>;
}

/** Requests to `app` (app.request or a fetch to a live server) as `userId`. */
export async function asUser(
  app: Requester,
  userId: string,
  opts: Omit<TokenRequest, 'userId'> = {},
): Promise<UserClient> {
  const authorization = `Bearer ${await tokenFor(userId, opts)}`;
  const request = async (path: string, init: RequestInit = {}) =>
    app.request(path, { ...init, headers: { authorization, ...(init.headers as Record<string, string>) } });
  const json = (method: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
    request(path, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  return {
    userId,
    request,
    get: (path) => request(path),
    post: (path, body, headers) => json('POST', path, body, headers),
    patch: (path, body) => json('PATCH', path, body),
    delete: (path) => request(path, { method: 'DELETE' }),
  };
}

/** A live server as a Requester. */
export const server = (baseUrl: string): Requester => ({
  request: (path, init) => fetch(new URL(path, baseUrl), init),
});
