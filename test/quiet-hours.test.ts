/** Quiet hours: when a non-urgent message may go out, across midnight and DST changes. */
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { quietHoursEnd } from '../shared/quiet-hours.ts';

const local = (iso: string, zone: string) => DateTime.fromISO(iso, { zone }).toMillis();
const iso = (ms: number | null, zone: string) => (ms === null ? null : DateTime.fromMillis(ms, { zone }).toISO());

describe('quietHoursEnd', () => {
  it('spans midnight: late evening waits until tomorrow morning, early morning until this morning', () => {
    const z = 'Europe/Paris';
    expect(iso(quietHoursEnd(local('2027-03-10T23:30', z), z, '22:00', '07:00'), z)).toBe(
      '2027-03-11T07:00:00.000+01:00',
    );
    expect(iso(quietHoursEnd(local('2027-03-10T03:00', z), z, '22:00', '07:00'), z)).toBe(
      '2027-03-10T07:00:00.000+01:00',
    );
    expect(quietHoursEnd(local('2027-03-10T07:00', z), z, '22:00', '07:00')).toBeNull();
    expect(quietHoursEnd(local('2027-03-10T21:59', z), z, '22:00', '07:00')).toBeNull();
  });

  it('within a day: a nap from 13:00 to 15:00', () => {
    const z = 'Asia/Tokyo';
    expect(iso(quietHoursEnd(local('2027-06-01T13:00', z), z, '13:00', '15:00'), z)).toBe(
      '2027-06-01T15:00:00.000+09:00',
    );
    expect(quietHoursEnd(local('2027-06-01T15:00', z), z, '13:00', '15:00')).toBeNull();
    expect(quietHoursEnd(local('2027-06-01T12:59', z), z, '13:00', '15:00')).toBeNull();
  });

  it('follows the local clock across DST: an end in the spring gap comes when the gap ends', () => {
    const z = 'America/New_York';
    // 2027-03-14: clocks go from 02:00 to 03:00.
    expect(iso(quietHoursEnd(local('2027-03-14T01:00', z), z, '23:00', '07:00'), z)).toBe(
      '2027-03-14T07:00:00.000-04:00',
    );
    expect(iso(quietHoursEnd(local('2027-03-14T01:00', z), z, '23:00', '02:30'), z)).toBe(
      '2027-03-14T03:30:00.000-04:00',
    );
    // Eight hours of quiet from 23:00 last only seven of elapsed time that night.
    const start = local('2027-03-13T23:00', z);
    expect((quietHoursEnd(start, z, '23:00', '07:00')! - start) / 3_600_000).toBe(7);
  });

  it('property: the result is later than now and outside the quiet hours', () => {
    const zones = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Pacific/Chatham'];
    const hhmm = fc
      .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
      .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2030, 0, 1) }),
        fc.constantFrom(...zones),
        hhmm,
        hhmm,
        (at, zone, start, end) => {
          const until = quietHoursEnd(at, zone, start, end);
          if (until === null) return;
          expect(until).toBeGreaterThan(at);
          expect(until - at).toBeLessThanOrEqual(25 * 3_600_000);
          expect(quietHoursEnd(until, zone, start, end)).toBeNull();
        },
      ),
      { numRuns: 2000 },
    );
  });
});
