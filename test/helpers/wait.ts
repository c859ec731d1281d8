/**
 * The one polling wait of the tests. Inside a test, `await expect.poll(...)` does the same; this
 * also runs in beforeAll (where vitest refuses expect.poll) and hands back the value it waited for:
 * `probe` is called until it returns something other than undefined (a probe that throws is called
 * again; the last error is named if time runs out).
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
