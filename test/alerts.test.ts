/**
 * ops/alerts.rules.yml: parsed and checked here on every run (structure, the replaced design's thresholds, the
 * metric names the application really exports, a runbook section per alert, a unit test per
 * alert); and, where promtool is installed (Debian: `apt-get install prometheus`), loaded by
 * Prometheus's own checker and run against ops/alerts.test.yml, which makes every rule fire on
 * synthetic series and stay quiet below its threshold.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { projectRoot } from '../shared/config.ts';
import { ALERT_THRESHOLDS, metricsRegistry, systemMetricsRegistry } from '../shared/metrics.ts';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RulesFile {
  groups: { name: string; rules: Rule[] }[];
}
interface AlertCase {
  eval_time: string;
  alertname: string;
  exp_alerts: { exp_labels: Record<string, string>; exp_annotations?: Record<string, string> }[];
}
interface UnitTests {
  rule_files: string[];
  tests: { name?: string; alert_rule_test?: AlertCase[] }[];
}

const opsDir = path.join(projectRoot, 'ops');
const rulesFile = path.join(opsDir, 'alerts.rules.yml');
const rules = parse(fs.readFileSync(rulesFile, 'utf8')) as RulesFile;
const unitTests = parse(fs.readFileSync(path.join(opsDir, 'alerts.test.yml'), 'utf8')) as UnitTests;
const alerts = rules.groups.flatMap((g) => g.rules).filter((r): r is Rule & { alert: string } => Boolean(r.alert));
const byName = (name: string) => {
  const rule = alerts.find((a) => a.alert === name);
  if (!rule) throw new Error(`no alert ${name} in ops/alerts.rules.yml`);
  return rule;
};
const compact = (expr: string) => expr.replace(/\s+/g, ' ').trim();

function findPromtool(): string | undefined {
  const candidates = [process.env.PROMTOOL, 'promtool'].filter(Boolean) as string[];
  return candidates.find((bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0);
}
const promtool = findPromtool();

describe('ops/alerts.rules.yml', () => {
  it('is a rules file whose alerts all carry severity, summary, description and for', () => {
    expect(rules.groups.length).toBeGreaterThan(0);
    expect(alerts.length).toBeGreaterThanOrEqual(10);
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
    for (const a of alerts) {
      expect(a.expr.trim(), a.alert).not.toBe('');
      expect(a.for, a.alert).toMatch(/^\d+[smhd]$/);
      expect(['warning', 'critical'], a.alert).toContain(a.labels?.severity);
      expect(a.annotations?.summary, a.alert).toBeTruthy();
      expect(a.annotations?.description, a.alert).toBeTruthy();
    }
  });

  it("carries the replaced design's thresholds, the same numbers as ALERT_THRESHOLDS", () => {
    expect(compact(byName('TaskQueueBacklogHigh').expr)).toMatch(
      new RegExp(`carecircle_task_queue_backlog\\) > ${ALERT_THRESHOLDS.backlog}$`),
    );
    expect(compact(byName('TaskQueueTimeInQueueHigh').expr)).toMatch(
      new RegExp(`carecircle_task_queue_backlog_age_seconds\\) > ${ALERT_THRESHOLDS.backlogAgeSeconds}$`),
    );
    expect(compact(byName('ActivityScheduleToStartSlow').expr)).toMatch(
      new RegExp(`\\) > ${ALERT_THRESHOLDS.backlogAgeSeconds}$`),
    );
    expect(compact(byName('ActivityFailureRateHigh').expr)).toContain(`) > ${ALERT_THRESHOLDS.failureRatio} and`);
    expect(compact(byName('DeadLettersOpen').expr)).toBe(
      `max(carecircle_dead_letters_open) > ${ALERT_THRESHOLDS.deadLetters}`,
    );
    expect(compact(byName('WorkerMemoryHigh').expr)).toBe(
      `process_resident_memory_bytes{job="carecircle-worker"} > ${ALERT_THRESHOLDS.workerMemoryBytes}`,
    );
    expect(compact(byName('ProcessingRateDropped').expr)).toContain(
      `< ${ALERT_THRESHOLDS.processingRateDropRatio} * sum(`,
    );
  });

  it('uses only metrics the application exports', () => {
    const exported = new Set([
      ...metricsRegistry.getMetricsAsArray().map((m) => m.name),
      ...systemMetricsRegistry.getMetricsAsArray().map((m) => m.name),
    ]);
    const used = new Set(alerts.flatMap((a) => [...a.expr.matchAll(/\bcarecircle_[a-z_]+/g)].map((m) => m[0])));
    expect(used.size).toBeGreaterThanOrEqual(8);
    for (const name of used) {
      // Histograms and counters are written with their series suffixes in PromQL.
      const base = name.replace(/_(bucket|count|sum)$/, '');
      expect(exported.has(base) || exported.has(name), `${name} is not exported by shared/metrics.ts`).toBe(true);
    }
  });

  it('links every alert to its section of docs/operations.md', () => {
    const doc = fs.readFileSync(path.join(projectRoot, 'docs/operations.md'), 'utf8');
    const anchors = new Set(
      [...doc.matchAll(/^#{2,4} (.+)$/gm)].map((m) =>
        m[1]!
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    for (const a of alerts) {
      expect(a.annotations?.runbook, a.alert).toBe(`docs/operations.md#${a.alert.toLowerCase()}`);
      expect(anchors.has(a.alert.toLowerCase()), `docs/operations.md has no "### ${a.alert}" section`).toBe(true);
    }
  });

  it('has a unit test per alert in ops/alerts.test.yml that makes it fire and one that keeps it quiet', () => {
    expect(unitTests.rule_files).toEqual(['alerts.rules.yml']);
    const cases = unitTests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const a of alerts) {
      const mine = cases.filter((c) => c.alertname === a.alert);
      expect(
        mine.some((c) => c.exp_alerts.length > 0),
        `${a.alert} never fires in a test`,
      ).toBe(true);
      expect(
        mine.some((c) => c.exp_alerts.length === 0),
        `${a.alert} has no quiet case`,
      ).toBe(true);
      for (const c of mine.flatMap((m) => m.exp_alerts)) expect(c.exp_labels.severity).toBe(a.labels?.severity);
    }
  });

  const withPromtool = promtool ? it : it.skip;
  withPromtool(
    promtool
      ? 'loads in promtool, and every rule passes its promtool unit test'
      : 'promtool checks — SKIPPED: promtool is not installed (apt-get install prometheus); the checks above still ran',
    () => {
      const check = execFileSync(promtool!, ['check', 'rules', rulesFile], { encoding: 'utf8' });
      expect(check).toContain(`SUCCESS: ${alerts.length} rules found`);
      const result = spawnSync(promtool!, ['test', 'rules', 'alerts.test.yml'], { cwd: opsDir, encoding: 'utf8' });
      expect(result.stdout + result.stderr).toContain('SUCCESS');
      expect(result.status, result.stdout + result.stderr).toBe(0);
    },
  );
});
