/**
 * The request time limit without a timer per request: one interval, running only while
 * requests are pending, rejects those past their deadline. A timer per request costs a
 * call into the runtime to arm and another to clear it, on every API request; this one
 * answers at most a tenth of the limit (and at most a second) late.
 */
export class Deadlines {
  readonly #ms: number;
  readonly #tickMs: number;
  readonly #pending = new Set<{ readonly at: number; readonly expire: () => void }>();
  #timer?: ReturnType<typeof setInterval>;

  constructor(ms: number) {
    this.#ms = ms;
    this.#tickMs = Math.max(5, Math.min(1000, Math.floor(ms / 10)));
  }

  /** `work`, or `expired()`'s error once the limit has passed first. */
  race<T>(work: Promise<T>, expired: () => Error): Promise<T> {
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    const entry = { at: performance.now() + this.#ms, expire: () => reject(expired()) };
    this.#pending.add(entry);
    this.#timer ??= this.#start();
    work.then(resolve, reject).finally(() => this.#pending.delete(entry));
    return promise;
  }

  #start(): ReturnType<typeof setInterval> {
    const timer = setInterval(() => {
      const now = performance.now();
      for (const entry of this.#pending) {
        if (entry.at > now) continue;
        this.#pending.delete(entry);
        entry.expire();
      }
      if (this.#pending.size === 0) {
        clearInterval(timer);
        this.#timer = undefined;
      }
    }, this.#tickMs);
    // Pending requests keep the server alive anyway; this timer alone must not.
    Deno.unrefTimer(Number(timer));
    return timer;
  }
}
