/**
 * API tokens: JWTs whose `sub` is the user, checked for signature, issuer, audience and expiry.
 * The key comes from configuration; without one, development and tests use a fixed local key that
 * production configuration refuses, so `npm run token` can drive a fresh system end to end.
 */
import fs from 'node:fs';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { Config } from './config.ts';

/** Public on purpose: it only ever signs tokens for a laptop or a test run. */
export const DEV_SIGNING_SECRET = 'carecircle-local-development-key-never-valid-in-production';
const MIN_SECRET_LENGTH = 32;
const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];

export interface Principal {
  userId: string;
  /** Operators run the system (dead letters, queues); they are not members of any circle by this. */
  operator: boolean;
}

export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
  issuer: string;
  audience: string;
}

/** Why a token was refused, in words a client developer can act on (never the key or the token). */
export class InvalidToken extends Error {}

function readPem(value: string): string {
  return value.includes('-----BEGIN') ? value : fs.readFileSync(value, 'utf8');
}

function verificationKey(cfg: Config): { key: Uint8Array | KeyObject; algorithms: string[] } {
  if (cfg.AUTH_JWT_PUBLIC_KEY) {
    return { key: createPublicKey(readPem(cfg.AUTH_JWT_PUBLIC_KEY)), algorithms: ASYMMETRIC_ALGORITHMS };
  }
  const secret = cfg.AUTH_JWT_SECRET ?? (cfg.NODE_ENV === 'production' ? undefined : DEV_SIGNING_SECRET);
  if (!secret) {
    throw new Error('Production needs AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY: the local development key is refused');
  }
  if (cfg.NODE_ENV === 'production' && secret === DEV_SIGNING_SECRET) {
    throw new Error('AUTH_JWT_SECRET is the local development key, which production refuses');
  }
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new Error(`AUTH_JWT_SECRET must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  return { key: new TextEncoder().encode(secret), algorithms: ['HS256'] };
}

/**
 * Tokens verified recently, so that a client's requests after its first skip the signature check
 * (about a third of the CPU a read costs). Only tokens that passed every check are kept, under
 * their exact text, and never past their own expiry: a token is accepted from here exactly when
 * jwtVerify would accept it again (until expiry, only the clock changes the answer, and the key
 * and claims checked are fixed for the verifier's lifetime). Refused tokens are always checked
 * afresh, so their answers stay the same.
 */
const VERIFIED_TTL_MS = 60_000;
const VERIFIED_MAX = 10_000;

/** Throws at start-up when the configuration cannot verify tokens, rather than refusing every request. */
export function tokenVerifier(cfg: Config): TokenVerifier {
  const { key, algorithms } = verificationKey(cfg);
  const issuer = cfg.AUTH_ISSUER;
  const audience = cfg.AUTH_AUDIENCE;
  const verified = new Map<string, { principal: Principal; untilMs: number }>();
  return {
    issuer,
    audience,
    async verify(token) {
      const now = Date.now();
      const known = verified.get(token);
      if (known && now < known.untilMs) return known.principal;
      if (known) verified.delete(token);
      const principal = await verifySignedToken(token);
      // jwtVerify refuses once now >= exp (whole seconds), so exp * 1000 is the first refused ms.
      const untilMs = Math.min(now + VERIFIED_TTL_MS, Number(principal.exp) * 1000);
      if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!);
      verified.set(token, { principal: principal.principal, untilMs });
      return principal.principal;
    },
  };

  async function verifySignedToken(token: string): Promise<{ principal: Principal; exp: number }> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, { issuer, audience, algorithms, requiredClaims: ['exp', 'sub'] }));
    } catch (err) {
      throw new InvalidToken(describeJoseError(err));
    }
    const userId = payload.sub ?? '';
    if (userId.length === 0 || userId.length > 200) throw new InvalidToken('The token names no valid user (sub)');
    const roles = Array.isArray(payload.roles) ? payload.roles : [];
    return { principal: { userId, operator: roles.includes('operator') }, exp: payload.exp! };
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'The token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return 'The token is not meant for this API (audience)';
    if (err.claim === 'iss') return 'The token was not issued by the expected issuer';
    if (err.claim === 'nbf') return 'The token is not valid yet';
    return `The token's ${err.claim} claim is missing or invalid`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'The token signature is invalid';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'The token is signed with an algorithm this API does not accept';
  return 'The token is malformed';
}

export interface TokenRequest {
  userId: string;
  operator?: boolean;
  /** Lifetime in seconds (default one hour). */
  ttlSeconds?: number;
  /** Claims for tests of refused tokens. */
  issuer?: string;
  audience?: string;
  secret?: string;
}

/** Signs a token with the local development key (or `secret`): for `npm run token` and tests only. */
export async function signDevToken(cfg: Config, req: TokenRequest): Promise<string> {
  if (cfg.NODE_ENV === 'production')
    throw new Error('Development tokens are never issued with production configuration');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: req.operator ? ['operator'] : [] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(req.userId)
    .setIssuer(req.issuer ?? cfg.AUTH_ISSUER)
    .setAudience(req.audience ?? cfg.AUTH_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + (req.ttlSeconds ?? 3600))
    .sign(new TextEncoder().encode(req.secret ?? cfg.AUTH_JWT_SECRET ?? DEV_SIGNING_SECRET));
}
