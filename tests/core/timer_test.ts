/**
 * core/timer.ts: one-shot timers without Node's timers. Their behaviour as a process sees
 * it (kept alive or not, memory held by cancelled timers) is checked in a fresh process.
 */
import assert from "node:assert/strict";
import { sleep, startTimer } from "../../src/core/timer.ts";

const TIMER = new URL("../../src/core/timer.ts", import.meta.url).href;

/** Runs `body` (TypeScript, `startTimer` and `sleep` in scope) in a fresh deno process. */
async function inProcess(body: string, v8Flags: string[] = []): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      ...(v8Flags.length ? [`--v8-flags=${v8Flags.join(",")}`] : []),
      `import { sleep, startTimer } from ${JSON.stringify(TIMER)};\n${body}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, stderr);
  return new TextDecoder().decode(out.stdout);
}

Deno.test("startTimer fires once after its delay; a cancelled one never", async () => {
  const fired: string[] = [];
  const t0 = performance.now();
  let firedAt = 0;
  startTimer(60, () => {
    fired.push("due");
    firedAt = performance.now() - t0;
  });
  const cancel = startTimer(30, () => fired.push("cancelled"));
  cancel();
  cancel(); // twice is harmless
  await sleep(150);
  assert.deepEqual(fired, ["due"]);
  assert.ok(firedAt >= 59, `fired at ${firedAt} ms`);
});

Deno.test("startTimer: a negative delay fires at once; NaN and Infinity mean never", async () => {
  const fired: string[] = [];
  startTimer(-5, () => fired.push("negative"));
  const cancels = [NaN, Infinity, 2 ** 40].map((ms) => startTimer(ms, () => fired.push(`${ms}`)));
  await sleep(50);
  cancels.forEach((cancel) => cancel());
  assert.deepEqual(fired, ["negative"]);
});

Deno.test("startTimer keeps the process alive while armed, not once cancelled", async () => {
  const armed = await inProcess(
    "const t0 = performance.now();\n" +
      "startTimer(1500, () => console.log(performance.now() - t0 >= 1499 ? 'fired' : 'early'));",
  );
  assert.equal(armed, "fired\n");
  const t0 = Date.now();
  assert.equal(await inProcess("startTimer(60_000, () => console.log('fired'))();"), "");
  assert.ok(Date.now() - t0 < 30_000);
});

Deno.test("cancelled timers are let go of soon, not held until their time", async () => {
  // A long-lived process (provctl serve) cancels a deadline for every command it runs:
  // what each leaves behind must not pile up until its deadline, hours later.
  const out = await inProcess(
    `const gc = (globalThis as unknown as { gc(): void }).gc;
    gc();
    const before = Deno.memoryUsage().heapUsed;
    for (let i = 0; i < 20_000; i++) startTimer(3_600_000, () => {})();
    await sleep(1500);
    gc();
    console.log(Math.round((Deno.memoryUsage().heapUsed - before) / 20_000));`,
    ["--expose-gc"],
  );
  const bytesEach = Number(out);
  assert.ok(bytesEach < 100, `${bytesEach} bytes still held per cancelled timer`);
});
