/**
 * Prints an API token signed with the local development key, for driving a local system:
 *
 *   npm run --silent token -- --user alice [--operator] [--ttl 8h]
 *
 * The user who creates a care circle becomes its first caregiver, so this one token is enough to
 * set a family up end to end. Refused with production configuration (NODE_ENV=production).
 */
import { parseArgs } from 'node:util';
import { signDevToken } from '../shared/auth-tokens.ts';
import { config } from '../shared/config.ts';

const USAGE = 'usage: npm run --silent token -- --user <userId> [--operator] [--ttl <seconds|30m|8h>]';
const TTL = /^(\d+)(s|m|h)?$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600 } as const;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: { user: { type: 'string' }, operator: { type: 'boolean' }, ttl: { type: 'string' } },
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const ttl = TTL.exec(values.ttl ?? '1h');
  if (!values.user || !ttl) {
    console.error(USAGE);
    return 2;
  }
  const ttlSeconds = Number(ttl[1]) * UNIT_SECONDS[(ttl[2] ?? 's') as keyof typeof UNIT_SECONDS];
  try {
    console.log(await signDevToken(config(), { userId: values.user, operator: values.operator ?? false, ttlSeconds }));
    return 0;
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  }
}

process.exitCode = await main();
