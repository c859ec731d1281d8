/**
 * The whole system as production runs it, on free ports in a temporary folder: PostgreSQL (the
 * embedded server, which the chaos run can stop and start; or a scratch database on DATABASE_URL
 * when no database outage is wanted), the Temporal CLI dev server persisted to SQLite (stopped, or
 * killed with SIGKILL, and started again on the same file), the fake provider server and the fake
 * FCM (in this process, so faults can be planned per request; push goes through the real
 * firebase-admin SDK to it over TLS), and the worker and API as child processes
 * (`node --import tsx …`), each restartable.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { freePort } from '../shared/free-port.ts';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../dev/embedded-postgres.ts';
import { identify } from '../dev/leftovers.ts';
import { startTemporalDevServer, type TemporalDevServer } from '../dev/temporal-dev-server.ts';
import { signDevToken, type TokenRequest } from '../shared/auth-tokens.ts';
import { loadConfig, projectRoot, type Config } from '../shared/config.ts';
import { migrateDeploy } from '../scripts/migrations.ts';
import { createScratchDatabase, type ScratchDatabase } from '../dev/scratch-database.ts';
import { searchAttributeDefinitions } from '../shared/search-attributes.ts';
import { startFakeFcm, type FakeFcm } from '../test/fakes/fcm-server.ts';
import { startFakeProviders, type FakeProviders } from '../test/fakes/provider-server.ts';

export const RESEND_KEY = 're_chaos_key';
/**
 * The API runs with NODE_ENV=production, which refuses the local development key: it gets a key of
 * its own for the run, and the chaos run signs its tokens with that key (see Stack.token).
 */
const AUTH_KEYS = ['AUTH_JWT_SECRET', 'AUTH_JWT_PUBLIC_KEY', 'AUTH_ISSUER', 'AUTH_AUDIENCE'] as const;
/** Small chunks, so that a 2 MiB document is a long, many-chunk upload. */
export const DOCUMENT_CHUNK_BYTES = 64 * 1024;

export interface StackOptions {
  /** The database outage scenario needs a server this run controls: the embedded one. */
  embeddedDatabase: boolean;
  log: (line: string) => void;
}

interface ChildHandle {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export class Stack {
  readonly dataDir: string;
  readonly fake: FakeProviders;
  readonly fcm: FakeFcm;
  databaseUrl = '';
  temporalAddress = '';
  apiUrl = '';
  workerUrl = '';
  /** How many times each process was started (restarts included). */
  readonly starts = { worker: 0, api: 0, temporal: 0, database: 0 };
  /** When each SIGKILL was sent to the worker (ms): the doses it held are measured for lateness. */
  readonly workerKills: number[] = [];
  /** Worker exits nobody asked for (a crash of its own), with their exit codes. */
  readonly unexpectedExits: string[] = [];

  private pg: EmbeddedPostgres | undefined;
  private pgPort = 0;
  private scratch: ScratchDatabase | undefined;
  private temporal: TemporalDevServer | undefined;
  private temporalPorts = { port: 0, uiPort: 0 };
  private worker: ChildHandle | undefined;
  private api: ChildHandle | undefined;
  private expectExit = new Set<ChildProcess>();
  private readonly jwtSecret = randomBytes(32).toString('base64url');

  private constructor(
    private readonly opts: StackOptions,
    dataDir: string,
    fake: FakeProviders,
    fcm: FakeFcm,
  ) {
    this.dataDir = dataDir;
    this.fake = fake;
    this.fcm = fcm;
  }

  static async start(opts: StackOptions): Promise<Stack> {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carecircle-chaos-'));
    const fake = await startFakeProviders({
      resend: { apiKey: RESEND_KEY },
      cloudinary: { cloudName: 'chaos', apiKey: '123456789012345', apiSecret: 'chaos-secret' },
    });
    const stack = new Stack(opts, dataDir, fake, await startFakeFcm({ projectId: 'carecircle-chaos' }));
    try {
      await stack.startDatabase();
      await stack.startTemporal();
      await Promise.all([stack.startWorker(), stack.startApi()]);
    } catch (err) {
      await stack.stop();
      throw err;
    }
    return stack;
  }

  // ── PostgreSQL ────────────────────────────────────────────────────────────────────────────
  async startDatabase(): Promise<void> {
    this.starts.database++;
    const shared = process.env.DATABASE_URL;
    if (!this.opts.embeddedDatabase && shared) {
      if (!this.scratch) {
        this.scratch = await createScratchDatabase(shared, 'carecircle_chaos');
        this.databaseUrl = this.scratch.url;
      }
      return;
    }
    this.pgPort ||= await freePort();
    this.pg = await startEmbeddedPostgres({ dataDir: this.dataDir, port: this.pgPort });
    if (!this.databaseUrl) {
      this.databaseUrl = this.pg.url;
      await migrateDeploy(this.databaseUrl);
    }
  }

  get canStopDatabase(): boolean {
    return this.pg !== undefined;
  }

  async stopDatabase(): Promise<void> {
    if (!this.pg) throw new Error('only the embedded PostgreSQL can be stopped by the chaos run');
    await this.pg.stop();
    this.pg = undefined;
  }

  // ── Temporal ──────────────────────────────────────────────────────────────────────────────
  async startTemporal(): Promise<void> {
    this.starts.temporal++;
    if (!this.temporalPorts.port) this.temporalPorts = { port: await freePort(), uiPort: await freePort() };
    this.temporal = await startTemporalDevServer({
      dataDir: this.dataDir,
      ...this.temporalPorts,
      namespace: 'default',
      searchAttributes: searchAttributeDefinitions,
    });
    this.temporalAddress = this.temporal.address;
  }

  async stopTemporal(): Promise<void> {
    await this.temporal?.stop();
    this.temporal = undefined;
  }

  /**
   * SIGKILL to the Temporal server: no shutdown, whatever SQLite had not committed is gone. Returns
   * once the process is reaped (its ports and file are free); startTemporal() reopens the same file.
   */
  async killTemporal(): Promise<void> {
    // The dev server records itself in its data folder (dev/leftovers.ts).
    const pidFile = path.join(this.dataDir, 'temporal.pid');
    const pid = (JSON.parse(fs.readFileSync(pidFile, 'utf8')) as { server: { pid: number } }).server.pid;
    process.kill(pid, 'SIGKILL');
    for (const deadline = Date.now() + 10_000; identify(pid); await delay(50)) {
      if (Date.now() > deadline) throw new Error(`the Temporal server (pid ${pid}) outlived SIGKILL`);
    }
    // Its handle's stop() would remove the pid file of the next server: forget it instead.
    this.temporal = undefined;
    fs.rmSync(pidFile, { force: true });
  }

  // ── Worker and API ────────────────────────────────────────────────────────────────────────
  private workerPort = 0;
  private apiPort = 0;

  private env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'production',
      LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'warn',
      DATA_DIR: this.dataDir,
      DATABASE_URL: this.databaseUrl,
      TEMPORAL_ADDRESS: this.temporalAddress,
      API_HOST: '127.0.0.1',
      API_PORT: String(this.apiPort),
      WORKER_METRICS_HOST: '127.0.0.1',
      WORKER_METRICS_PORT: String(this.workerPort),
      RESEND_API_KEY: RESEND_KEY,
      RESEND_BASE_URL: this.fake.resend.baseUrl,
      FIREBASE_SERVICE_ACCOUNT: this.fcm.serviceAccount,
      FIREBASE_CONNECT_TO: this.fcm.connectTo,
      FIREBASE_TLS_CA: this.fcm.caFile,
      CLOUDINARY_URL: this.fake.cloudinary.cloudinaryUrl,
      DOCUMENT_CHUNK_BYTES: String(DOCUMENT_CHUNK_BYTES),
      // A SIGTERM must interrupt the document upload rather than let it finish within the grace.
      WORKER_SHUTDOWN_GRACE: '2s',
      // The 15-minute reconciliation would restart a lost workflow and hide the loss we look for.
      SCHEDULES_ENABLED: 'false',
      // Every request of the run comes from one user and one address (seeding alone is hundreds of
      // requests a minute, more than the production limits of 300 per user and 600 per address):
      // the limits are lifted so that the run measures faults, not 429s.
      RATE_LIMIT_PER_USER_PER_MINUTE: '1000000000',
      RATE_LIMIT_PER_IP_PER_MINUTE: '1000000000',
    };
    // Only this run's own key: no inherited issuer, audience or public key the tokens would not match.
    for (const key of AUTH_KEYS) delete env[key];
    env.AUTH_JWT_SECRET = this.jwtSecret;
    return env;
  }

  /** The token settings of the API processes' environment, for signing (signDevToken refuses production). */
  private tokenConfig(): Config {
    const env = this.env();
    return loadConfig(Object.fromEntries([['NODE_ENV', 'test'], ...AUTH_KEYS.map((k) => [k, env[k]])]));
  }

  /** A bearer token the API of this stack accepts (a fresh one per call, valid for a day). */
  token(userId: string, opts: Omit<TokenRequest, 'userId'> = {}): Promise<string> {
    return signDevToken(this.tokenConfig(), { userId, ttlSeconds: 24 * 3600, ...opts });
  }

  private spawnChild(name: 'worker' | 'api', entry: string): ChildHandle {
    const logFile = fs.openSync(path.join(this.dataDir, `${name}.log`), 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, entry)], {
      cwd: projectRoot,
      env: this.env(),
      stdio: ['ignore', logFile, logFile],
    });
    fs.closeSync(logFile);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => {
        if (!this.expectExit.delete(child)) {
          this.unexpectedExits.push(`${name} pid ${child.pid}: ${signal ?? `exit code ${code}`}`);
          this.opts.log(`${name} exited on its own (${signal ?? code}); see ${path.join(this.dataDir, `${name}.log`)}`);
        }
        resolve({ code, signal });
      }),
    );
    process.once('exit', () => child.kill('SIGKILL'));
    return { child, exited };
  }

  /** Starts the worker; one that exits during start-up is started again, up to 3 times, as a supervisor would. */
  async startWorker(): Promise<void> {
    this.workerPort ||= await freePort();
    this.workerUrl = `http://127.0.0.1:${this.workerPort}`;
    for (let attempt = 1; ; attempt++) {
      this.starts.worker++;
      this.worker = this.spawnChild('worker', 'workers/main.ts');
      try {
        await waitFor(`${this.workerUrl}/ready`, 90_000, this.worker);
        return;
      } catch (err) {
        const tail = fs.readFileSync(path.join(this.dataDir, 'worker.log'), 'utf8').trim().split('\n').slice(-3);
        this.opts.log(`worker start ${attempt} failed: ${(err as Error).message}; last log lines:\n${tail.join('\n')}`);
        if (attempt >= 3) throw err;
        this.worker.child.kill('SIGKILL');
        await delay(2_000);
      }
    }
  }

  async startApi(): Promise<void> {
    this.apiPort ||= await freePort();
    this.apiUrl = `http://127.0.0.1:${this.apiPort}`;
    this.starts.api++;
    this.api = this.spawnChild('api', 'api/main.ts');
    await waitFor(`${this.apiUrl}/health`, 90_000, this.api);
  }

  /** Signals the worker and waits for it to exit; returns how it exited. */
  async signalWorker(signal: 'SIGKILL' | 'SIGTERM'): Promise<string> {
    const handle = this.worker;
    if (!handle) throw new Error('no worker running');
    this.expectExit.add(handle.child);
    if (signal === 'SIGKILL') this.workerKills.push(Date.now());
    handle.child.kill(signal);
    const { code, signal: got } = await handle.exited;
    this.worker = undefined;
    return got ?? `exit code ${code}`;
  }

  /** Restarts the worker if it exited on its own (as a process supervisor would). */
  async ensureWorker(): Promise<boolean> {
    const w = this.worker;
    if (w && w.child.exitCode === null && w.child.signalCode === null) return false;
    await this.startWorker();
    return true;
  }

  async stop(): Promise<void> {
    for (const handle of [this.api, this.worker]) {
      if (!handle || handle.child.exitCode !== null || handle.child.signalCode !== null) continue;
      this.expectExit.add(handle.child);
      handle.child.kill('SIGTERM');
      await Promise.race([handle.exited, delay(20_000).then(() => handle.child.kill('SIGKILL'))]);
    }
    await this.stopTemporal().catch((err: unknown) => this.opts.log(`temporal stop: ${String(err)}`));
    if (this.pg) await this.pg.stop().catch((err: unknown) => this.opts.log(`postgres stop: ${String(err)}`));
    if (this.scratch) {
      await this.scratch.drop().catch((err: unknown) => this.opts.log(`drop scratch database: ${String(err)}`));
    }
    await this.fake.close();
    await this.fcm.close();
    if (process.env.CHAOS_KEEP_DATA) this.opts.log(`data and logs kept in ${this.dataDir}`);
    else fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

async function waitFor(url: string, timeoutMs: number, handle: ChildHandle): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (handle.child.exitCode !== null || handle.child.signalCode !== null) {
      throw new Error(`${url}: the process exited during start-up`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready within ${timeoutMs / 1000} s`);
    await delay(200);
  }
}
