/**
 * Care circles, patients and one-off medications for a scenario, created through the API by one
 * signed-in user (CHAOS_USER), who becomes the caregiver of every circle it creates.
 */
import { randomUUID } from 'node:crypto';

export const CHANNELS = ['push', 'email', 'in_app'] as const;
export type ChannelName = (typeof CHANNELS)[number];

/** Invalid for good: the fake Resend answers 422 for these addresses (chaos/faults.ts). */
export const INVALID_EMAIL_DOMAIN = 'invalid.chaos.example.com';
/** Long enough that no dose window closes during a run: the only deliveries are the reminders. */
export const ESCALATION_WINDOW_MINUTES = 720;

/** The user the chaos run acts as: the caregiver of every circle it seeds. */
export const CHAOS_USER = 'chaos-caregiver';

/** The API and the bearer token to call it with. */
export interface ApiCaller {
  url: string;
  token: string;
}

export interface SeededMedication {
  id: string;
  patientId: string;
  email: string;
  invalidEmail: boolean;
}

export interface SeededScenario {
  name: string;
  circleId: string;
  /** ISO instant every medication of the scenario is due. */
  doseAt: string;
  medications: SeededMedication[];
  /** Push tokens FCM answers UNREGISTERED for (each such patient also has a live one). */
  deadTokens: string[];
}

/**
 * A patient's push tokens: one live token, and for every `deadEvery`-th patient first a token of an
 * app since uninstalled (the fake FCM is told to answer UNREGISTERED for it).
 */
export function pushTokensFor(
  tag: string,
  i: number,
  deadEvery: number | undefined,
): { tokens: string[]; dead?: string } {
  const live = `chaos-${tag}-${randomUUID()}`;
  if (!deadEvery || i % deadEvery !== 0) return { tokens: [live] };
  const dead = `chaos-${tag}-uninstalled-${randomUUID()}`;
  return { tokens: [dead, live], dead };
}

export async function api(
  caller: ApiCaller,
  method: string,
  path: string,
  body?: unknown,
  init: RequestInit = {},
): Promise<{ status: number; body: unknown; contentType: string }> {
  const res = await fetch(`${caller.url}${path}`, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
    ...init,
    headers: {
      authorization: `Bearer ${caller.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(init.headers as Record<string, string> | undefined),
    },
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, contentType: res.headers.get('content-type') ?? '' };
}

export async function created(
  caller: ApiCaller,
  path: string,
  body: unknown,
): Promise<{ id: string } & Record<string, unknown>> {
  // Creation happens while nothing is broken, but a slow start of Temporal's visibility can still
  // answer 503 once: try again, as a client would.
  for (let attempt = 1; ; attempt++) {
    const res = await api(caller, 'POST', path, body);
    if (res.status === 201 || res.status === 202) return res.body as { id: string };
    if (attempt >= 5 || res.status < 500) {
      throw new Error(`POST ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
    }
    await new Promise((r) => setTimeout(r, 500 * attempt));
  }
}

export async function inBatches<T, R>(items: T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

/** "YYYY-MM-DDTHH:MM" in UTC, the `once` schedule's form. */
export function utcMinute(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16);
}

export async function seedScenario(opts: {
  /** The caller becomes the caregiver of the scenario's circle. */
  api: ApiCaller;
  name: string;
  /** Minute-aligned instant. */
  doseAtMs: number;
  doses: number;
  medicationsPerPatient: number;
  invalidEmailPatients?: number;
  /** Every n-th patient also has an unregistered push token. */
  deadTokenEvery?: number;
}): Promise<SeededScenario> {
  const tag = opts.name.replace(/[^a-z0-9]/gi, '').toLowerCase();
  const circle = await created(opts.api, '/v1/care-circles', { name: `chaos ${opts.name}` });
  const patientCount = Math.ceil(opts.doses / opts.medicationsPerPatient);
  const deadTokens: string[] = [];
  const patients = await inBatches(
    Array.from({ length: patientCount }, (_, i) => i),
    16,
    async (i) => {
      const invalid = i < (opts.invalidEmailPatients ?? 0);
      const email = `p${i}-${randomUUID().slice(0, 8)}@${invalid ? INVALID_EMAIL_DOMAIN : `${tag}.chaos.example.com`}`;
      const push = pushTokensFor(tag, i, opts.deadTokenEvery);
      if (push.dead) deadTokens.push(push.dead);
      const member = await created(opts.api, `/v1/care-circles/${circle.id}/members`, {
        name: `Patient ${i}`,
        role: 'patient',
        timezone: 'UTC',
        email,
        pushTokens: push.tokens,
        channels: [...CHANNELS],
      });
      return { id: member.id, email, invalid };
    },
  );
  const at = utcMinute(opts.doseAtMs);
  const medications = await inBatches(
    Array.from({ length: opts.doses }, (_, i) => i),
    16,
    async (i) => {
      const patient = patients[i % patientCount]!;
      const med = await created(opts.api, '/v1/medications', {
        careCircleId: circle.id,
        patientId: patient.id,
        name: `Chaos med ${i}`,
        dosage: '1 tablet',
        schedule: { type: 'once', at, timezone: 'UTC' },
        escalationWindowMinutes: ESCALATION_WINDOW_MINUTES,
      });
      return { id: med.id, patientId: patient.id, email: patient.email, invalidEmail: patient.invalid };
    },
  );
  return {
    name: opts.name,
    circleId: circle.id,
    doseAt: new Date(`${at}:00Z`).toISOString(),
    medications,
    deadTokens,
  };
}
