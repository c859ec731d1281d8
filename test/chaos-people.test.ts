/**
 * The chaos run's reference model of the people scenario (chaos/people.ts), on made-up timelines:
 * what counts as due, delivered, lost, silenced, a ghost, withdrawn or indeterminate. The chaos
 * run itself only shows zeros when all is well; this shows each count can be non-zero.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { countPeople, type PeopleMedication, type PeopleScenario } from '../chaos/people.ts';
import { latenessUnderKills, type Snapshot } from '../chaos/accounting.ts';
import type { FakeFcm } from './fakes/fcm-server.ts';
import type { FakeProviders } from './fakes/provider-server.ts';

const T = Date.parse('2026-03-02T10:00:00Z');
const S = 1000;
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const schedule = (...offsets: number[]) => ({
  type: 'times' as const,
  times: offsets.map((o) => hhmm(T + o * S)),
  timezone: 'UTC',
});
const step = (kind: PeopleMedication['steps'][number]['kind'], req: number, ack: number, extra = {}) => ({
  kind,
  plannedAt: T + req * S,
  req: T + req * S,
  ack: T + ack * S,
  outcome: 'applied' as const,
  statuses: [200],
  ...extra,
});

describe('the people scenario ledger', () => {
  it('counts due, delivered, lost, silenced, ghosts, withdrawn, indeterminate and wrong instants', () => {
    const recipient = randomUUID();
    const med = (steps: PeopleMedication['steps'] = []): PeopleMedication => ({
      id: randomUUID(),
      patientId: recipient,
      createdAt: T - 60 * S,
      initial: schedule(0, 60, 120),
      steps,
    });
    const meds = {
      // Paused after its second dose; its third is sent anyway.
      a: med([step('pause', 65, 66)]),
      // Nothing done; the second dose never goes out.
      b: med(),
      // Pause and resume at once, then a resume on its own: active again, yet the next dose is silent.
      c: med([step('pause+resume', 30, 31), step('resume', 40, 41)]),
      // Deleted; a reminder still follows.
      d: med([step('delete', 10, 11)]),
      // Paused right across a dose instant: that dose is neither due nor a ghost.
      e: med([step('pause', 59.5, 60.2)]),
      // Edited to keep only the third dose; the second is sent all the same.
      f: med([step('edit', 30, 31, { schedule: schedule(120) })]),
      // Its first dose was late, and a pause came before it: withdrawn.
      g: med([step('pause', 20, 21)]),
      // Paused after its second dose's instant, which is then sent after the pause was acknowledged.
      h: med([step('pause', 65, 66)]),
      // Its first reminder was late, and the patient said "taken" before it went out: withdrawn.
      i: med([step('ack', 20, 21, { doseAt: T })]),
    };
    const scenario: PeopleScenario = {
      name: 'people',
      circleId: randomUUID(),
      opts: {
        name: 'people',
        medications: 9,
        startMs: T,
        minutes: 3,
        steps: [1, 2],
        actWindow: [T, T + 180 * S],
        pairs: true,
        edits: true,
        resumes: true,
        graceMs: 5 * S,
        deadTokenEvery: 4,
        random: Math.random,
      },
      medications: Object.values(meds),
      deadTokens: [],
    };
    const push: { key: string; at: number }[] = [];
    const inApp: Snapshot['inApp'] = [];
    const sent = (
      m: PeopleMedication,
      dose: number,
      at: number,
      channels: ('push' | 'in_app')[] = ['push', 'in_app'],
    ) => {
      for (const ch of channels) {
        const key = `dose:${m.id}:${new Date(T + dose * S).toISOString()}:${recipient}:${ch}`;
        if (ch === 'push') push.push({ key, at: T + at * S });
        else inApp.push({ dedupe_key: key, at_ms: T + at * S });
      }
    };
    sent(meds.a, 0, 1);
    sent(meds.a, 60, 61);
    sent(meds.a, 120, 121);
    sent(meds.b, 0, 1);
    sent(meds.b, 0, 2, ['push']);
    sent(meds.b, 120, 121);
    sent(meds.c, 0, 1);
    sent(meds.c, 120, 121);
    sent(meds.d, 0, 1);
    sent(meds.d, 60, 61);
    sent(meds.e, 0, 1);
    sent(meds.f, 0, 1);
    sent(meds.f, 60, 61);
    sent(meds.f, 120, 121);
    sent(meds.h, 0, 1);
    sent(meds.h, 60, 90);
    sent(meds.i, 60, 61);
    sent(meds.i, 120, 121);

    const snap: Snapshot = { inApp, log: [], deadLetters: [] };
    const fcm = {
      sent: push.map((p) => ({ token: 't', name: 'n', at: p.at, message: { token: 't', data: { dedupeKey: p.key } } })),
    } as unknown as FakeFcm;
    const fake = { resend: { sent: [] } } as unknown as FakeProviders;
    const c = countPeople(scenario, snap, fake, fcm, T + 180 * S);

    expect({
      due: c.due,
      delivered: c.delivered,
      duplicates: c.duplicates,
      lost: c.lost,
      ghosts: c.ghosts,
      silenced: c.silenced,
      withdrawn: c.withdrawn,
      indeterminate: c.indeterminate,
      heldBack: c.heldBack,
      wrongInstant: c.wrongInstant,
    }).toEqual({
      // a 4, b 4 (+1 duplicate), c 4, d 2, e 2, f 4, h 2, i 4 delivered; b and c lose 2 each.
      due: 30,
      delivered: 26,
      duplicates: 1,
      lost: 4,
      // a's third dose (sent while paused), d's second (after deletion), h's second (sent after the pause).
      ghosts: 6,
      // b's and c's second doses: nothing on any channel.
      silenced: 2,
      withdrawn: 4,
      indeterminate: 2,
      // d's third, e's third, g's second and third, h's third.
      heldBack: 10,
      wrongInstant: 2,
    });
  });

  it('measures lateness over the deliveries a worker SIGKILL caught armed or sending, and only those', () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    const key = (id: string, dose: number, ch: string) =>
      `dose:${id}:${new Date(T + dose * S).toISOString()}:${randomUUID()}:${ch}`;
    const retried = key(ids[0]!, 0, 'push');
    const inApp: Snapshot['inApp'] = [
      // Armed at −60 s, the worker killed at −30 s: taken over, on time.
      { dedupe_key: key(ids[0]!, 0, 'in_app'), at_ms: T + 0.2 * S },
      // Killed while sending (at +1 s): 17 s late.
      { dedupe_key: key(ids[1]!, 0, 'in_app'), at_ms: T + 17 * S },
      // Sent before the kill at +1 s: only the kill at −30 s, while it waited armed, caught it.
      { dedupe_key: key(ids[2]!, 0, 'in_app'), at_ms: T + 0.5 * S },
      // Armed at +60 s, after both kills: not measured.
      { dedupe_key: key(ids[2]!, 120, 'in_app'), at_ms: T + 200 * S },
    ];
    const fcm = {
      sent: [
        {
          token: 't',
          name: 'n',
          at: T + 25 * S,
          message: { token: 't', data: { dedupeKey: key(ids[1]!, 0, 'push') } },
        },
        // Refused once by the provider, then sent after the medication delay: not the kill's doing.
        { token: 't', name: 'n2', at: T + 300 * S, message: { token: 't', data: { dedupeKey: retried } } },
      ],
    } as unknown as FakeFcm;
    const fake = {
      resend: { sent: [{ idempotencyKey: key(ids[0]!, 0, 'email'), createdAt: new Date(T + 3 * S) }] },
    } as unknown as FakeProviders;
    const snap: Snapshot = {
      inApp,
      log: [{ dedupe_key: retried, status: 'sent', attempts: 2 }],
      deadLetters: [],
    };
    const r = latenessUnderKills(new Set(ids), snap, fake, fcm, [T - 30 * S, T + 1 * S], 60 * S);
    expect(r.deliveries).toBe(5);
    expect(r.providerRetried).toBe(1);
    expect(r.maxLatenessMs).toBe(25 * S);
    expect(r.perKill.map((k) => [k.deliveries, k.maxLatenessMs])).toEqual([
      [5, 25 * S],
      [3, 25 * S],
    ]);
  });
});
