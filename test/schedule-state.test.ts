/**
 * The medication schedule's state machine (workflows/medication/schedule-state.ts) on its own: what
 * an edit or a zone change does to a dose that fell due before it and whose reminder has not gone out yet.
 */
import { describe, expect, it } from 'vitest';
import { ScheduleStateMachine } from '../workflows/medication/schedule-state.ts';

const T = Date.parse('2026-03-02T10:00:00Z');
const S = 1000;
const minutes = (...hhmm: string[]) => ({ type: 'times' as const, times: hhmm, timezone: 'UTC' });

function armedAt(nowMs: number) {
  const s = new ScheduleStateMachine(
    { schedule: minutes('10:00', '10:01'), state: 'active', windowMinutes: 30 },
    T - 120 * S,
  );
  const dose = s.next(nowMs)!;
  expect(dose.at.getTime()).toBe(T);
  return { s, armed: s.arm(dose) };
}

describe('an edit while a due dose is still unsent', () => {
  it('keeps the dose (it fell due under the old schedule) and counts the new schedule from now', () => {
    const { s, armed } = armedAt(T - 60 * S);
    // The worker died across 10:00; the send is late when the edit comes at 10:00:05.
    expect(s.dueUnsent(T + 5 * S)).toEqual([armed]);
    s.edit({ schedule: minutes('10:00', '10:02') }, T + 5 * S, true);
    expect(armed.closed).toBe(true);
    expect(s.overdue.map((d) => d.at.getTime())).toEqual([T]);
    const again = s.rearm(s.overdue.shift()!);
    expect(again).toMatchObject({ key: new Date(T).toISOString(), status: 'armed', generation: s.generation });
    expect(s.open.get(again.key)).toBe(again);
    // Nothing between 10:00 and now comes back: the next dose is the new schedule's 10:02.
    expect(s.next(T + 5 * S)?.at.getTime()).toBe(T + 120 * S);
  });

  it('without keepDue (histories recorded before) drops it, as it did', () => {
    const { s } = armedAt(T - 60 * S);
    s.edit({ schedule: minutes('10:00', '10:02') }, T + 5 * S);
    expect(s.overdue).toEqual([]);
    expect(s.next(T + 5 * S)?.at.getTime()).toBe(T + 120 * S);
  });

  it('does not keep a dose whose instant is still ahead: the edited schedule arms it again if it has it', () => {
    const { s } = armedAt(T - 60 * S);
    expect(s.dueUnsent(T - 10 * S)).toEqual([]);
    s.edit({ schedule: minutes('10:00', '10:02') }, T - 10 * S, true);
    expect(s.overdue).toEqual([]);
    expect(s.next(T - 10 * S)?.at.getTime()).toBe(T);
  });
});

describe('a zone change while a due dose is still unsent (its send may be out already)', () => {
  /** Yesterday's 10:01 was the last dose; today's 10:00 UTC is armed. */
  function armedAfterYesterday() {
    const s = new ScheduleStateMachine(
      {
        schedule: minutes('10:00', '10:01'),
        state: 'active',
        windowMinutes: 30,
        lastDoseAt: new Date(T - 86_400 * S + 60 * S).toISOString(),
        lastDoseSlot: '2026-03-01T10:01',
      },
      T - 120 * S,
    );
    const dose = s.next(T - 60 * S)!;
    expect(dose.at.getTime()).toBe(T);
    return { s, armed: s.arm(dose) };
  }

  it('keeps the dose at its own instant and counts the new zone from the slot after it', () => {
    const { s, armed } = armedAfterYesterday();
    // 10:00 UTC went to the provider at 10:00; its answer is late when the zone changes at 10:00:05.
    s.changeZone('Europe/Paris', T + 5 * S, true);
    expect(s.schedule.timezone).toBe('Europe/Paris');
    expect(armed.closed).toBe(true);
    expect(s.overdue.map((d) => d.at.getTime())).toEqual([T]);
    s.rearm(s.overdue.shift()!);
    // The next slot is 10:01 in Paris (09:01 UTC, already past: due at once), never 10:00 again.
    expect(s.next(T + 5 * S)?.slot).toBe('2026-03-02T10:01');
    expect(s.next(T + 5 * S)?.at.toISOString()).toBe('2026-03-02T09:01:00.000Z');
  });

  it('without keepDue (histories recorded before) counts the 10:00 slot again in the new zone', () => {
    const { s } = armedAfterYesterday();
    s.changeZone('Europe/Paris', T + 5 * S);
    expect(s.overdue).toEqual([]);
    expect(s.next(T + 5 * S)?.slot).toBe('2026-03-02T10:00');
  });

  it('moves a dose whose instant is still ahead to its slot in the new zone, once', () => {
    const { s } = armedAfterYesterday();
    s.changeZone('Europe/Paris', T - 10 * S, true);
    expect(s.overdue).toEqual([]);
    // The armed send is cancelled before its instant: 10:00 Paris (09:00 UTC, past) is due at once.
    expect(s.next(T - 10 * S)?.slot).toBe('2026-03-02T10:00');
    expect(s.next(T - 10 * S)?.at.toISOString()).toBe('2026-03-02T09:00:00.000Z');
  });
});

describe('an interval schedule whose first dose is armed when the zone changes', () => {
  // Every 4 h from 00:00, started at 01:45 UTC: the first dose is 04:00 UTC, armed at 03:59.
  const start = Date.parse('2026-03-02T01:45:00Z');
  const now = Date.parse('2026-03-02T03:59:30Z');
  function armedFirst() {
    const s = new ScheduleStateMachine(
      {
        schedule: { type: 'interval', everyHours: 4, firstDoseTime: '00:00', startDate: '2026-03-02', timezone: 'UTC' },
        state: 'active',
        windowMinutes: 30,
      },
      start,
    );
    const first = s.next(now)!;
    expect(first.at.toISOString()).toBe('2026-03-02T04:00:00.000Z');
    s.arm(first);
    return s;
  }

  it("counts the new zone's grid from now (Paris: 07:00 UTC), never from the start", () => {
    const s = armedFirst();
    s.changeZone('Europe/Paris', now, false, () => true);
    expect(s.next(now)?.at.toISOString()).toBe('2026-03-02T07:00:00.000Z');
  });

  it('without the patch (histories recorded before) puts a first dose in the past, 03:00 UTC', () => {
    const s = armedFirst();
    s.changeZone('Europe/Paris', now);
    expect(s.next(now)?.at.toISOString()).toBe('2026-03-02T03:00:00.000Z');
  });
});
