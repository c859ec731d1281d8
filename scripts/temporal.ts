/**
 * `npm run temporal -- <args>`: the Temporal CLI this project installed (.tools/bin, or
 * TEMPORAL_CLI_PATH), pointed at the server and namespace the project is configured for, e.g.
 * `npm run temporal -- workflow list` or `npm run temporal -- workflow describe -w medication:<id>`.
 *
 * The CLI reads its connection settings from TEMPORAL_* variables of its own; those that share a
 * name with ours (address, namespace, API key, server name) mean the same, the certificate
 * settings are translated (ours take a path or the PEM itself, the CLI has one variable for each).
 */
import { spawn } from 'node:child_process';
import { config, temporalAddress } from '../shared/config.ts';
import { resolveTemporalCli } from '../dev/temporal-binaries.ts';

const cfg = config();

/** Our "path or PEM" value as the CLI's `<prefix>_PATH` or `<prefix>_DATA` variable. */
function pem(value: string | undefined, prefix: string): Record<string, string> {
  if (!value) return {};
  return value.startsWith('-----BEGIN')
    ? { [`${prefix}_DATA`]: value.replaceAll('\\n', '\n') }
    : { [`${prefix}_PATH`]: value };
}

const wantsTls = Boolean(
  cfg.TEMPORAL_API_KEY || cfg.TEMPORAL_TLS_CERT || cfg.TEMPORAL_TLS_CA || cfg.TEMPORAL_TLS_SERVER_NAME,
);
const env: NodeJS.ProcessEnv = {
  ...process.env,
  TEMPORAL_ADDRESS: temporalAddress(cfg),
  TEMPORAL_NAMESPACE: cfg.TEMPORAL_NAMESPACE,
  TEMPORAL_TLS: String(cfg.TEMPORAL_TLS ?? wantsTls),
  ...pem(cfg.TEMPORAL_TLS_CA, 'TEMPORAL_TLS_SERVER_CA_CERT'),
  ...pem(cfg.TEMPORAL_TLS_CERT, 'TEMPORAL_TLS_CLIENT_CERT'),
  ...pem(cfg.TEMPORAL_TLS_KEY, 'TEMPORAL_TLS_CLIENT_KEY'),
};

const child = spawn(resolveTemporalCli(), process.argv.slice(2), { stdio: 'inherit', env });
// Ctrl-C reaches the CLI directly (same process group); this process only waits for it.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});
child.once('error', (err) => {
  console.error(`Cannot run the Temporal CLI: ${err.message}`);
  process.exit(1);
});
child.once('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
