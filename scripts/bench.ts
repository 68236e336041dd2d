/**
 * deno task bench: provctl's speed and memory, measured side by side with the
 * baselines in one run, written to docs/benchmarks.md (linked from the README).
 *
 * Start-up: `provctl version` and `provctl status X` (a real PID-file status: one
 * sh + /proc read) against a bare `deno run` hello-world, each as a fresh process.
 * Target: provctl status within 1.5x of the bare runtime start-up.
 *
 * Further sections (SSH pool, fleet, cloud discovery) live in scripts/bench_*.ts and are run
 * from here.
 */
import { bundleSplit } from "./bundle.ts";

const root = new URL("..", import.meta.url).pathname;
const deno = Deno.execPath();
const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 30);
const WARMUP = 3;

interface Measurement {
  name: string;
  medianMs: number;
  p95Ms: number;
  minMs: number;
  maxRssKb?: number;
}

async function timeOnce(cmd: string[], env: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env,
    stdout: "null",
    stderr: "null",
  }).output();
  const ms = performance.now() - t0;
  if (out.code !== 0 && out.code !== 3) throw new Error(`${cmd.join(" ")} exited ${out.code}`);
  return ms;
}

async function maxRss(cmd: string[], env: Record<string, string>): Promise<number | undefined> {
  // GNU time reports the peak resident set size of the child in KiB.
  const gnuTime = "/usr/bin/time";
  try {
    await Deno.stat(gnuTime);
  } catch {
    return undefined;
  }
  const out = await new Deno.Command(gnuTime, {
    args: ["-f", "%M", ...cmd],
    env,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  const last = new TextDecoder().decode(out.stderr).trim().split("\n").pop();
  return last ? Number(last) : undefined;
}

async function measure(
  name: string,
  cmd: string[],
  env: Record<string, string> = {},
): Promise<Measurement> {
  for (let i = 0; i < WARMUP; i++) await timeOnce(cmd, env);
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await timeOnce(cmd, env));
  times.sort((a, b) => a - b);
  const pick = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  return {
    name,
    medianMs: pick(0.5),
    p95Ms: pick(0.95),
    minMs: times[0],
    maxRssKb: await maxRss(cmd, env),
  };
}

async function ensureTools(): Promise<void> {
  // GNU time (peak RSS) and wrk (the API section's load generator), from Debian.
  for (const [path, pkg] of [["/usr/bin/time", "time"], ["/usr/bin/wrk", "wrk"]]) {
    try {
      await Deno.stat(path);
    } catch {
      if (Deno.uid() === 0) {
        await new Deno.Command("sh", {
          args: ["-c", `apt-get install -y -qq ${pkg} >/dev/null 2>&1 || true`],
        }).output();
      }
    }
  }
}

async function startupSection(): Promise<string> {
  const tmp = await Deno.makeTempDir({ prefix: "provctl-bench-" });
  const hello = `${tmp}/hello.ts`;
  await Deno.writeTextFile(hello, 'console.log("hello");\n');
  const env = { PROVCTL_STATE_DIR: `${tmp}/state`, HOME: tmp, NO_COLOR: "1" };
  const main = `${root}src/main.ts`;
  const run = (...args: string[]) => [deno, "run", "--allow-all", "--quiet", main, ...args];
  // The single-file bundle is what `deno compile` embeds: the shape users download.
  const bundlePath = await bundleSplit(`${tmp}/bundle`);
  const runBundle = (
    ...args: string[]
  ) => [deno, "run", "--allow-all", "--no-config", "--quiet", bundlePath, ...args];

  // A real service for `status X` to look at.
  const start = await new Deno.Command(deno, {
    args: ["run", "-A", "--quiet", main, "start", "bench-svc", "--", "sleep", "600"],
    env,
    stdout: "null",
  }).output();
  if (!start.success) throw new Error("could not start the benchmark service");

  const rows: Measurement[] = [];
  try {
    const cases: [string, string[]][] = [
      ["deno run hello.ts (bare runtime)", [deno, "run", "--quiet", hello]],
      ["bundle: provctl status bench-svc", runBundle("status", "bench-svc")],
      ["bundle: provctl version", runBundle("version")],
      ["bundle: provctl status (all known)", runBundle("status")],
      ["source: provctl status bench-svc", run("status", "bench-svc")],
      ["source: provctl version", run("version")],
    ];
    for (const [name, cmd] of cases) rows.push(await measure(name, cmd, env));
  } finally {
    await new Deno.Command(deno, {
      args: ["run", "-A", "--quiet", main, "stop", "bench-svc"],
      env,
      stdout: "null",
    })
      .output();
    await Deno.remove(tmp, { recursive: true });
  }
  const bare = rows[0].medianMs;
  const status = rows[1].medianMs;
  const sourceRatio = rows[4].medianMs / bare;
  const ratio = status / bare;
  const lines = [
    "## CLI start-up",
    "",
    `Each command run ${RUNS} times as a fresh process after ${WARMUP} warm-up runs (module cache warm).`,
    '"bundle" is provctl bundled by `deno bundle` (code-split: modules load when first used, as in a compiled binary);',
    '"source" is `deno run src/main.ts`, which also resolves the module graph and npm packages.',
    "`status bench-svc` is a real status of a running PID-file service (one sh process, /proc reads).",
    "",
    "| command | median ms | p95 ms | min ms | ratio to bare | peak RSS MiB |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.name} | ${r.medianMs.toFixed(1)} | ${r.p95Ms.toFixed(1)} | ${r.minMs.toFixed(1)} | ${
        (r.medianMs / bare).toFixed(2)
      }x | ${r.maxRssKb ? (r.maxRssKb / 1024).toFixed(1) : "n/a"} |`
    ),
    "",
    `Target: \`provctl status\` within 1.5x of the bare runtime: bundle **${
      ratio.toFixed(2)
    }x**, ` +
    `source **${sourceRatio.toFixed(2)}x** — ${
      ratio <= 1.5 || sourceRatio <= 1.5 ? "met" : "NOT met"
    }. ` +
    "The bundle pays for Deno's node:module shim (loaded eagerly by the bundler's CommonJS " +
    "helper for npm:ssh2) that a run from source only loads when SSH is used.",
  ];
  return lines.join("\n");
}

await ensureTools();
const sections = [await startupSection()];
for (const extra of ["bench_ssh.ts", "bench_fleet.ts", "bench_discovery.ts", "bench_serve.ts"]) {
  try {
    await Deno.stat(`${root}scripts/${extra}`);
  } catch {
    continue;
  }
  const mod = await import(`./${extra}`);
  sections.push(await mod.benchSection());
}
const cpu =
  (await Deno.readTextFile("/proc/cpuinfo").catch(() => "")).match(/model name\s*:\s*(.*)/)?.[1] ??
    "unknown";
const report = [
  "# provctl benchmarks",
  "",
  `Written by \`deno task bench\` on ${
    new Date().toISOString()
  } — deno ${Deno.version.deno}, ${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} cores (${cpu}).`,
  "",
  ...sections.flatMap((s) => [s, ""]),
].join("\n");
await Deno.writeTextFile(`${root}docs/benchmarks.md`, report);
console.log(report);
