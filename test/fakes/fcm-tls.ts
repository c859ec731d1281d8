/**
 * A throw-away certificate authority and a server certificate for Google's API hosts, made with
 * the `openssl` command at test time (Node can parse certificates but not issue them). Nothing is
 * installed anywhere: the CA is trusted only by the https.Agent it is handed to.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCertificates {
  /** The CA's certificate, PEM: what a client must trust. */
  caPem: string;
  /** The server's certificate and key, PEM, valid for `hosts`. */
  certPem: string;
  keyPem: string;
  /** A folder holding ca.pem (handy for a child process's environment); removed by `remove()`. */
  dir: string;
  caFile: string;
  remove(): void;
}

export function issueTestCertificates(hosts: string[]): TestCertificates {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carecircle-test-ca-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  try {
    // EC keys: fast to generate, and any TLS client accepts P-256.
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=CareCircle test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${hosts[0]}`);
    fs.writeFileSync(
      file('server.ext'),
      [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(',')}`,
      ].join('\n'),
    );
    openssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '2',
      '-extfile',
      'server.ext',
    );
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`could not issue test certificates with openssl: ${(err as Error).message} ${stderr}`);
  }
  return {
    caPem: fs.readFileSync(file('ca.pem'), 'utf8'),
    certPem: fs.readFileSync(file('server.pem'), 'utf8'),
    keyPem: fs.readFileSync(file('server.key'), 'utf8'),
    dir,
    caFile: file('ca.pem'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
