/**
 * shared/config.ts's switches: every flag, SCHEDULES_ENABLED included, takes the same spellings,
 * and a misspelt one stops the process with the variable's name and what it accepts.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config.ts';

describe('SCHEDULES_ENABLED', () => {
  it.each([
    ['true', true],
    ['TRUE', true],
    [' yes ', true],
    ['1', true],
    ['false', false],
    ['False', false],
    ['no', false],
    ['0', false],
  ])('%j is %s', (value, expected) => {
    expect(loadConfig({ SCHEDULES_ENABLED: value }).SCHEDULES_ENABLED).toBe(expected);
  });

  it('is on when unset or empty', () => {
    expect(loadConfig({}).SCHEDULES_ENABLED).toBe(true);
    expect(loadConfig({ SCHEDULES_ENABLED: '' }).SCHEDULES_ENABLED).toBe(true);
  });

  it('refuses anything else, naming the variable and the accepted values', () => {
    expect(() => loadConfig({ SCHEDULES_ENABLED: 'enabled' })).toThrow(
      'Invalid configuration: SCHEDULES_ENABLED: expected true, false, 1, 0, yes or no',
    );
  });

  it('parses like the other flags', () => {
    for (const value of ['true', 'no', '1', 'YES', '']) {
      const cfg = loadConfig({ SCHEDULES_ENABLED: value, TRUST_FORWARDED_FOR: value, TEMPORAL_TLS: value });
      expect(cfg.SCHEDULES_ENABLED).toBe(cfg.TRUST_FORWARDED_FOR ?? true);
      expect(cfg.TEMPORAL_TLS).toBe(cfg.TRUST_FORWARDED_FOR);
    }
  });
});
