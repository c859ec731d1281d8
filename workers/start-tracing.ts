/** The worker's tracing, started as workers/main.ts's first import: before the providers' HTTP clients load. */
import { config } from '../shared/config.ts';
import { startTracing } from '../shared/tracing.ts';

export const tracing = startTracing(config(), 'carecircle-worker');
