import { fileURLToPath } from 'node:url';

/** Recorded workflow histories, replayed by test/replay.test.ts. */
export const historiesDir = fileURLToPath(new URL('../histories', import.meta.url));
