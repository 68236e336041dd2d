/**
 * One-shot timers for the start-up path. In Deno 2.9 the global setTimeout and
 * clearTimeout are Node's (they return Timeout objects): the first touch of either loads
 * node:timers and what it needs, about 5 ms of a command's start-up, where the whole of
 * a warm `provctl exec` through the keeper is some 40 ms. AbortSignal.timeout runs on the
 * web timers the runtime has already loaded (about 0.5 ms on first use), and its timer
 * keeps the process alive only while the signal has a listener: cancelling removes the
 * listener, so nothing is left waiting. Such a timer cannot be cleared, though: a
 * cancelled one stays registered (some 600 bytes) until its time. A long delay is
 * therefore waited for in slices of at most SLICE_MS, so that what a cancelled deadline
 * leaves behind is gone within a second, not hours later in a long-lived `provctl serve`.
 */

/** The longest delay AbortSignal.timeout takes as asked (larger ones fire at once in Node's). */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** The longest single wait: how long a cancelled timer's leftover may stay registered. */
const SLICE_MS = 1000;

/** Calls `fire` after `ms` (clamped to 0..2^31-1); the returned function cancels it. */
export function startTimer(ms: number, fire: () => void): () => void {
  const delay = Number.isFinite(ms)
    ? Math.min(MAX_DELAY_MS, Math.max(0, Math.floor(ms)))
    : MAX_DELAY_MS;
  const due = performance.now() + delay;
  let cancelSlice: () => void;
  const wait = (left: number) => {
    const signal = AbortSignal.timeout(Math.min(SLICE_MS, Math.ceil(left)));
    const onAbort = () => {
      // The next slice is armed before this one returns: the process stays alive.
      const rest = due - performance.now();
      if (rest >= 1) wait(rest);
      else fire();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    cancelSlice = () => signal.removeEventListener("abort", onAbort);
  };
  wait(delay);
  return () => cancelSlice();
}

/** Resolves after `ms` (a pause in a short wait loop), without Node's timers. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => void startTimer(ms, resolve));
}
