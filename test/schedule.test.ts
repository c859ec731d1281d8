import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import {
  nextDose,
  nextDoseAfter,
  nextDoseAfterSlot,
  upcomingDoses,
  type MedicationSchedule,
} from '../shared/schedule.ts';

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

describe('zone changes (travel, moves)', () => {
  // Zones without DST, so that every local slot exists exactly once and "no gap" is exact; DST
  // behaviour has its own tests above.
  const fixedZones = [
    'UTC',
    'Asia/Tokyo',
    'Asia/Kolkata',
    'Asia/Kathmandu',
    'America/Phoenix',
    'Pacific/Honolulu',
    'Australia/Brisbane',
    'America/Bogota',
  ];
  const time = fc
    .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
    .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);

  it('never repeats and never skips a slot when the zone changes between doses (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...fixedZones),
        fc.constantFrom(...fixedZones),
        fc.uniqueArray(time, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2028, 0, 1) }),
        fc.integer({ min: 1, max: 8 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (from, to, times, start, before, when) => {
          const home: MedicationSchedule = { times, timezone: from };
          const away: MedicationSchedule = { times, timezone: to };
          const doses = [];
          let cursor = start;
          for (let i = 0; i < before; i++) {
            const d = nextDose(home, cursor)!;
            doses.push(d);
            cursor = d.at.getTime();
          }
          // The patient changes zone somewhere before the next dose at home would have come.
          const nextHome = nextDose(home, cursor)!;
          const changeAt = cursor + Math.floor((nextHome.at.getTime() - cursor) * when);
          let last = doses.at(-1)!;
          for (let i = 0; i < 8; i++) {
            const d = nextDoseAfterSlot(away, last, changeAt)!;
            doses.push(d);
            last = d;
          }
          const slots = doses.map((d) => d.slot);
          for (let i = 1; i < slots.length; i++) expect(slots[i]! > slots[i - 1]!).toBe(true);
          // Every slot between the first and the last is there: no dose is lost to the trip.
          const expected: string[] = [];
          const first = DateTime.fromISO(slots[0]!.slice(0, 10));
          for (
            let day = first;
            expected.length === 0 || expected.at(-1)! < slots.at(-1)!;
            day = day.plus({ days: 1 })
          ) {
            for (const t of [...times].sort()) {
              const slot = `${day.toISODate()}T${t}`;
              if (slot >= slots[0]! && slot <= slots.at(-1)!) expected.push(slot);
            }
          }
          expect(slots).toEqual(expected);
          // Each dose is at its slot's clock time in the zone it was computed in.
          for (const [i, d] of doses.entries()) {
            const zone = i < before ? from : to;
            expect(DateTime.fromJSDate(d.at, { zone }).toFormat("yyyy-MM-dd'T'HH:mm")).toBe(d.slot);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('other schedule kinds', () => {
  it('interval schedules keep elapsed time across DST: every N hours exactly, from the first dose', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('America/New_York', 'Europe/Berlin', 'Australia/Sydney', 'UTC'),
        fc.integer({ min: 1, max: 48 }),
        fc.integer({ min: 0, max: 23 }),
        fc.date({ min: new Date('2025-01-01'), max: new Date('2028-01-01'), noInvalidDate: true }),
        (zone, everyHours, hour, startDay) => {
          const startDate = DateTime.fromJSDate(startDay, { zone: 'UTC' }).toISODate()!;
          const firstDoseTime = `${String(hour).padStart(2, '0')}:00`;
          const schedule: MedicationSchedule = {
            type: 'interval',
            everyHours,
            firstDoseTime,
            startDate,
            timezone: zone,
          };
          const doses = upcomingDoses(schedule, Date.parse('2024-12-01T00:00:00Z'), 30);
          expect(doses).toHaveLength(30);
          const first = DateTime.fromJSDate(doses[0]!, { zone });
          expect(first.toISODate()).toBe(startDate);
          // The first dose is at its local time, or shifted forward when that time is in a DST gap.
          expect(first.hour === hour || first.hour === (hour + 1) % 24).toBe(true);
          for (let i = 1; i < doses.length; i++) {
            expect(doses[i]!.getTime() - doses[i - 1]!.getTime()).toBe(everyHours * 3_600_000);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a one-off dose fires once at its local time; as-needed never fires', () => {
    const once: MedicationSchedule = { type: 'once', at: '2027-03-14T02:30', timezone: 'America/New_York' };
    // Inside the spring-forward gap: shifted like every other clock time.
    expect(iso(nextDoseAfter(once, at('2027-03-01T00:00:00-05:00'))!)).toBe('2027-03-14T03:30:00.000-04:00');
    expect(nextDoseAfter(once, at('2027-03-14T03:30:00-04:00'))).toBeNull();
    expect(nextDoseAfter({ type: 'as_needed', timezone: 'UTC' }, 0)).toBeNull();
  });
});
