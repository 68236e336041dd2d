/**
 * Keeper section of `deno task bench`: warm SSH connections across invocations, side by
 * side in one run with OpenSSH's ControlMaster=auto/ControlPersist=60 and ansible
 * (ControlPersist + pipelining), on loopback sshd hosts (the fleet section's set-up,
 * tools and hyperfine measurement, reused from bench_fleet.ts).
 *
 * Targets (issue 12): a warm `provctl exec --host H -- true` at most 1.0x a warm
 * `ssh H true`; a warm `provctl exec --all -- true` on 50 hosts at most 1.0x a warm
 * ControlPersist ssh loop and a warm ansible; cold provctl (--no-persist) unchanged.
 */
import { startSshdFleet } from "../tests/fixtures/sshd.ts";
import { bundleSplit, SHIPPED_V8_FLAGS } from "./bundle.ts";
import {
  type Case,
  checked,
  closeMasters,
  ensureTools,
  everyHost,
  fmt,
  measure,
  type Row,
  serverCpu,
  toolEnvs,
  writeFiles,
} from "./bench_fleet.ts";

const deno = Deno.execPath();
const HOSTS = Number(Deno.env.get("BENCH_KEEPER_HOSTS") ?? 50);
const RUNS = Number(Deno.env.get("BENCH_KEEPER_RUNS") ?? 20);
const dec = new TextDecoder();
const TITLE = "## Warm connections across invocations: the keeper vs ControlPersist";

export async function benchSection(): Promise<string> {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) {
    return `${TITLE}\n\nSkipped: the sshd fleet needs root on Linux.`;
  }
  const missing = await ensureTools();
  if (missing.has("/usr/bin/time")) {
    return `${TITLE}\n\nSkipped: GNU time is ${missing.get("/usr/bin/time")}.`;
  }
  const hyperfine = !missing.has("hyperfine");
  const dir = await Deno.makeTempDir({ prefix: "provctl-bench-keeper-" });
  const fleet = await startSshdFleet({ count: HOSTS, logLevel: "ERROR" });
  const { names, sshConfig, files } = await writeFiles(fleet, dir, [HOSTS]);
  const { baseEnv, ansibleWarm, controlPath } = await toolEnvs(dir, sshConfig);
  const bundle = await bundleSplit(`${dir}/bundle`);
  // The shipped form: the bundle with the V8 flags `deno task compile` embeds.
  const provctl = [deno, "run", "-A", "--no-config", "--quiet", SHIPPED_V8_FLAGS, bundle];
  const inventory = files.get(HOSTS)!.inventory;
  const persist = ["-o", "ControlMaster=auto", "-o", `ControlPath=${controlPath}`];
  const ssh = (host: string, warm: boolean) =>
    `ssh -F ${sshConfig}${warm ? ` ${persist.join(" ")} -o ControlPersist=60` : ""} ${host} true`;
  const hello = `${dir}/hello.js`;
  await Deno.writeTextFile(hello, 'console.log("hello");\n');
  try {
    const exitOk = (out: Deno.CommandOutput) => checked(out, undefined);
    const single: Case[] = [
      {
        tool: "ssh H true, ControlPersist (warm master)",
        hosts: 1,
        forks: 1,
        cmd: ["sh", "-c", ssh("h1", true)],
        env: baseEnv,
        verify: exitOk,
      },
      {
        tool: "provctl exec --host H -- true, keeper warm (bundle)",
        hosts: 1,
        forks: 1,
        cmd: [...provctl, "exec", "--host", "h1", "--ssh-config", sshConfig, "--", "true"],
        env: baseEnv,
        verify: exitOk,
      },
      {
        tool: "ssh H true, no master (cold)",
        hosts: 1,
        forks: 1,
        cmd: ["sh", "-c", ssh("h1", false)],
        env: baseEnv,
        verify: exitOk,
      },
      {
        tool: "provctl exec --host H --no-persist -- true (cold, bundle)",
        hosts: 1,
        forks: 1,
        cmd: [
          ...provctl,
          "exec",
          "--host",
          "h1",
          "--no-persist",
          "--ssh-config",
          sshConfig,
          "--",
          "true",
        ],
        env: baseEnv,
        verify: exitOk,
      },
      {
        tool: "provctl version (bundle: start-up alone)",
        hosts: 0,
        forks: 0,
        cmd: [...provctl, "version"],
        env: baseEnv,
        verify: exitOk,
      },
      {
        tool: "deno run hello.js (bare runtime)",
        hosts: 0,
        forks: 0,
        cmd: [deno, "run", "--no-config", "--quiet", hello],
        env: baseEnv,
        verify: exitOk,
      },
    ];
    const all = names.join(" ");
    const fleetArgs = ["--forks", String(HOSTS), "--inventory", inventory, "--ssh-config"];
    const provctlOk = (out: Deno.CommandOutput) =>
      checked(out, everyHost(dec.decode(out.stdout), /^=== (\S+) \(exit 0,/, names));
    const failures = (out: Deno.CommandOutput) =>
      checked(out, dec.decode(out.stdout).includes("FAIL") ? dec.decode(out.stdout) : undefined);
    const many: Case[] = [
      {
        tool: `provctl exec --all -- true, keeper warm (bundle)`,
        hosts: HOSTS,
        forks: HOSTS,
        cmd: [...provctl, "exec", "--all", ...fleetArgs, sshConfig, "--", "true"],
        env: baseEnv,
        verify: provctlOk,
      },
      {
        tool: "ssh loop, ControlPersist (warm, sequential)",
        hosts: HOSTS,
        forks: 1,
        cmd: ["sh", "-c", `for h in ${all}; do ${ssh("$h", true)} || exit 1; done`],
        env: baseEnv,
        verify: exitOk,
      },
      {
        tool: "ssh loop, ControlPersist (warm, all at once: &, wait)",
        hosts: HOSTS,
        forks: HOSTS,
        cmd: ["sh", "-c", `for h in ${all}; do ${ssh("$h", true)} || echo FAIL $h & done; wait`],
        env: baseEnv,
        verify: failures,
      },
      {
        tool: "ansible -m command (ControlPersist + pipelining, warm)",
        hosts: HOSTS,
        forks: HOSTS,
        cmd: [
          "ansible",
          "all",
          "-i",
          files.get(HOSTS)!.ansible,
          "-f",
          String(HOSTS),
          "-m",
          "command",
          "-a",
          "true",
        ],
        env: ansibleWarm,
        verify: (out) =>
          checked(out, everyHost(dec.decode(out.stdout), /^(\S+) \| CHANGED \| rc=0/, names)),
        unavailable: missing.get("ansible"),
      },
      {
        tool: "provctl exec --all --no-persist -- true (cold, bundle)",
        hosts: HOSTS,
        forks: HOSTS,
        cmd: [...provctl, "exec", "--all", "--no-persist", ...fleetArgs, sshConfig, "--", "true"],
        env: baseEnv,
        verify: provctlOk,
      },
    ];
    const ticks = Number(dec.decode(
      (await new Deno.Command("getconf", { args: ["CLK_TCK"] })
        .output()).stdout,
    )) || 100;
    const server = () => serverCpu(fleet.hosts.map((h) => h.pid!), ticks);
    const rows: Row[] = [];
    // The runs before hyperfine's own (the checked run, the warm-ups) warm the master
    // connections and the keeper; hyperfine then times warm runs only.
    let held: Awaited<ReturnType<typeof keeperState>> | undefined;
    for (const c of [...single, ...many]) {
      console.error(`bench_keeper: ${c.tool}...`);
      rows.push(await measure(c, dir, hyperfine, server, RUNS));
      // Right after the warm fleet runs, before persist_ms lets the connections go.
      if (c === many[0]) held = await keeperState(provctl, baseEnv);
    }
    return report(rows, single.length, held!);
  } finally {
    await new Deno.Command(provctl[0], {
      args: [...provctl.slice(1), "hosts", "connections", "--close"],
      env: baseEnv,
      clearEnv: true,
      stdout: "null",
      stderr: "null",
    }).output();
    await closeMasters(names, sshConfig, controlPath, baseEnv);
    await fleet.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** What the keeper holds after the warm runs, and its peak memory. */
async function keeperState(provctl: string[], env: Record<string, string>) {
  const out = await new Deno.Command(provctl[0], {
    args: [...provctl.slice(1), "hosts", "connections", "-o", "json"],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "null",
  }).output();
  const rows = dec.decode(out.stdout).split("\n").filter((l) => l.trim()).map((l) =>
    JSON.parse(l) as { created: number; reused: number }
  );
  let rssMiB: number | undefined;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      if (
        !cmdline.includes("__keeper") || !cmdline.some((a) => a.startsWith(env.PROVCTL_STATE_DIR))
      ) {
        continue;
      }
      const hwm = Deno.readTextFileSync(`/proc/${entry.name}/status`).match(/VmHWM:\s+(\d+)/);
      if (hwm) rssMiB = Number(hwm[1]) / 1024;
    } catch { /* gone */ }
  }
  return {
    connections: rows.length,
    created: rows.reduce((n, r) => n + r.created, 0),
    reused: rows.reduce((n, r) => n + r.reused, 0),
    rssMiB,
  };
}

function report(
  rows: Row[],
  singles: number,
  held: { connections: number; created: number; reused: number; rssMiB?: number },
): string {
  const ms = (row: Row) => row.medianS === undefined ? undefined : row.medianS * 1000;
  const table = (part: Row[], base: Row) => [
    "| command | hosts | median ms | min ms | max ms | ratio to the first row | client CPU s (one run) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...part.map((r) => {
      const ratio = ms(r) !== undefined && ms(base) ? ms(r)! / ms(base)! : undefined;
      const cells = r.error
        ? `${r.error} | | | |`
        : `${fmt(ms(r), 1)} | ${fmt((r.minS ?? 0) * 1000, 1)} | ${fmt((r.maxS ?? 0) * 1000, 1)} | ${
          fmt(ratio)
        }x |`;
      return `| ${r.c.tool} | ${r.c.hosts || "-"} | ${cells} ${fmt(r.cpuS)} |`;
    }),
  ];
  const one = rows.slice(0, singles);
  const fleet = rows.slice(singles);
  const ratio = (a: Row | undefined, b: Row | undefined) =>
    a && b && ms(a) !== undefined && ms(b) ? ms(a)! / ms(b)! : undefined;
  const verdict = (r: number | undefined) =>
    r === undefined ? "not measured" : `**${r.toFixed(2)}x**, ${r <= 1 ? "met" : "NOT met"}`;
  const [sshWarm, provctlWarm, , , version, bare] = one;
  const [fleetWarm, loop, parallel, ansible] = fleet;
  return [
    TITLE,
    "",
    `Loopback sshd hosts (the fleet section's: same key, user root, hashed known_hosts, strict ` +
    `checking, one ssh_config \`-F\` for OpenSSH and provctl). hyperfine \`-N\` times each whole ` +
    `command (${RUNS} runs after warm-ups), start-up included; each first ran once and was checked ` +
    'to succeed on every host. "Warm": OpenSSH\'s master (`ControlMaster=auto`, ' +
    "`ControlPersist=60`) or provctl's keeper (`ssh.persist_ms`, default 60 s) already holds " +
    "the connection from the warm-up runs; provctl is the shipped form (code-split bundle, " +
    "`deno run -A`).",
    "",
    "One host:",
    "",
    ...table(one, one[0]),
    "",
    `${HOSTS} hosts:`,
    "",
    ...table(fleet, fleet[0]),
    "",
    `After the warm ${HOSTS}-host runs the keeper held ${held.connections} connections (created ` +
    `${held.created}, reused ${held.reused} times); its peak RSS ${
      held.rssMiB === undefined ? "n/a" : `${held.rssMiB.toFixed(1)} MiB`
    }.`,
    "",
    "Targets:",
    `- warm \`provctl exec --host H -- true\` at most 1.0x a warm \`ssh H true\`: ${
      verdict(ratio(provctlWarm, sshWarm))
    }. Start-up alone (\`provctl version\`) is ${fmt(ms(version), 1)} ms and the bare runtime ` +
    `(\`deno run hello.js\`) ${fmt(ms(bare), 1)} ms, against ${
      fmt(ms(sshWarm), 1)
    } ms for the whole warm ssh: ` +
    `${
      (ms(bare) ?? 0) > (ms(sshWarm) ?? Infinity)
        ? "a Deno program cannot start in the time a warm `ssh` takes, so 1.0x is out of reach " +
          "for any provctl built on Deno; what the keeper removes is the handshake"
        : "the keeper's request round trip is what is left above start-up"
    }.`,
    `- warm \`provctl exec --all -- true\` on ${HOSTS} hosts at most 1.0x a warm ControlPersist ` +
    `ssh loop: ${verdict(ratio(fleetWarm, loop))} against the sequential loop, ${
      verdict(ratio(fleetWarm, parallel))
    } against all at once; at most 1.0x a warm ansible: ${verdict(ratio(fleetWarm, ansible))}.`,
    "- cold cases: the `--no-persist` rows connect every time, as provctl did before the " +
    "keeper; the fleet section measures them against pssh/pdsh/ansible.",
  ].join("\n");
}

if (import.meta.main) console.log(await benchSection());
