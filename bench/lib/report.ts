/** Turning results into the console table, the targets, the Markdown table and the chart panels. */
import type { ApiResult } from '../scenarios/api.ts';
import type { BurstResult } from '../scenarios/burst.ts';
import type { FanoutResult } from '../scenarios/fanout.ts';
import type { ReplayResult } from '../scenarios/replay.ts';
import type { ScaleResult } from '../scenarios/scale.ts';
import type { Panel } from './chart.ts';

export interface Machine {
  cores: number;
  cpuModel: string;
  ramGiB: number;
  node: string;
  platform: string;
  /** os.loadavg() when the run started and ended. */
  loadStart: number[];
  loadEnd?: number[];
}

/** Common to every scenario entry of results JSON. */
export interface RunInfo {
  ranAt: string;
  durationS: number;
  machine: Machine;
  settings: Record<string, unknown>;
}

export type ScenarioName = 'burst' | 'api' | 'scale' | 'fanout' | 'replay';

export interface Results {
  burst?: (BurstResult & RunInfo) | ErrorResult;
  api?: (ApiResult & RunInfo) | ErrorResult;
  scale?: (ScaleResult & RunInfo) | ErrorResult;
  fanout?: (FanoutResult & RunInfo) | ErrorResult;
  replay?: (ReplayResult & RunInfo) | ErrorResult;
}

export interface ErrorResult extends RunInfo {
  scenario: ScenarioName;
  error: string;
}

const ok = <T extends object>(r: (T & RunInfo) | ErrorResult | undefined): (T & RunInfo) | undefined =>
  r && !('error' in r) ? (r as T & RunInfo) : undefined;

/** The burst's results, unless recorded before it ran per N (no `runs`): those are not comparable. */
const burstOf = (results: Results) => {
  const burst = ok<BurstResult>(results.burst);
  return burst && Array.isArray(burst.runs) ? burst : undefined;
};

export interface Target {
  name: string;
  target: string;
  figure: string;
  met: boolean | null;
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const n = (v: number) => v.toLocaleString('en-US');

export function targets(results: Results): Target[] {
  const out: Target[] = [];
  const burst = burstOf(results);
  for (const size of [1000, 5000]) {
    const run = burst?.runs.find((r) => r.n === size);
    const ours = run?.systems.find((x) => x.system === 'carecircle');
    const bull = run?.systems.find((x) => x.system === 'bullmq');
    out.push({
      name: `Burst N = ${n(size)}: lateness p99 vs BullMQ (seed's configuration)`,
      target: '< 1.00×',
      figure:
        run && ours && bull && run.ratios.p99VsBullmq !== null
          ? `${run.ratios.p99VsBullmq.toFixed(2)}× (${s(ours.lateness.p99)} vs ${s(bull.lateness.p99)})`
          : 'not measured',
      met: run?.ratios.p99VsBullmq != null ? run.ratios.p99VsBullmq < 1 : null,
    });
    out.push({
      name: `Burst N = ${n(size)}: lateness p99 vs provider floor`,
      target: size === 1000 ? '≤ 1.50×' : 'report',
      figure:
        run && ours && run.ratios.p99VsFloor !== null
          ? `${run.ratios.p99VsFloor.toFixed(2)}× (${s(ours.lateness.p99)} vs ${s(run.providerFloorMs)})`
          : 'not measured',
      met: size === 1000 && run?.ratios.p99VsFloor != null ? run.ratios.p99VsFloor <= 1.5 : null,
    });
  }
  const api = ok<ApiResult>(results.api);
  out.push({
    name: `API p99, POST /v1/medications at ${api?.connections ?? 50} concurrent`,
    target: '< 50 ms',
    figure: api
      ? `${api.latencyMs.p99} ms (p50 ${api.latencyMs.p50} ms, ${api.throughputPerSecond} req/s)`
      : 'not measured',
    met: api && api.connections === 50 ? api.latencyMs.p99 < 50 : null,
  });
  const measured = api?.reads && api.bareStart ? api : undefined;
  out.push({
    name: `API reads p99 (GET /v1/medications/:id, list) at ${api?.connections ?? 50} concurrent`,
    target: '< 50 ms',
    figure: measured ? `${measured.reads.p99} ms` : 'not measured',
    met: measured && measured.connections === 50 ? measured.reads.p99 < 50 : null,
  });
  out.push({
    name: 'API create throughput ÷ bare client.workflow.start',
    target: '≥ 0.80',
    figure: measured
      ? `${measured.createVsBareStart.toFixed(2)} (${measured.throughputPerSecond}/s vs ${measured.bareStart.throughputPerSecond}/s)`
      : 'not measured',
    met: measured ? measured.createVsBareStart >= 0.8 : null,
  });
  const scale = ok<ScaleResult>(results.scale);
  const top = scale?.steps[scale.steps.length - 1];
  out.push({
    name: '10,000 sleeping schedules: worker RSS',
    target: '< 512 MB',
    figure: top ? `${top.workerRssMiB} MiB at ${n(top.sleeping)}` : 'not measured',
    met: top && top.sleeping >= 10_000 ? top.workerRssMiB * 1.048576 < 512 : null,
  });
  const fanout = ok<FanoutResult>(results.fanout);
  const first = fanout?.measured ? fanout.runs[0] : undefined;
  out.push({
    name: `Fan-out to ${fanout?.members ?? 50} members (push + email)`,
    target: '< 2 s',
    figure: first
      ? `${s(first.endToEndMs)}${fanout?.measured && fanout.workaround ? ' (with the workaround below)' : ''}`
      : fanout && !fanout.measured
        ? fanout.reason
        : 'not measured',
    met: first && fanout?.members === 50 ? first.endToEndMs < 2000 : null,
  });
  return out;
}

const metText = (met: boolean | null) => (met === null ? '–' : met ? 'met' : 'not met');

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The console report. */
export function formatText(results: Results): string {
  const parts: string[] = [];
  const burst = burstOf(results);
  for (const run of burst?.runs ?? []) {
    parts.push(
      `Burst: ${n(run.n)} doses due at the same instant (provider: ${burst!.providerLatencyMs} ms a call, ` +
        `${burst!.providerConcurrency} at once)`,
    );
    parts.push(
      pad([
        ['system', 'started in', 'lateness p50', 'p95', 'p99', 'max', 'drain', 'exactly once'],
        ...run.systems.map((r) => [
          r.system,
          s(r.startMs),
          s(r.lateness.p50),
          s(r.lateness.p95),
          s(r.lateness.p99),
          s(r.lateness.max),
          s(r.drainMs),
          `${n(r.deliveredOnce)}/${n(r.n)}`,
        ]),
      ]),
    );
    for (const skip of run.skipped) parts.push(`${skip.system}: skipped (${skip.reason})`);
    const fixed = (v: number | null) => v?.toFixed(2) ?? 'n/a';
    parts.push(
      `provider floor: ${s(run.providerFloorMs)} (${n(run.n)} × ${burst!.providerLatencyMs} ms ÷ ${burst!.providerConcurrency})`,
    );
    parts.push(`lateness p99 ratio vs BullMQ: ${fixed(run.ratios.p99VsBullmq)}`);
    parts.push(`lateness p99 vs provider floor: ${fixed(run.ratios.p99VsFloor)}`);
    parts.push(
      `lateness p99 ratio vs BullMQ at ${burst!.providerConcurrency} provider calls at once: ${fixed(run.ratios.p99VsBullmqAt20)}`,
    );
    parts.push(`lateness p99 ratio vs bare Temporal: ${fixed(run.ratios.p99VsBareTemporal)}`);
    const killed = run.systems.find((r) => r.system === 'carecircle-killed');
    if (killed) {
      parts.push(
        `with a worker SIGKILLed at the instant: ${n(killed.n - (killed.lost ?? 0))}/${n(killed.n)} doses sent, ` +
          `${n(killed.lost ?? 0)} lost, ${n(killed.sentTwice ?? 0)} sent twice; ` +
          `lateness p99 ${s(killed.lateness.p99)}, max ${s(killed.lateness.max)}`,
      );
    }
    parts.push('');
  }
  const api = ok<ApiResult>(results.api);
  if (api) {
    parts.push(`API: POST /v1/medications, ${api.connections} concurrent, ${n(api.requests)} requests`);
    parts.push(
      pad([
        ['throughput', 'p50', 'p90', 'p99', 'max', 'non-2xx', 'errors', 'seed reference'],
        [
          `${api.throughputPerSecond} req/s`,
          `${api.latencyMs.p50} ms`,
          `${api.latencyMs.p90} ms`,
          `${api.latencyMs.p99} ms`,
          `${api.latencyMs.max} ms`,
          String(api.non2xx),
          String(api.errors),
          `${api.seedReferenceMs} ms`,
        ],
      ]),
    );
    // Recorded before reads and bare starts were measured: not shown.
    if (api.reads && api.bareStart) {
      parts.push(`read p99 at ${api.connections} concurrent: ${api.reads.p99} ms`);
      parts.push(
        `(reads: GET /v1/medications/:id p50 ${api.reads.get.p50} ms, p99 ${api.reads.get.p99} ms, ` +
          `${api.reads.get.throughputPerSecond} req/s; list p50 ${api.reads.list.p50} ms, p99 ${api.reads.list.p99} ms, ` +
          `${api.reads.list.throughputPerSecond} req/s)`,
      );
      parts.push(`create throughput ratio vs bare start: ${api.createVsBareStart.toFixed(2)}`);
      parts.push(`(bare client.workflow.start: ${api.bareStart.throughputPerSecond}/s at ${api.connections} at once)`);
    }
    parts.push(
      `one client at a time (${api.singleClient.requests} requests): p50 ${api.singleClient.p50} ms, ` +
        `p99 ${api.singleClient.p99} ms, ${api.singleClient.throughputPerSecond} req/s`,
    );
    parts.push('');
  }
  const scale = ok<ScaleResult>(results.scale);
  if (scale) {
    parts.push(`Scale: sleeping schedules (worker cache: ${String(scale.maxCachedWorkflows)})`);
    parts.push(
      pad([
        [
          'sleeping',
          'accepted in',
          'asleep in',
          'starts/s',
          'worker RSS',
          'peak while starting',
          'worker heap',
          'server RSS',
        ],
        ...scale.steps.map((st) => [
          n(st.sleeping),
          s(st.startMs),
          s(st.asleepMs),
          String(st.startsPerSecond),
          `${st.workerRssMiB} MiB`,
          `${st.workerPeakRssMiB} MiB`,
          `${st.workerHeapUsedMiB} MiB`,
          `${st.serverRssMiB} MiB`,
        ]),
      ]),
    );
    const c = scale.costPer1000;
    parts.push(
      `cost per 1,000: worker RSS ${c.workerRssMiB} MiB, worker heap ${c.workerHeapUsedMiB} MiB, ` +
        `server RSS ${c.serverRssMiB} MiB, ${c.startSeconds} s to start`,
    );
    const top = scale.steps[scale.steps.length - 1];
    if (top && scale.settings.workerDefaults === 'production') {
      parts.push(`worker RSS at ${n(top.sleeping)} sleeping (defaults): ${top.workerRssMiB} MiB`);
    }
    parts.push('');
  }
  const fanout = ok<FanoutResult>(results.fanout);
  if (fanout) {
    if (!fanout.measured) parts.push(`Fan-out: ${fanout.reason}`);
    else {
      parts.push(`Fan-out: one message to ${fanout.members} members, push + email`);
      parts.push(
        pad([
          ['email rate limit', 'API answered', 'end to end', 'workflow done', 'emails', 'pushes'],
          ...fanout.runs.map((r) => [
            `${n(r.emailRatePerMinute)}/min`,
            `${r.apiMs} ms`,
            s(r.endToEndMs),
            s(r.workflowMs),
            String(r.emailsOnce),
            String(r.pushesSent),
          ]),
        ]),
      );
      if (fanout.workaround) parts.push(`Workaround: ${fanout.workaround}`);
    }
    parts.push('');
  }
  const replay = ok<ReplayResult>(results.replay);
  if (replay) {
    parts.push(
      `Replay: a year of daily doses (${replay.doses} doses, ${replay.runs.length} runs, ${n(replay.totalEvents)} events)`,
    );
    parts.push(
      pad([
        ['run', 'events', 'alone (new replayer)', 'in one replayer'],
        ...replay.runs.map((r, i) => [String(i + 1), n(r.events), `${r.aloneMs} ms`, `${r.inBatchMs} ms`]),
        ['all', n(replay.totalEvents), '—', `${replay.totalMs} ms`],
      ]),
    );
    parts.push('');
  }
  for (const [name, r] of Object.entries(results)) {
    if (r && 'error' in r) parts.push(`${name}: FAILED: ${r.error}`, '');
  }
  parts.push('Targets');
  parts.push(
    pad([
      ['target', 'goal', 'figure', 'status'],
      ...targets(results).map((t) => [t.name, t.target, t.figure, metText(t.met)]),
    ]),
  );
  return parts.join('\n');
}

/** The same, as Markdown tables for BENCHMARKS.md. */
export function formatMarkdown(results: Results): string {
  const table = (rows: string[][]) =>
    [
      `| ${rows[0]!.join(' | ')} |`,
      `|${rows[0]!.map(() => '---').join('|')}|`,
      ...rows.slice(1).map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
  const text = formatText(results);
  // Each block of the console report (title line + aligned table) becomes a heading + table.
  const blocks = text.split('\n\n');
  const out: string[] = [];
  for (const block of blocks) {
    const lines = block.split('\n');
    const title = lines[0]!;
    const rows = lines.slice(1).filter((l) => /\S {2,}\S/.test(l));
    const notes = lines.slice(1).filter((l) => !/\S {2,}\S/.test(l));
    out.push(`**${title}**`, '');
    if (rows.length > 0) out.push(table(rows.map((r) => r.split(/ {2,}/))), '');
    for (const note of notes) out.push(`${note}  `);
    out.push('');
  }
  return (
    out
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trim() + '\n'
  );
}

export function chartPanels(results: Results): Panel[] {
  const panels: Panel[] = [];
  const burst = burstOf(results);
  panels.push(
    burst?.runs[0]
      ? {
          title: `Burst: ${n(burst.runs[0]!.n)} doses due at once (floor ${s(burst.runs[0]!.providerFloorMs)})`,
          unit: 'seconds after the due instant',
          groups: burst.runs[0]!.systems.map((r) => ({
            label: r.system,
            bars: [
              { label: 'p50', value: r.lateness.p50 / 1000 },
              { label: 'p99', value: r.lateness.p99 / 1000 },
              { label: 'drain', value: r.drainMs / 1000 },
            ],
          })),
        }
      : { title: 'Burst', unit: '', groups: [], note: 'not measured' },
  );
  const api = ok<ApiResult>(results.api);
  panels.push(
    api
      ? {
          title: `API: POST /v1/medications, ${api.connections} concurrent (${api.throughputPerSecond} req/s)`,
          unit: 'ms',
          groups: [
            {
              label: `${api.connections} concurrent`,
              bars: [
                { label: 'p50', value: api.latencyMs.p50 },
                { label: 'p90', value: api.latencyMs.p90 },
                { label: 'p99', value: api.latencyMs.p99 },
              ],
            },
            {
              label: 'one client',
              bars: [
                { label: 'p50', value: api.singleClient.p50 },
                { label: 'p99', value: api.singleClient.p99 },
              ],
            },
          ],
          lines: [
            { value: api.seedReferenceMs, label: `seed ${api.seedReferenceMs} ms` },
            { value: 50, label: 'target p99 50 ms' },
          ],
        }
      : { title: 'API', unit: '', groups: [], note: 'not measured' },
  );
  const scale = ok<ScaleResult>(results.scale);
  panels.push(
    scale
      ? {
          title: 'Sleeping schedules: memory',
          unit: 'MiB',
          groups: scale.steps.map((st) => ({
            label: `${n(st.sleeping)} sleeping`,
            bars: [
              { label: 'worker RSS', value: st.workerRssMiB },
              { label: 'peak', value: st.workerPeakRssMiB },
              { label: 'worker heap', value: st.workerHeapUsedMiB },
              { label: 'server RSS', value: st.serverRssMiB },
            ],
          })),
          lines: [{ value: 512 / 1.048576, label: '512 MB alert' }],
        }
      : { title: 'Sleeping schedules', unit: '', groups: [], note: 'not measured' },
  );
  const fanout = ok<FanoutResult>(results.fanout);
  const replay = ok<ReplayResult>(results.replay);
  const groups = [
    ...(fanout?.measured
      ? fanout.runs.map((r) => ({
          label: `fan-out ${fanout.members} (${n(r.emailRatePerMinute)}/min)`,
          bars: [{ label: 'seconds', value: r.endToEndMs / 1000 }],
        }))
      : []),
    ...(replay
      ? [{ label: `replay ${replay.doses} doses`, bars: [{ label: 'seconds', value: replay.totalMs / 1000 }] }]
      : []),
  ];
  panels.push({
    title: 'Fan-out end to end, year replay',
    unit: 'seconds',
    groups,
    ...(fanout?.measured ? { lines: [{ value: 2, label: 'fan-out target 2 s' }] } : {}),
    ...(groups.length === 0 ? { note: fanout && !fanout.measured ? 'fan-out not measured' : 'not measured' } : {}),
  });
  return panels;
}
