/**
 * One-shot timers for the start-up path. In Deno 2.9 the global setTimeout and
 * clearTimeout are Node's (they return Timeout objects): the first touch of either loads
 * node:timers and what it needs, about 5 ms of a command's start-up, where the whole of
 * a warm `provctl exec` through the keeper is some 40 ms. AbortSignal.timeout runs on the
 * web timers the runtime has already loaded (about 0.5 ms on first use), and its timer
 * keeps the process alive only while the signal has a listener: cancelling removes the
 * listener, so nothing is left waiting (a cancelled timer's entry lingers, inert, until
 * its time; keep these for deadlines of one command, not for long-lived loops).
 */

/** The longest delay AbortSignal.timeout takes as asked (larger ones fire at once in Node's). */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Calls `fire` after `ms` (clamped to 0..2^31-1); the returned function cancels it. */
export function startTimer(ms: number, fire: () => void): () => void {
  const delay = Number.isFinite(ms)
    ? Math.min(MAX_DELAY_MS, Math.max(0, Math.floor(ms)))
    : MAX_DELAY_MS;
  const signal = AbortSignal.timeout(delay);
  const onAbort = () => fire();
  signal.addEventListener("abort", onAbort, { once: true });
  return () => signal.removeEventListener("abort", onAbort);
}

/** Resolves after `ms` (a pause in a short wait loop), without Node's timers. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => void startTimer(ms, resolve));
}
