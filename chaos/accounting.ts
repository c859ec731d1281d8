/**
 * Counts what happened to every dose of a scenario, from what left the system (the fake Resend's
 * accepted emails, the fake FCM's accepted messages, the in-app table) and from the database
 * (notification log, dead letters), never from what the workers say about themselves.
 */
import { Connection, Client } from '@temporalio/client';
import pg from 'pg';
import { QUIET_CHANNEL } from '../providers/fcm-push.ts';
import type { FakeFcm } from '../test/fakes/fcm-server.ts';
import type { FakeProviders } from '../test/fakes/provider-server.ts';
import { CHANNELS, type ChannelName, type SeededScenario } from './seed.ts';

const KEY = /^dose:([0-9a-f-]{36}):([^:]+:[^:]+:[^:]+):([0-9a-f-]{36}):(push|email|in_app)(?::.*)?$/;

export interface ChannelCount {
  due: number;
  delivered: number;
  deadLettered: number;
}

export interface ScenarioCount {
  name: string;
  due: number;
  /** Due deliveries that reached the person (at least once). */
  delivered: number;
  /** Due deliveries not delivered but recorded as dead letters. */
  deadLettered: number;
  /** Deliveries beyond the first for the same dose, recipient and channel. */
  duplicates: number;
  /** Due, never delivered and not dead-lettered. */
  lost: number;
  /** Reminders sent while their schedule was paused or deleted (chaos/people.ts; none can arise in a burst). */
  ghosts: number;
  /** Due doses of an active schedule of which no channel was sent nor dead-lettered (each also counts in `lost`). */
  silenced: number;
  /** Still pending in the notification log without a dead letter: a retry may still change the counts. */
  inFlight: number;
  perChannel: Record<ChannelName, ChannelCount>;
  /** Dead letters expected because the address is invalid for good, and how many have one. */
  permanentExpected: number;
  permanentDeadLettered: number;
  /** Dead letters of transient errors that ran out of attempts (the replaced design's 2 for reminders). */
  transientDeadLetters: number;
  /** A dead letter although the person got it (a crash between the provider and the log). */
  deadLetteredButDelivered: number;
  /** notification_log says sent, yet nothing left the system. */
  sentWithoutDelivery: number;
  /** A reminder for an instant other than the dose's. */
  wrongInstant: number;
  /**
   * Pushes sent again, quietly, with the collapse id of one already accepted for the same phone (a
   * worker died between FCM's answer and the sent record): the phone replaces the first
   * notification without alerting again, so they are not counted as duplicates, but here.
   */
  replacedOnPhone: number;
  /** Each duplicate: medication, channel and when each copy was sent. */
  duplicateList: string[];
  workflows: Record<string, number>;
  workflowsNotRunning: string[];
}

export interface Snapshot {
  inApp: { dedupe_key: string; at_ms: number }[];
  log: { dedupe_key: string; status: string; attempts: number }[];
  deadLetters: { dedupe_key: string | null; error_type: string | null; status: string }[];
}

export async function snapshot(databaseUrl: string): Promise<Snapshot> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const q = async <T>(sql: string) => (await client.query(sql)).rows as T[];
    return {
      inApp: (
        await q<{ dedupe_key: string; at_ms: string }>(
          `SELECT dedupe_key, (extract(epoch FROM created_at) * 1000)::bigint::text AS at_ms
             FROM in_app_notifications WHERE dedupe_key LIKE 'dose:%'`,
        )
      ).map((r) => ({ dedupe_key: r.dedupe_key, at_ms: Number(r.at_ms) })),
      log: await q(`SELECT dedupe_key, status::text, attempts FROM notification_log WHERE kind = 'dose_reminder'`),
      deadLetters: await q(
        `SELECT dedupe_key, error_type, status::text FROM dead_letters WHERE dedupe_key LIKE 'dose:%'`,
      ),
    };
  } finally {
    await client.end();
  }
}

/** Every reminder that left the system, by channel, with when the provider (or the in-app table) got it. */
export function sentArtifacts(
  snap: Snapshot,
  fake: FakeProviders,
  fcm: FakeFcm,
): { key: string; channel: ChannelName; at?: number; replacesOnPhone?: boolean }[] {
  // What a phone shows: a quiet push with the tag of one it already got replaces that notification
  // without alerting again. A loud one alerts a second time: a duplicate.
  const shown = new Set<string>();
  return [
    // One accepted message per live token; the chaos patients have one live token each.
    ...fcm.sent.flatMap((m) => {
      if (!m.message.data?.dedupeKey) return [];
      const tag = m.message.android?.notification?.tag;
      const onPhone = tag ? `${m.token}|${tag}` : undefined;
      const quiet = m.message.android?.notification?.channel_id === QUIET_CHANNEL;
      const replacesOnPhone = quiet && onPhone !== undefined && shown.has(onPhone);
      if (onPhone) shown.add(onPhone);
      return [{ key: m.message.data.dedupeKey, channel: 'push' as const, at: m.at, replacesOnPhone }];
    }),
    ...snap.inApp.map((r) => ({ key: r.dedupe_key, channel: 'in_app' as const, at: r.at_ms })),
    ...fake.resend.sent.flatMap((e) =>
      e.idempotencyKey ? [{ key: e.idempotencyKey, channel: 'email' as const, at: e.createdAt.getTime() }] : [],
    ),
  ];
}

export function parse(key: string): { medicationId: string; doseAt: string; channel: ChannelName } | undefined {
  const m = KEY.exec(key);
  return m ? { medicationId: m[1]!, doseAt: m[2]!, channel: m[4] as ChannelName } : undefined;
}

export function count(scenario: SeededScenario, snap: Snapshot, fake: FakeProviders, fcm: FakeFcm): ScenarioCount {
  const meds = new Map(scenario.medications.map((m) => [m.id, m]));
  const slot = (medicationId: string, channel: ChannelName) => `${medicationId}|${channel}`;
  const artifacts = new Map<string, number>();
  const sentTimes = new Map<string, number[]>();
  let wrongInstant = 0;
  let replacedOnPhone = 0;
  for (const a of sentArtifacts(snap, fake, fcm)) {
    const p = parse(a.key);
    if (!p || !meds.has(p.medicationId) || p.channel !== a.channel) continue;
    if (a.replacesOnPhone) {
      replacedOnPhone++;
      continue;
    }
    if (p.doseAt !== scenario.doseAt) wrongInstant++;
    const s = slot(p.medicationId, p.channel);
    artifacts.set(s, (artifacts.get(s) ?? 0) + 1);
    sentTimes.set(s, [...(sentTimes.get(s) ?? []), a.at ?? 0]);
  }

  const deadLetters = new Map<string, { errorType: string | null }[]>();
  for (const d of snap.deadLetters) {
    const p = d.dedupe_key ? parse(d.dedupe_key) : undefined;
    if (!p || !meds.has(p.medicationId)) continue;
    const s = slot(p.medicationId, p.channel);
    deadLetters.set(s, [...(deadLetters.get(s) ?? []), { errorType: d.error_type }]);
  }
  const logPending = new Set(
    snap.log
      .filter((r) => r.status === 'pending')
      .map((r) => parse(r.dedupe_key))
      .filter((p): p is NonNullable<typeof p> => !!p && meds.has(p.medicationId))
      .map((p) => slot(p.medicationId, p.channel)),
  );
  const logSent = new Set(
    snap.log
      .filter((r) => r.status === 'sent')
      .map((r) => parse(r.dedupe_key))
      .filter((p): p is NonNullable<typeof p> => !!p && meds.has(p.medicationId))
      .map((p) => slot(p.medicationId, p.channel)),
  );

  const perChannel = Object.fromEntries(CHANNELS.map((c) => [c, { due: 0, delivered: 0, deadLettered: 0 }])) as Record<
    ChannelName,
    ChannelCount
  >;
  const out: ScenarioCount = {
    name: scenario.name,
    due: 0,
    delivered: 0,
    deadLettered: 0,
    duplicates: 0,
    lost: 0,
    ghosts: 0,
    silenced: 0,
    inFlight: 0,
    perChannel,
    permanentExpected: 0,
    permanentDeadLettered: 0,
    transientDeadLetters: 0,
    deadLetteredButDelivered: 0,
    sentWithoutDelivery: 0,
    wrongInstant,
    replacedOnPhone,
    duplicateList: [],
    workflows: {},
    workflowsNotRunning: [],
  };
  for (const med of scenario.medications) {
    const lostBefore = out.lost;
    for (const channel of CHANNELS) {
      const s = slot(med.id, channel);
      const n = artifacts.get(s) ?? 0;
      const dls = deadLetters.get(s) ?? [];
      const permanent = channel === 'email' && med.invalidEmail;
      out.due++;
      perChannel[channel].due++;
      if (permanent) {
        out.permanentExpected++;
        if (dls.some((d) => d.errorType === 'PermanentDeliveryError')) out.permanentDeadLettered++;
      }
      out.transientDeadLetters += dls.filter((d) => d.errorType !== 'PermanentDeliveryError').length;
      if (n > 0) {
        out.delivered++;
        perChannel[channel].delivered++;
        out.duplicates += n - 1;
        if (n > 1) {
          const times = (sentTimes.get(s) ?? []).map((t) => new Date(t).toISOString().slice(11, 23)).join(', ');
          out.duplicateList.push(`duplicate: medication ${med.id} ${channel}, sent at ${times}`);
        }
        if (dls.length > 0) out.deadLetteredButDelivered++;
      } else if (dls.length > 0) {
        out.deadLettered++;
        perChannel[channel].deadLettered++;
      } else {
        out.lost++;
      }
      if (n === 0 && logSent.has(s)) out.sentWithoutDelivery++;
      if (logPending.has(s) && dls.length === 0) out.inFlight++;
      // Two dead letters for one delivery would mean it was given up twice: count as duplicate work.
      if (dls.length > 1) {
        out.duplicates += dls.length - 1;
        out.duplicateList.push(`duplicate: medication ${med.id} ${channel}, ${dls.length} dead letters`);
      }
    }
    // Nothing at all reached the patient, and nothing was given up on: the dose went silent.
    if (out.lost - lostBefore === CHANNELS.length) out.silenced++;
  }
  return out;
}

/** Every schedule's workflow status (`once` doses keep their window open: Running is expected). */
export async function workflowStatuses(
  address: string,
  scenario: SeededScenario,
): Promise<{ byStatus: Record<string, number>; notRunning: string[] }> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection });
    const byStatus: Record<string, number> = {};
    const notRunning: string[] = [];
    for (let i = 0; i < scenario.medications.length; i += 20) {
      await Promise.all(
        scenario.medications.slice(i, i + 20).map(async (m) => {
          const d = await client.workflow.getHandle(`medication:${m.id}`).describe();
          byStatus[d.status.name] = (byStatus[d.status.name] ?? 0) + 1;
          if (d.status.name !== 'RUNNING' && d.status.name !== 'COMPLETED') notRunning.push(`${m.id}:${d.status.name}`);
        }),
      );
    }
    return { byStatus, notRunning };
  } finally {
    await connection.close();
  }
}

export interface KillLateness {
  /** When the SIGKILL was sent (ms). */
  at: number;
  /** Deliveries armed or sending when it came: instant − lead ≤ kill < first receipt. */
  deliveries: number;
  maxLatenessMs: number;
}

export interface LatenessUnderKills {
  /** The largest (first receipt − dose instant) over deliveries a worker SIGKILL caught armed or sending. */
  maxLatenessMs: number;
  deliveries: number;
  perKill: KillLateness[];
  /** The latest of them (dedupe key), to look it up in the logs. */
  latest?: string;
  /**
   * Deliveries left out: the provider refused a first attempt, so they waited the medication
   * delay (5 minutes, or the provider's Retry-After) by design, whatever the kill did.
   */
  providerRetried: number;
}

/**
 * How late the doses came whose arming or sending worker was SIGKILLed. A dose is armed from its
 * instant minus the lead until its reminder leaves, and one worker process runs at a time, so a
 * kill in [instant − lead, first receipt) of a channel killed the worker holding that channel's
 * send (perhaps after earlier kills moved it). Receipt: the fake FCM's acceptance, the fake
 * Resend's, or the in-app row's insert. Lost deliveries have no receipt: the ledger counts them.
 */
export function latenessUnderKills(
  medicationIds: Set<string>,
  snap: Snapshot,
  fake: FakeProviders,
  fcm: FakeFcm,
  kills: number[],
  leadMs: number,
): LatenessUnderKills {
  const first = new Map<string, { doseAt: number; at: number; dedupeKey: string }>();
  for (const a of sentArtifacts(snap, fake, fcm)) {
    const p = parse(a.key);
    if (!p || a.at === undefined || !medicationIds.has(p.medicationId)) continue;
    const key = `${p.medicationId}|${p.doseAt}|${a.channel}`;
    const seen = first.get(key);
    if (!seen || a.at < seen.at) first.set(key, { doseAt: Date.parse(p.doseAt), at: a.at, dedupeKey: a.key });
  }
  const attempts = new Map(snap.log.map((r) => [r.dedupe_key, Number(r.attempts)]));
  const perKill: KillLateness[] = kills.map((at) => ({ at, deliveries: 0, maxLatenessMs: 0 }));
  const out: LatenessUnderKills = { maxLatenessMs: 0, deliveries: 0, perKill, providerRetried: 0 };
  for (const { doseAt, at, dedupeKey } of first.values()) {
    const hit = perKill.filter((k) => doseAt - leadMs <= k.at && k.at < at);
    if (hit.length === 0) continue;
    // A worker that dies mid-call uses up no attempt: more than one is the provider's doing.
    if ((attempts.get(dedupeKey) ?? 1) > 1) {
      out.providerRetried++;
      continue;
    }
    const late = at - doseAt;
    out.deliveries++;
    if (late >= out.maxLatenessMs) out.latest = dedupeKey;
    out.maxLatenessMs = Math.max(out.maxLatenessMs, late);
    for (const k of hit) {
      k.deliveries++;
      k.maxLatenessMs = Math.max(k.maxLatenessMs, late);
    }
  }
  return out;
}
