/** The API's tracing, started as api/main.ts's first import: before the modules it instruments load. */
import { config } from '../shared/config.ts';
import { startTracing } from '../shared/tracing.ts';

export const tracing = startTracing(config(), 'carecircle-api');
