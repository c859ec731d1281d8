/**
 * How every process connects to Temporal: the embedded dev server (plaintext) by default, or a
 * remote cluster / Temporal Cloud with TLS, an mTLS client certificate and/or an API key. The
 * result fits both `Connection.connect` (API, scripts) and `NativeConnection.connect` (workers).
 */
import fs from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import { temporalAddress, type Config } from './config.ts';

export interface TemporalConnectionSettings {
  address: string;
  tls?: TLSConfig;
  apiKey?: string;
}

/** A PEM given inline (starts with -----BEGIN) or as a path to a file. */
function readPem(value: string | undefined, variable: string): Buffer | undefined {
  if (!value) return undefined;
  if (value.startsWith('-----BEGIN')) return Buffer.from(value.replaceAll('\\n', '\n'));
  try {
    return fs.readFileSync(value);
  } catch (err) {
    throw new Error(`${variable}: cannot read ${value} (${(err as Error).message})`);
  }
}

export function temporalConnectionOptions(cfg: Config): TemporalConnectionSettings {
  const crt = readPem(cfg.TEMPORAL_TLS_CERT, 'TEMPORAL_TLS_CERT');
  const key = readPem(cfg.TEMPORAL_TLS_KEY, 'TEMPORAL_TLS_KEY');
  if (Boolean(crt) !== Boolean(key)) {
    throw new Error('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both for mTLS, or neither');
  }
  const ca = readPem(cfg.TEMPORAL_TLS_CA, 'TEMPORAL_TLS_CA');
  const wantsTls = Boolean(cfg.TEMPORAL_API_KEY || crt || ca || cfg.TEMPORAL_TLS_SERVER_NAME);
  if (cfg.TEMPORAL_TLS === false && wantsTls) {
    // An API key or a client certificate over plaintext would be sent in the clear.
    throw new Error('TEMPORAL_TLS=false contradicts TEMPORAL_API_KEY / TEMPORAL_TLS_* settings: remove one');
  }
  const tlsOn = cfg.TEMPORAL_TLS ?? wantsTls;
  const tls: TLSConfig | undefined = tlsOn
    ? {
        ...(ca ? { serverRootCACertificate: ca } : {}),
        ...(crt && key ? { clientCertPair: { crt, key } } : {}),
        ...(cfg.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: cfg.TEMPORAL_TLS_SERVER_NAME } : {}),
      }
    : undefined;
  return {
    address: temporalAddress(cfg),
    ...(tls ? { tls } : {}),
    ...(cfg.TEMPORAL_API_KEY ? { apiKey: cfg.TEMPORAL_API_KEY } : {}),
  };
}

/** For logs: where and how, never the secrets. */
export function describeTemporalConnection(settings: TemporalConnectionSettings): Record<string, unknown> {
  return {
    address: settings.address,
    tls: settings.tls ? (settings.tls.clientCertPair ? 'mtls' : 'tls') : 'off',
    apiKey: settings.apiKey ? 'set' : 'unset',
  };
}
