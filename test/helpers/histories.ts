import { fileURLToPath } from 'node:url';

/** Recorded workflow histories, replayed by test/replay.test.ts. */
export const historiesDir = fileURLToPath(new URL('../histories', import.meta.url));

/**
 * The workflow behaviour new recordings stand for. Before a change to the workflow's commands,
 * keep the current files (they carry this label) and bump it, so the corpus always holds
 * histories from every version still running somewhere.
 */
export const HISTORY_VERSION = 'v3';
