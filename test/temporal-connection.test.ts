/**
 * Remote Temporal settings (TEMPORAL_TLS*, TEMPORAL_API_KEY): how they turn into connection
 * options, and that those options really connect over mutual TLS, for the API's Connection and the
 * worker's NativeConnection alike. The dev server speaks plaintext, so a TLS-terminating proxy that
 * demands a client certificate signed by a test CA stands in for Temporal Cloud's front door.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config.ts';
import { describeTemporalConnection, temporalConnectionOptions } from '../shared/temporal-connection.ts';
import { createLocalEnv } from './helpers/temporal-env.ts';

const opts = (env: Record<string, string>) => temporalConnectionOptions(loadConfig(env));

describe('temporalConnectionOptions', () => {
  it('is plaintext to the embedded dev server by default', () => {
    expect(opts({})).toEqual({ address: '127.0.0.1:7233' });
    expect(opts({ TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_TLS: 'false' })).toEqual({ address: 'temporal:7233' });
  });

  it('turns TLS on for an API key, a CA or a client certificate, and reads PEMs inline or from files', () => {
    const cloud = opts({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'secret-key' });
    expect(cloud).toEqual({ address: 'ns.acct.tmprl.cloud:7233', tls: {}, apiKey: 'secret-key' });
    expect(describeTemporalConnection(cloud)).toEqual({
      address: 'ns.acct.tmprl.cloud:7233',
      tls: 'tls',
      apiKey: 'set',
    });

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carecircle-pem-'));
    fs.writeFileSync(path.join(dir, 'client.key'), '-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n');
    const mtls = opts({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_TLS_CERT: '-----BEGIN CERTIFICATE-----\\ncert\\n-----END CERTIFICATE-----',
      TEMPORAL_TLS_KEY: path.join(dir, 'client.key'),
      TEMPORAL_TLS_SERVER_NAME: 'temporal',
    });
    expect(mtls.tls?.clientCertPair?.crt.toString()).toBe(
      '-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----',
    );
    expect(mtls.tls?.clientCertPair?.key.toString()).toContain('BEGIN PRIVATE KEY');
    expect(mtls.tls?.serverNameOverride).toBe('temporal');
    expect(describeTemporalConnection(mtls)).toMatchObject({ tls: 'mtls', apiKey: 'unset' });
    fs.rmSync(dir, { recursive: true });
  });

  it('refuses settings that cannot work or would leak a secret', () => {
    expect(() => opts({ TEMPORAL_TLS_CERT: '-----BEGIN CERTIFICATE-----' })).toThrow(/go together/);
    expect(() => opts({ TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' })).toThrow(/contradicts/);
    expect(() => opts({ TEMPORAL_TLS_CA: '/nonexistent/ca.pem' })).toThrow(/TEMPORAL_TLS_CA: cannot read/);
  });
});

describe('connecting over mutual TLS', () => {
  let env: TestWorkflowEnvironment;
  let proxy: tls.Server;
  let dir: string;
  let proxyPort: number;

  beforeAll(async () => {
    env = await createLocalEnv();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carecircle-tls-'));
    makeCertificates(dir);
    const [host, port] = env.address.split(':');
    proxy = tls.createServer(
      {
        key: fs.readFileSync(path.join(dir, 'server.key')),
        cert: fs.readFileSync(path.join(dir, 'server.crt')),
        ca: fs.readFileSync(path.join(dir, 'ca.crt')),
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2'], // gRPC
      },
      (socket) => {
        const upstream = net.connect(Number(port), host);
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
      },
    );
    proxy.on('tlsClientError', () => {}); // the refused client below
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyPort = (proxy.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    proxy?.close();
    await env?.teardown();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const tlsEnv = (withClientCert: boolean): Record<string, string> => ({
    TEMPORAL_ADDRESS: `127.0.0.1:${proxyPort}`,
    TEMPORAL_TLS_CA: path.join(dir, 'ca.crt'),
    TEMPORAL_TLS_SERVER_NAME: 'temporal.test',
    TEMPORAL_API_KEY: 'test-api-key',
    ...(withClientCert
      ? { TEMPORAL_TLS_CERT: path.join(dir, 'client.crt'), TEMPORAL_TLS_KEY: path.join(dir, 'client.key') }
      : {}),
  });

  it('works for the API (Connection) and the worker (NativeConnection) with the client certificate', async () => {
    const settings = opts(tlsEnv(true));
    const connection = await Connection.connect(settings);
    try {
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.serverVersion).toMatch(/^\d+\.\d+/);
    } finally {
      await connection.close();
    }
    const native = await NativeConnection.connect(settings);
    try {
      const ns = await native.workflowService.describeNamespace({ namespace: env.namespace ?? 'default' });
      expect(ns.namespaceInfo?.name).toBe(env.namespace ?? 'default');
    } finally {
      await native.close();
    }
  });

  it('is refused without the client certificate', async () => {
    await expect(
      Connection.connect({ ...opts(tlsEnv(false)), connectTimeout: 3_000 }).then(async (c) => {
        try {
          await c.workflowService.getSystemInfo({});
        } finally {
          await c.close();
        }
      }),
    ).rejects.toThrow();
  });
});

/** A throwaway CA, a server certificate for temporal.test and a client certificate, with openssl. */
function makeCertificates(dir: string): void {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=CareCircle test CA');
  const leaf = (name: string, ext: string) => {
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    run('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    run(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
    );
  };
  leaf('server', 'subjectAltName=DNS:temporal.test\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'extendedKeyUsage=clientAuth\n');
}
