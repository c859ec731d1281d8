/**
 * Token verification settings and rate limits, without a database: the local development key is
 * refused in production, an identity provider's public key verifies its RS256 tokens, and the
 * per-user and per-address limits answer 429 with the standard headers.
 */
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { createApp } from '../api/app.ts';
import type { ApiDeps } from '../api/deps.ts';
import { DEV_SIGNING_SECRET, signDevToken, tokenVerifier } from '../shared/auth-tokens.ts';
import { loadConfig } from '../shared/config.ts';
import { asUser, testTokens } from './helpers/api-auth.ts';

describe('token verification settings', () => {
  it('production refuses to start without a key, or with the development key', () => {
    expect(() => tokenVerifier(loadConfig({ NODE_ENV: 'production' }))).toThrow(
      /AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY/,
    );
    expect(() => tokenVerifier(loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: DEV_SIGNING_SECRET }))).toThrow(
      /development key/,
    );
    expect(() => tokenVerifier(loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: 'short' }))).toThrow(
      /at least 32/,
    );
  });

  it('never signs development tokens with production configuration', async () => {
    const cfg = loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: 'x'.repeat(40) });
    await expect(signDevToken(cfg, { userId: 'alice' })).rejects.toThrow(/production/);
  });

  it("verifies an identity provider's RS256 tokens with its public key, and refuses HS256 ones", async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const cfg = loadConfig({
      NODE_ENV: 'production',
      AUTH_JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      AUTH_ISSUER: 'https://id.example',
      AUTH_AUDIENCE: 'carecircle',
    });
    const verifier = tokenVerifier(cfg);
    const token = await new SignJWT({ roles: ['operator'] })
      .setProtectedHeader({ alg: 'RS256' })
      .setSubject('auth0|42')
      .setIssuer('https://id.example')
      .setAudience('carecircle')
      .setExpirationTime('5m')
      .sign(privateKey);
    await expect(verifier.verify(token)).resolves.toEqual({ userId: 'auth0|42', operator: true });
    // An HS256 token "signed" with the public key as a secret is the classic algorithm confusion.
    const confused = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('mallory')
      .setIssuer('https://id.example')
      .setAudience('carecircle')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(publicKey.export({ type: 'spki', format: 'pem' }).toString()));
    await expect(verifier.verify(confused)).rejects.toThrow(/algorithm/);
  });

  it('accepts a token it verified before only until it expires, and checks a refused one every time', async () => {
    const cfg = loadConfig({ NODE_ENV: 'test' });
    const verifier = tokenVerifier(cfg);
    vi.useFakeTimers({ now: new Date('2026-03-01T12:00:00.000Z'), toFake: ['Date'] });
    try {
      const token = await signDevToken(cfg, { userId: 'alice', ttlSeconds: 30 });
      await expect(verifier.verify(token)).resolves.toEqual({ userId: 'alice', operator: false });
      vi.setSystemTime(new Date('2026-03-01T12:00:29.999Z'));
      await expect(verifier.verify(token)).resolves.toEqual({ userId: 'alice', operator: false });
      vi.setSystemTime(new Date('2026-03-01T12:00:30.000Z'));
      await expect(verifier.verify(token)).rejects.toThrow('The token has expired');

      const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(43)}`;
      vi.setSystemTime(new Date('2026-03-01T12:00:00.000Z'));
      for (let i = 0; i < 2; i++) await expect(verifier.verify(forged)).rejects.toThrow(/signature is invalid/);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('rate limits', () => {
  // Unknown /v1 routes pass authentication and the limits, then 404: no database needed.
  const app = (rateLimits: ApiDeps['rateLimits']) =>
    createApp({
      prisma: null as never,
      temporal: null as never,
      taskQueue: 'x',
      devOutbox: false,
      tokens: testTokens(),
      rateLimits,
    });

  it('limits each user separately, with RateLimit headers and Retry-After on the 429', async () => {
    const api = app({ perUser: 3, perAddress: 1000 });
    const alice = await asUser(api, 'alice');
    const bob = await asUser(api, 'bob');
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await alice.get('/v1/nothing-here')).status);
    expect(statuses).toEqual([404, 404, 404, 429]);
    const limited = await alice.get('/v1/nothing-here');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('content-type')).toBe('application/problem+json');
    expect(limited.headers.get('ratelimit-limit')).toBe('3');
    expect(limited.headers.get('ratelimit-remaining')).toBe('0');
    expect(limited.headers.get('ratelimit-policy')).toBe('3;w=60');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await limited.json()) as { type: string }).type).toBe('urn:carecircle:problem:rate-limited');
    // Bob has his own budget.
    expect((await bob.get('/v1/nothing-here')).status).toBe(404);
  });

  it('limits a client address before the token is even checked', async () => {
    const api = app({ perUser: 1000, perAddress: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await api.request('/v1/care-circles')).status);
    expect(statuses).toEqual([401, 401, 429]);
  });

  it('takes the address from X-Forwarded-For only when told to trust it', async () => {
    const trusting = app({ perUser: 1000, perAddress: 1, trustForwardedFor: true });
    const from = (ip: string) =>
      trusting.request('/v1/care-circles', { headers: { 'x-forwarded-for': `${ip}, 10.0.0.1` } });
    expect((await from('203.0.113.1')).status).toBe(401);
    expect((await from('203.0.113.2')).status).toBe(401);
    expect((await from('203.0.113.1')).status).toBe(429);
    const ignoring = app({ perUser: 1000, perAddress: 1 });
    await ignoring.request('/v1/care-circles', { headers: { 'x-forwarded-for': '203.0.113.1' } });
    const second = await ignoring.request('/v1/care-circles', { headers: { 'x-forwarded-for': '203.0.113.2' } });
    expect(second.status).toBe(429);
  });
});
