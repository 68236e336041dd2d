/**
 * Discovery section of `deno task bench`: `provctl machines list -o json` over an
 * inventory whose one source (DigitalOcean, the fake API of tests/discovery/fakes on
 * loopback) holds 5 000 droplets served 100 a page (50 pages), each run a fresh process:
 * cold (no cache: 50 requests, then the cache is written) vs warm (a fresh cache: no
 * request). Run alone with `deno run -A scripts/bench_discovery.ts`.
 */
import { startDigitalOceanFake } from "../tests/discovery/fakes/digitalocean.ts";
import type { FakeMachine } from "../tests/discovery/fakes/fixture.ts";

const MACHINES = 5000;
const PAGE = 100;
const RUNS = Number(Deno.env.get("BENCH_DISCOVERY_RUNS") ?? 5);
const root = new URL("..", import.meta.url).pathname;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function machines(): FakeMachine[] {
  return Array.from({ length: MACHINES }, (_, i) => ({
    id: String(100000 + i),
    name: `node-${i}`,
    publicV4: `198.51.${100 + (i >> 8) % 100}.${i & 255}`,
    privateV4: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    running: i % 10 !== 0,
    region: ["fra1", "ams3", "nyc1"][i % 3],
    tags: { env: i % 2 ? "prod" : "staging", role: ["web", "db", "cache"][i % 3] },
    bare: ["managed"],
  }));
}

export async function benchSection(): Promise<string> {
  const fake = startDigitalOceanFake(machines());
  fake.pageLimit = PAGE;
  const dir = await Deno.makeTempDir({ prefix: "provctl-bench-discovery-" });
  try {
    const inventory = `${dir}/machines.toml`;
    await Deno.writeTextFile(
      inventory,
      `[sources.bench]\nprovider = "digitalocean"\napi_url = "${fake.apiUrl}"\n${fake.sourceLines}\n` +
        `page_size = ${PAGE}\ncache_ttl = "1h"\n`,
    );
    const stateDir = `${dir}/state`;
    const run = async () => {
      const t0 = performance.now();
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--quiet",
          `${root}src/main.ts`,
          "machines",
          "list",
          "-o",
          "json",
          "--inventory",
          inventory,
        ],
        env: { ...fake.env, HOME: dir, PROVCTL_STATE_DIR: stateDir, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const ms = performance.now() - t0;
      const lines = new TextDecoder().decode(out.stdout).trim().split("\n").length;
      if (out.code !== 0 || lines !== MACHINES) {
        throw new Error(
          `machines list: exit ${out.code}, ${lines} lines: ${
            new TextDecoder().decode(out.stderr)
          }`,
        );
      }
      return ms;
    };
    await run(); // warm the module cache
    const cold: number[] = [];
    const warm: number[] = [];
    let requests = 0;
    for (let i = 0; i < RUNS; i++) {
      await Deno.remove(`${stateDir}/discovery`, { recursive: true }).catch(() => {});
      const before = fake.requests.length;
      cold.push(await run());
      requests = fake.requests.length - before;
      const again = fake.requests.length;
      warm.push(await run());
      if (fake.requests.length !== again) throw new Error("the warm run asked the provider");
    }
    const cacheBytes = (await Deno.stat(`${stateDir}/discovery/bench.json`)).size;
    return [
      "## Cloud discovery: cold vs warm cache",
      "",
      `\`provctl machines list -o json\` (a fresh process each run, ${RUNS} runs each) over one ` +
      `DigitalOcean source served by the loopback fake API: ${MACHINES} droplets, ${PAGE} a page ` +
      `(${requests} requests when cold). Cold: no cache, every page fetched and the cache written ` +
      `(${(cacheBytes / 1024).toFixed(0)} KiB); warm: the cache is fresh, no request is made.`,
      "",
      "| case | median ms | min ms | max ms |",
      "| --- | ---: | ---: | ---: |",
      `| cold cache (${requests} pages fetched) | ${median(cold).toFixed(0)} | ${
        Math.min(...cold).toFixed(0)
      } | ${Math.max(...cold).toFixed(0)} |`,
      `| warm cache (0 requests) | ${median(warm).toFixed(0)} | ${Math.min(...warm).toFixed(0)} | ${
        Math.max(...warm).toFixed(0)
      } |`,
    ].join("\n");
  } finally {
    await fake.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) console.log(await benchSection());
