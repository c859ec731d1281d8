import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { nextDoseAfter, upcomingDoses, type MedicationSchedule } from '../shared/schedule.ts';

const NY = 'America/New_York';
const iso = (d: Date, zone = NY) => DateTime.fromJSDate(d, { zone }).toISO();
const at = (s: string) => DateTime.fromISO(s, { setZone: true }).toMillis();

describe('nextDoseAfter', () => {
  it('gives the next time of day in the schedule zone', () => {
    const s: MedicationSchedule = { times: ['08:00', '20:00'], timezone: NY };
    expect(iso(nextDoseAfter(s, at('2026-06-01T07:59:00-04:00'))!)).toBe('2026-06-01T08:00:00.000-04:00');
    expect(iso(nextDoseAfter(s, at('2026-06-01T08:00:00-04:00'))!)).toBe('2026-06-01T20:00:00.000-04:00');
    expect(iso(nextDoseAfter(s, at('2026-06-01T20:00:00-04:00'))!)).toBe('2026-06-02T08:00:00.000-04:00');
  });

  it('keeps local clock time across both DST changes', () => {
    const s: MedicationSchedule = { times: ['08:00', '20:00'], timezone: NY };
    const spring = upcomingDoses(s, at('2026-03-07T12:00:00-05:00'), 4).map((d) => iso(d));
    expect(spring).toEqual([
      '2026-03-07T20:00:00.000-05:00',
      '2026-03-08T08:00:00.000-04:00',
      '2026-03-08T20:00:00.000-04:00',
      '2026-03-09T08:00:00.000-04:00',
    ]);
    const fall = upcomingDoses(s, at('2026-10-31T12:00:00-04:00'), 3).map((d) => iso(d));
    expect(fall).toEqual([
      '2026-10-31T20:00:00.000-04:00',
      '2026-11-01T08:00:00.000-05:00',
      '2026-11-01T20:00:00.000-05:00',
    ]);
  });

  it('fires a time inside the spring-forward gap once, shifted by the gap', () => {
    const s: MedicationSchedule = { times: ['02:30'], timezone: NY };
    const doses = upcomingDoses(s, at('2026-03-07T12:00:00-05:00'), 3).map((d) => iso(d));
    expect(doses).toEqual([
      '2026-03-08T03:30:00.000-04:00',
      '2026-03-09T02:30:00.000-04:00',
      '2026-03-10T02:30:00.000-04:00',
    ]);
  });

  it('fires a time inside the fall-back overlap once, at its first occurrence', () => {
    const s: MedicationSchedule = { times: ['01:30'], timezone: NY };
    const doses = upcomingDoses(s, at('2026-10-31T12:00:00-04:00'), 2).map((d) => iso(d));
    expect(doses).toEqual(['2026-11-01T01:30:00.000-04:00', '2026-11-02T01:30:00.000-05:00']);
  });

  it('merges two times that land on the same instant', () => {
    const s: MedicationSchedule = { times: ['02:30', '03:30'], timezone: NY };
    const doses = upcomingDoses(s, at('2026-03-08T00:00:00-05:00'), 2).map((d) => iso(d));
    expect(doses).toEqual(['2026-03-08T03:30:00.000-04:00', '2026-03-09T02:30:00.000-04:00']);
  });

  it('honours days of the week, start and end dates', () => {
    const s: MedicationSchedule = {
      times: ['09:00'],
      timezone: 'Europe/Paris',
      daysOfWeek: ['mon', 'thu'],
      startDate: '2026-06-03',
      endDate: '2026-06-15',
    };
    const doses = upcomingDoses(s, at('2026-05-01T00:00:00+02:00'), 10).map((d) => iso(d, 'Europe/Paris'));
    expect(doses).toEqual([
      '2026-06-04T09:00:00.000+02:00',
      '2026-06-08T09:00:00.000+02:00',
      '2026-06-11T09:00:00.000+02:00',
      '2026-06-15T09:00:00.000+02:00',
    ]);
    expect(nextDoseAfter(s, at('2026-06-15T09:00:00+02:00'))).toBeNull();
  });

  it('never repeats or skips a day, and every dose is at its local time (property)', () => {
    const zones = [
      'America/New_York',
      'Europe/London',
      'Australia/Lord_Howe',
      'Asia/Kolkata',
      'America/Santiago',
      'Pacific/Apia',
      'UTC',
    ];
    const time = fc
      .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
      .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.uniqueArray(time, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2028, 0, 1) }),
        (zone, times, start) => {
          const s: MedicationSchedule = { times, timezone: zone };
          const doses = upcomingDoses(s, start, times.length * 20);
          for (let i = 1; i < doses.length; i++) expect(doses[i]!.getTime()).toBeGreaterThan(doses[i - 1]!.getTime());
          // Group by local day: each day has each distinct time once (DST may shift or merge a time).
          const byDay = new Map<string, number>();
          for (const d of doses) {
            const local = DateTime.fromJSDate(d, { zone });
            const label = local.toFormat('HH:mm');
            const clock = times.includes(label);
            // A dose is either at one of its local times, or one shifted out of a DST gap.
            const shifted = times.some((t) => {
              const [h, m] = t.split(':').map(Number);
              const wanted = local.set({ hour: h!, minute: m! });
              return !wanted.isValid || wanted.toFormat('HH:mm') !== t;
            });
            expect(clock || shifted).toBe(true);
            byDay.set(local.toISODate()!, (byDay.get(local.toISODate()!) ?? 0) + 1);
          }
          // Inner days (not the partial first/last) have exactly one dose per distinct time,
          // except the day a gap merges two times together.
          const days = [...byDay.keys()].sort();
          for (const day of days.slice(1, -1)) expect(byDay.get(day)!).toBeLessThanOrEqual(times.length);
          for (const day of days.slice(1, -1)) expect(byDay.get(day)!).toBeGreaterThanOrEqual(times.length - 1);
          // No day is skipped: the local days with doses are consecutive.
          for (let i = 1; i < days.length; i++) {
            const gap = DateTime.fromISO(days[i]!).diff(DateTime.fromISO(days[i - 1]!), 'days').days;
            expect(gap).toBe(1);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
