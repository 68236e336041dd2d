/**
 * API section of `deno task bench`: `GET /api/v1/machines` (100 machines in the inventory,
 * a read token, one SSE client listening on /events) against a bare `Deno.serve` hello,
 * both driven by wrk on loopback: requests/s and p99 latency, and the server's RSS before
 * and after N sequential-ish requests (memory must stay flat).
 * Targets: p99 < 20 ms and at least 50% of the bare server's requests/s.
 *
 * Alone: deno run -A scripts/bench_serve.ts (BENCH_SERVE_SECONDS, BENCH_SERVE_REQUESTS).
 */
import { FileTokenStore } from "../src/state/file_token_store.ts";
import { newToken } from "../src/state/tokens.ts";

const root = new URL("..", import.meta.url).pathname;
const SECONDS = Number(Deno.env.get("BENCH_SERVE_SECONDS") ?? 10);
const REQUESTS = Number(Deno.env.get("BENCH_SERVE_REQUESTS") ?? 10_000);
const MACHINES = 100;

interface WrkResult {
  rps: number;
  p99Ms: number;
  requests: number;
}

function ms(text: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "s" ? n * 1000 : n;
}

async function wrk(url: string, headers: string[]): Promise<WrkResult> {
  const out = await new Deno.Command("wrk", {
    args: [
      // One wrk thread: the machine's other core is the server's (2-core CI machines).
      "-t1",
      "-c8",
      `-d${SECONDS}s`,
      "--latency",
      ...headers.flatMap((h) => ["-H", h]),
      url,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) throw new Error(`wrk failed: ${new TextDecoder().decode(out.stderr)}`);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  if (non2xx) throw new Error(`wrk got ${non2xx[1]} error responses from ${url}`);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]),
    p99Ms: ms(/^\s+99%\s+(\S+)/m.exec(text)?.[1] ?? ""),
    requests: Number(/(\d+) requests in/.exec(text)?.[1]),
  };
}

function rssKb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
}

async function waitListening(proc: Deno.ChildProcess, pattern: RegExp): Promise<string> {
  const reader = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited:\n${text}`);
    text += value;
    const m = pattern.exec(text);
    if (m) {
      // Keep draining so the server never blocks on stderr.
      (async () => {
        while (!(await reader.read()).done) { /* discard */ }
      })();
      return m[1];
    }
  }
}

/** N requests, 16 at a time, checked for 200. */
async function requests(url: string, token: string, n: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`status ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

export async function benchSection(): Promise<string> {
  try {
    await new Deno.Command("wrk", { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
  } catch {
    return "## API (provctl serve)\n\nSkipped: wrk is not installed (apt-get install wrk).";
  }
  const dir = await Deno.makeTempDir({ prefix: "provctl-bench-serve-" });
  const procs: Deno.ChildProcess[] = [];
  try {
    const inventory = Array.from(
      { length: MACHINES },
      (_, i) =>
        `[machines.web-${i + 1}]\nhost = "10.0.${Math.floor(i / 250)}.${(i % 250) + 1}"\n` +
        `user = "deploy"\nlabels = { role = "${i % 2 ? "web" : "db"}", env = "prod" }\n`,
    ).join("\n");
    await Deno.writeTextFile(`${dir}/machines.toml`, inventory);
    await Deno.mkdir(`${dir}/config`);
    await Deno.writeTextFile(`${dir}/config/defaults.toml`, "[serve]\nrate_limit_per_minute = 0\n");
    const { secret, stored } = await newToken({ name: "bench", scope: "read" });
    await new FileTokenStore(`${dir}/state`).add(stored);
    const env = { ...Deno.env.toObject(), PROVCTL_STATE_DIR: `${dir}/state`, HOME: dir };

    const server = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--quiet",
        `${root}src/main.ts`,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--config-dir",
        `${dir}/config`,
        "--inventory",
        `${dir}/machines.toml`,
      ],
      env,
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    procs.push(server);
    const base = await waitListening(server, /listening on (http:\/\/[\d.:]+)/);
    const url = `${base}/api/v1/machines`;

    // One SSE client listens throughout.
    const sse = await fetch(`${base}/api/v1/events`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    // Read (and drop) its events; it ends when the server stops.
    sse.body!.pipeTo(new WritableStream()).catch(() => {});

    await requests(url, secret, 200); // warm-up (JIT, lazy imports)
    const rssBefore = rssKb(server.pid);
    await requests(url, secret, REQUESTS);
    const rssAfter = rssKb(server.pid);
    const api = await wrk(url, [`Authorization: Bearer ${secret}`]);

    // The bare servers: a hello, and one answering the API's own body from memory (what
    // any server pays to send these bytes, with nothing computed).
    const bareServer = async (handler: string) => {
      const proc = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: (a) => console.error("listening on http://127.0.0.1:" + a.port) }, ${handler});`,
        ],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      procs.push(proc);
      return await waitListening(proc, /listening on (http:\/\/[\d.:]+)/);
    };
    const hello = await wrk(await bareServer(`() => new Response("hello")`), []);
    const body = await (await fetch(url, { headers: { authorization: `Bearer ${secret}` } }))
      .text();
    await Deno.writeTextFile(`${dir}/body.json`, body);
    const sameBody = await wrk(
      await bareServer(
        `((b) => () => new Response(b, { headers: { "content-type": "application/json" } }))` +
          `(Deno.readTextFileSync(${JSON.stringify(`${dir}/body.json`)}))`,
      ),
      [],
    );

    const ratio = api.rps / hello.rps;
    const grew = rssAfter - rssBefore;
    return [
      "## API (provctl serve)",
      "",
      `\`GET /api/v1/machines\` (${MACHINES} machines, bearer token, one SSE client on /events) vs a ` +
      `bare \`Deno.serve\` hello; wrk -t1 -c8 for ${SECONDS}s each, loopback, same machine.`,
      "",
      "| server | requests/s | p99 |",
      "| --- | --- | --- |",
      `| provctl serve, GET /api/v1/machines | ${api.rps.toFixed(0)} | ${
        api.p99Ms.toFixed(2)
      } ms |`,
      `| bare Deno.serve hello | ${hello.rps.toFixed(0)} | ${hello.p99Ms.toFixed(2)} ms |`,
      `| bare Deno.serve, the same ${(body.length / 1024).toFixed(0)} KiB body from memory | ${
        sameBody.rps.toFixed(0)
      } | ${sameBody.p99Ms.toFixed(2)} ms |`,
      "",
      `Ratio: ${(ratio * 100).toFixed(0)}% of the bare server's requests/s (target >= 50%: ${
        ratio >= 0.5 ? "met" : "NOT met"
      }); p99 ${api.p99Ms.toFixed(2)} ms (target < 20 ms: ${
        api.p99Ms < 20 ? "met" : "NOT met"
      }). Each API request authenticates the token, reads and selects the inventory and ` +
      `renders ${MACHINES} records (cached per inventory version); the hello server does nothing. ` +
      `A bare server sending the same body reaches ${
        (sameBody.rps / hello.rps * 100).toFixed(0)
      }% of the hello's requests/s: that is the ceiling for any server of this answer here, and ` +
      `provctl serve reaches ${(api.rps / sameBody.rps * 100).toFixed(0)}% of it.`,
      "",
      `Server memory: RSS ${(rssBefore / 1024).toFixed(1)} MiB after warm-up, ${
        (rssAfter / 1024).toFixed(1)
      } MiB after ${REQUESTS} more requests (${grew >= 0 ? "+" : ""}${
        (grew / 1024).toFixed(1)
      } MiB).`,
    ].join("\n");
  } finally {
    for (const p of procs) {
      try {
        p.kill("SIGTERM");
      } catch { /* gone */ }
      await p.status;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) console.log(await benchSection());
