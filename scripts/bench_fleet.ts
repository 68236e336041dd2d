/**
 * Fleet section of `deno task bench`: `provctl exec --all -- true` on 10 and on 50
 * loopback sshd hosts against parallel-ssh (pssh), `pdsh -R ssh` and `ansible -m command`,
 * with the same forks, host set, client key, user (root), hashed known_hosts and the same
 * empty root .bashrc (the fixture's mount namespace), all in one run. Each tool's whole
 * command (start-up included) is timed by hyperfine; each is first checked to succeed on
 * every host. Target: provctl at most half of the fastest of pssh/pdsh at both sizes.
 *
 * Runs alone with `deno run -A scripts/bench_fleet.ts`. Installs pssh, pdsh, ansible,
 * hyperfine and time with apt-get when missing (root only).
 */
import { type SshdFleet, startSshdFleet } from "../tests/fixtures/sshd.ts";
import { bundleSplit, SHIPPED_V8_FLAGS } from "./bundle.ts";

const root = new URL("..", import.meta.url).pathname;
const deno = Deno.execPath();
const RUNS = Number(Deno.env.get("BENCH_FLEET_RUNS") ?? 10);
const WARMUP = 2;
/** Host counts; BENCH_FLEET_SIZES (e.g. "3,5") shrinks a smoke run. */
const SIZES = (Deno.env.get("BENCH_FLEET_SIZES") ?? "10,50").split(",").map(Number);
const SAME_KEX = "KexAlgorithms=curve25519-sha256";
const dec = new TextDecoder();

export interface Case {
  tool: string;
  hosts: number;
  forks: number;
  cmd: string[];
  env?: Record<string, string>;
  /** Why a completed run does not count as success on every host, or undefined. */
  verify: (out: Deno.CommandOutput) => string | undefined;
  unavailable?: string;
  note?: string;
}

export interface Row {
  c: Case;
  medianS?: number;
  minS?: number;
  maxS?: number;
  rssMiB?: number;
  cpuS?: number;
  serverCpuS?: number;
  error?: string;
}

async function sh(script: string): Promise<{ ok: boolean; text: string }> {
  const out = await new Deno.Command("sh", { args: ["-c", script], stdin: "null" }).output();
  return { ok: out.success, text: (dec.decode(out.stdout) + dec.decode(out.stderr)).trim() };
}

/** Installs the Debian package of each missing tool; returns why a tool is unavailable. */
export async function ensureTools(): Promise<Map<string, string>> {
  const tools: [string, string][] = [
    ["parallel-ssh", "pssh"],
    ["pdsh", "pdsh"],
    ["ansible", "ansible"],
    ["hyperfine", "hyperfine"],
    ["/usr/bin/time", "time"],
  ];
  const missing = new Map<string, string>();
  let updated = false;
  for (const [bin, pkg] of tools) {
    if ((await sh(`command -v ${bin}`)).ok) continue;
    if (Deno.uid() !== 0) {
      missing.set(bin, `not installed (apt-get install ${pkg} needs root)`);
      continue;
    }
    let r = await sh(`DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkg} 2>&1`);
    if (!r.ok && !updated) {
      updated = true;
      await sh("apt-get update -qq 2>&1");
      r = await sh(`DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkg} 2>&1`);
    }
    if (!r.ok || !(await sh(`command -v ${bin}`)).ok) {
      missing.set(bin, `apt-get install ${pkg} failed: ${r.text.split("\n").pop()}`);
    }
  }
  return missing;
}

/** POSIX single-quoting for hyperfine's shell-words splitting (-N). */
function quote(word: string): string {
  return /^[A-Za-z0-9_\/.,:=@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

async function runOnce(c: Case, timeFile: string): Promise<Deno.CommandOutput> {
  return await new Deno.Command("/usr/bin/time", {
    args: ["-o", timeFile, "-f", "%M %e %U %S", ...c.cmd],
    env: c.env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
}

/**
 * CPU seconds used so far by the sshd connections of these listeners: each listener's
 * reaped children (cutime + cstime in /proc/PID/stat), summed.
 */
export async function serverCpu(pids: number[], ticks: number): Promise<number> {
  let total = 0;
  for (const pid of pids) {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 16 and 17 (cutime, cstime), counted from 1 with field 3 first here.
    total += Number(fields[13] ?? 0) + Number(fields[14] ?? 0);
  }
  return total / ticks;
}

export async function measure(
  c: Case,
  dir: string,
  hyperfine: boolean,
  server: () => Promise<number>,
  runs = RUNS,
): Promise<Row> {
  if (c.unavailable) return { c, error: c.unavailable };
  const timeFile = `${dir}/time.txt`;
  // Success on every host first (this run also gives peak RSS and CPU time).
  const before = await server();
  const out = await runOnce(c, timeFile);
  // Let the listeners reap their last connection processes.
  await new Promise((r) => setTimeout(r, 300));
  const serverCpuS = await server() - before;
  const why = c.verify(out);
  if (why) return { c, error: `failed verification: ${why}` };
  const [rssKb, , user, sys] = (await Deno.readTextFile(timeFile)).trim().split("\n").pop()!
    .split(" ").map(Number);
  const row: Row = { c, rssMiB: rssKb / 1024, cpuS: user + sys, serverCpuS };
  if (!hyperfine) return { ...row, error: "hyperfine not available" };
  const json = `${dir}/hyperfine.json`;
  const hf = await new Deno.Command("hyperfine", {
    args: [
      "-N",
      "--style",
      "basic",
      "--warmup",
      String(WARMUP),
      "--runs",
      String(runs),
      "--export-json",
      json,
      c.cmd.map(quote).join(" "),
    ],
    env: c.env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!hf.success) {
    return { ...row, error: `hyperfine failed: ${dec.decode(hf.stderr).trim().split("\n").pop()}` };
  }
  const result = JSON.parse(await Deno.readTextFile(json)).results[0];
  return { ...row, medianS: result.median, minS: result.min, maxS: result.max };
}

/** One line per host matching `re` whose first group names the host; all names seen. */
export function everyHost(text: string, re: RegExp, names: string[]): string | undefined {
  const seen = new Set<string>();
  for (const line of text.split("\n")) {
    const m = line.match(re);
    if (m) seen.add(m[1]);
  }
  const missing = names.filter((n) => !seen.has(n));
  return missing.length ? `no success reported for ${missing.length} hosts (${missing[0]}...)` : "";
}

export function checked(out: Deno.CommandOutput, perHost: string | undefined): string | undefined {
  if (out.code !== 0) {
    return `exit ${out.code}: ${dec.decode(out.stderr).trim().split("\n").slice(-2).join(" / ")}`;
  }
  return perHost || undefined;
}

export async function writeFiles(fleet: SshdFleet, dir: string, sizes = SIZES) {
  const hosts = fleet.hosts;
  const names = hosts.map((_, i) => `h${i + 1}`);
  // One ssh_config for every OpenSSH-based tool (and provctl): per-host aliases, then the
  // shared client key, user, the fixture's hashed known_hosts and strict checking.
  const sshConfig = `${dir}/ssh_config`;
  await Deno.writeTextFile(
    sshConfig,
    hosts.map((h, i) => `Host ${names[i]}\n  HostName ${h.address}\n  Port ${h.port}\n`).join("") +
      `Host *\n  User root\n  IdentityFile ${fleet.clientKey}\n  IdentitiesOnly yes\n` +
      `  UserKnownHostsFile ${fleet.knownHosts}\n  GlobalKnownHostsFile /dev/null\n` +
      `  StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n`,
  );
  const files = new Map<number, { inventory: string; pssh: string; ansible: string }>();
  for (const n of sizes) {
    const inventory = `${dir}/machines-${n}.toml`;
    await Deno.writeTextFile(
      inventory,
      hosts.slice(0, n).map((h, i) =>
        `[machines.${names[i]}]\nhost = "${h.address}"\nport = ${h.port}\nuser = "root"\n` +
        `identity = "${fleet.clientKey}"\n`
      ).join("\n"),
    );
    const pssh = `${dir}/pssh-hosts-${n}`;
    await Deno.writeTextFile(pssh, names.slice(0, n).join("\n") + "\n");
    const ansible = `${dir}/ansible-hosts-${n}.ini`;
    await Deno.writeTextFile(
      ansible,
      "[fleet]\n" +
        hosts.slice(0, n).map((h, i) =>
          `${names[i]} ansible_host=${h.address} ansible_port=${h.port} ansible_user=root ` +
          `ansible_ssh_private_key_file=${fleet.clientKey}\n`
        ).join(""),
    );
    files.set(n, { inventory, pssh, ansible });
  }
  return { names, sshConfig, files };
}

export function fmt(x: number | undefined, digits = 2): string {
  return x === undefined ? "n/a" : x.toFixed(digits);
}

/**
 * The same clean environment for every tool (no agent, no user ssh/ansible config), and
 * ansible's cold (no ControlMaster, no pipelining) and warm (ControlPersist in
 * `controlPath`, pipelining) variants of it.
 */
export async function toolEnvs(dir: string, sshConfig: string) {
  const home = `${dir}/home`;
  await Deno.mkdir(home, { recursive: true });
  const baseEnv: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: home,
    LANG: "C.UTF-8",
    DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache/deno`,
    NO_COLOR: "1",
    PROVCTL_STATE_DIR: `${dir}/provctl-state`,
    XDG_STATE_HOME: `${dir}/xdg-state`,
    XDG_CONFIG_HOME: `${dir}/xdg-config`,
    ANSIBLE_CONFIG: `${dir}/ansible.cfg`,
    ANSIBLE_HOST_KEY_CHECKING: "True",
    ANSIBLE_PYTHON_INTERPRETER: "/usr/bin/python3",
    ANSIBLE_NOCOLOR: "1",
    ANSIBLE_LOCAL_TEMP: `${dir}/ansible-tmp`,
    ANSIBLE_SSH_CONTROL_PATH_DIR: `${dir}/ansible-cp`,
    PDSH_SSH_ARGS: `-F ${sshConfig} -a -x -l%u %h`,
  };
  await Deno.writeTextFile(`${dir}/ansible.cfg`, "[defaults]\n");
  const ansibleCold = {
    ...baseEnv,
    // Replaces ansible's default "-C -o ControlMaster=auto -o ControlPersist=60s".
    ANSIBLE_SSH_ARGS: `-F ${sshConfig} -o ControlMaster=no`,
    ANSIBLE_PIPELINING: "False",
  };
  const controlPath = `${dir}/cp/%C`;
  await Deno.mkdir(`${dir}/cp`, { recursive: true });
  const ansibleWarm = {
    ...baseEnv,
    ANSIBLE_SSH_ARGS:
      `-F ${sshConfig} -o ControlMaster=auto -o ControlPersist=60s -o ControlPath=${controlPath}`,
    ANSIBLE_PIPELINING: "True",
  };
  return { baseEnv, ansibleCold, ansibleWarm, controlPath };
}

/** Closes the OpenSSH control masters under `controlPath` (ssh -O exit per host). */
export async function closeMasters(
  names: string[],
  sshConfig: string,
  controlPath: string,
  env: Record<string, string>,
): Promise<void> {
  for (const name of names) {
    await new Deno.Command("ssh", {
      args: ["-F", sshConfig, "-o", `ControlPath=${controlPath}`, "-O", "exit", name],
      env,
      clearEnv: true,
      stdout: "null",
      stderr: "null",
    }).output();
  }
}

export async function benchSection(): Promise<string> {
  const title = "## Fleet: provctl exec vs parallel-ssh, pdsh, ansible";
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) {
    return `${title}\n\nSkipped: the sshd fleet needs root on Linux.`;
  }
  const missing = await ensureTools();
  if (missing.has("/usr/bin/time")) {
    return `${title}\n\nSkipped: GNU time is ${missing.get("/usr/bin/time")}.`;
  }
  const fdLimit = (await sh("ulimit -n")).text;
  const fdHard = (await sh("ulimit -Hn")).text;
  const dir = await Deno.makeTempDir({ prefix: "provctl-bench-fleet-" });
  const fleet = await startSshdFleet({ count: Math.max(...SIZES), logLevel: "ERROR" });
  try {
    const sshdConfig = await Deno.readTextFile(`${fleet.hosts[0].dir}/sshd_config`);
    const maxStartups = sshdConfig.match(/^MaxStartups (.*)$/m)?.[1] ?? "default (10:30:100)";
    const { names, sshConfig, files } = await writeFiles(fleet, dir);

    // provctl bundled with code splitting: modules load when first used, as in a compiled
    // provctl binary (a single-file bundle would load every node: import at start).
    let bundle = `${dir}/bundle/main.js`;
    const bundleError: string | undefined = await bundleSplit(`${dir}/bundle`).then(
      (entry) => {
        bundle = entry;
        return undefined;
      },
      (e: Error) => e.message,
    );
    const { baseEnv, ansibleCold, ansibleWarm, controlPath } = await toolEnvs(dir, sshConfig);

    const cases: Case[] = [];
    for (const n of SIZES) {
      const f = files.get(n)!;
      const hostNames = names.slice(0, n);
      // Cold: every run connects (the keeper section has the warm rows).
      const provctlArgs = [
        "exec",
        "--no-persist",
        "--all",
        "--forks",
        String(n),
        "--inventory",
        f.inventory,
        "--ssh-config",
        sshConfig,
        "--",
        "true",
      ];
      // Grouped output prints "=== NAME (exit 0, ...)" per machine.
      const provctlOk = (out: Deno.CommandOutput) =>
        checked(out, everyHost(dec.decode(out.stdout), /^=== (\S+) \(exit 0,/, hostNames));
      cases.push({
        tool: "provctl (bundle)",
        hosts: n,
        forks: n,
        cmd: [
          deno,
          "run",
          "-A",
          "--no-config",
          "--quiet",
          SHIPPED_V8_FLAGS,
          bundle,
          ...provctlArgs,
        ],
        env: baseEnv,
        verify: provctlOk,
        unavailable: bundleError && `deno bundle failed: ${bundleError.trim().split("\n")[0]}`,
      });
      cases.push({
        tool: "provctl (deno run src/main.ts)",
        hosts: n,
        forks: n,
        cmd: [deno, "run", "-A", "--quiet", `${root}src/main.ts`, ...provctlArgs],
        env: baseEnv,
        verify: provctlOk,
      });
      // OpenSSH's default key exchange (sntrup761x25519-sha512) is one ssh2 lacks; the
      // second pair of rows gives pssh/pdsh provctl's curve25519-sha256.
      for (const [suffix, extra] of [["", ""], [" (curve25519-sha256)", ` -o ${SAME_KEX}`]]) {
        cases.push({
          tool: `parallel-ssh${suffix}`,
          hosts: n,
          forks: n,
          cmd: [
            "parallel-ssh",
            "-h",
            f.pssh,
            "-p",
            String(n),
            "-t",
            "0",
            "-x",
            `-F ${sshConfig}${extra}`,
            "true",
          ],
          env: baseEnv,
          verify: (out) =>
            checked(out, everyHost(dec.decode(out.stdout), /\[SUCCESS\] (\S+)$/, hostNames)),
          unavailable: missing.get("parallel-ssh"),
        });
        cases.push({
          tool: `pdsh -R ssh${suffix}`,
          hosts: n,
          forks: n,
          // -S: exit with the largest remote exit code (255 when ssh could not connect).
          cmd: ["pdsh", "-S", "-R", "ssh", "-f", String(n), "-w", hostNames.join(","), "true"],
          env: { ...baseEnv, PDSH_SSH_ARGS: `-F ${sshConfig}${extra} -a -x -l%u %h` },
          verify: (out) => {
            const err = dec.decode(out.stderr).trim();
            return checked(out, err ? `stderr: ${err.split("\n")[0]}` : undefined);
          },
          unavailable: missing.get("pdsh"),
        });
      }
      const ansibleOk = (out: Deno.CommandOutput) =>
        checked(out, everyHost(dec.decode(out.stdout), /^(\S+) \| CHANGED \| rc=0/, hostNames));
      const ansibleCmd = ["ansible", "all", "-i", f.ansible, "-f", String(n), "-m", "command"];
      cases.push({
        tool: "ansible (cold)",
        hosts: n,
        forks: n,
        cmd: [...ansibleCmd, "-a", "true"],
        env: ansibleCold,
        verify: ansibleOk,
        unavailable: missing.get("ansible"),
      });
      cases.push({
        tool: "ansible (ControlPersist + pipelining, warm)",
        hosts: n,
        forks: n,
        cmd: [...ansibleCmd, "-a", "true"],
        env: ansibleWarm,
        verify: ansibleOk,
        unavailable: missing.get("ansible"),
      });
    }

    // pdsh prints nothing for `true`: show that every host answers through the same setup.
    let pdshCount = "";
    if (!missing.has("pdsh")) {
      const out = await new Deno.Command("pdsh", {
        args: [
          "-S",
          "-R",
          "ssh",
          "-f",
          String(names.length),
          "-w",
          names.join(","),
          "echo",
          "bench-ok",
        ],
        env: baseEnv,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const seen = dec.decode(out.stdout).split("\n").filter((l) => /^h\d+: bench-ok$/.test(l));
      pdshCount = `pdsh with \`echo bench-ok\` on all ${names.length} hosts: exit ${out.code}, ` +
        `${new Set(seen).size} hosts answered.`;
    }

    const ticks = Number((await sh("getconf CLK_TCK")).text) || 100;
    const server = () => serverCpu(fleet.hosts.map((h) => h.pid!), ticks);
    const rows: Row[] = [];
    for (const c of cases) {
      console.error(`bench_fleet: ${c.tool} on ${c.hosts} hosts...`);
      rows.push(await measure(c, dir, !missing.has("hyperfine"), server));
    }
    // Close ansible's persisted control masters (the ssh processes this run started).
    await closeMasters(names, sshConfig, controlPath, baseEnv);

    const profile = await profileProvctl(bundle, baseEnv, files, sshConfig, !bundleError);
    return report({ rows, fdLimit, fdHard, maxStartups, pdshCount, profile });
  } finally {
    await fleet.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

interface Profile {
  bareS?: number;
  ssh2ImportS?: number;
  versionS?: number;
  oneHostS?: number;
  perHost?: { n: number; minMs: number; medianMs: number; maxMs: number };
}

/** Where provctl's time goes: start-up alone, one host, per-host durations at the largest size. */
async function profileProvctl(
  bundle: string,
  env: Record<string, string>,
  files: Map<number, { inventory: string }>,
  sshConfig: string,
  built: boolean,
): Promise<Profile> {
  if (!built) return {};
  const base = [deno, "run", "-A", "--no-config", "--quiet", SHIPPED_V8_FLAGS, bundle];
  const median = async (args: string[], runs = 10) => {
    const times: number[] = [];
    for (let i = 0; i < runs + 2; i++) {
      const t0 = performance.now();
      const out = await new Deno.Command(args[0], {
        args: args.slice(1),
        env,
        clearEnv: true,
        stdout: "null",
        stderr: "null",
      }).output();
      if (!out.success) return undefined;
      if (i >= 2) times.push((performance.now() - t0) / 1000);
    }
    return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
  };
  const n = Math.max(...SIZES);
  const inv = files.get(n)!.inventory;
  // The runtime alone, and the runtime loading only ssh2 (the version deno.json pins).
  const dir = bundle.slice(0, bundle.lastIndexOf("/"));
  const ssh2 = JSON.parse(await Deno.readTextFile(`${root}deno.json`)).imports.ssh2;
  await Deno.writeTextFile(`${dir}/empty.ts`, "");
  await Deno.writeTextFile(`${dir}/ssh2_only.ts`, `import "${ssh2}";\n`);
  const bareS = await median([deno, "run", "-A", "--no-config", "--quiet", `${dir}/empty.ts`]);
  const ssh2ImportS = await median([
    deno,
    "run",
    "-A",
    "--no-config",
    "--quiet",
    `${dir}/ssh2_only.ts`,
  ]);
  const versionS = await median([...base, "version"]);
  const oneHostS = await median([
    ...base,
    "exec",
    "--no-persist",
    "h1",
    "--inventory",
    inv,
    "--ssh-config",
    sshConfig,
    "--",
    "true",
  ]);
  const out = await new Deno.Command(deno, {
    args: [
      ...base.slice(1),
      "exec",
      "--no-persist",
      "--all",
      "--forks",
      String(n),
      "--inventory",
      inv,
      "--ssh-config",
      sshConfig,
      "-o",
      "json",
      "--",
      "true",
    ],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "null",
  }).output();
  const durations = dec.decode(out.stdout).split("\n").filter((l) => l.trim()).map((l) =>
    JSON.parse(l).duration_ms as number
  ).sort((a, b) => a - b);
  return {
    bareS,
    ssh2ImportS,
    versionS,
    oneHostS,
    perHost: durations.length
      ? {
        n: durations.length,
        minMs: durations[0],
        medianMs: durations[Math.floor(durations.length / 2)],
        maxMs: durations[durations.length - 1],
      }
      : undefined,
  };
}

function report(
  r: {
    rows: Row[];
    fdLimit: string;
    fdHard: string;
    maxStartups: string;
    pdshCount: string;
    profile: Profile;
  },
): string {
  const baselineRe = /^(parallel-ssh|pdsh)/;
  const defaultKexRe = /^(parallel-ssh|pdsh -R ssh)$/;
  const fastestRow = (n: number, re = baselineRe) =>
    r.rows.filter((x) => x.c.hosts === n && re.test(x.c.tool) && x.medianS !== undefined)
      .sort((a, b) => a.medianS! - b.medianS!)[0];
  const fastestBaseline = (n: number, re = baselineRe) => fastestRow(n, re)?.medianS;
  const big = Math.max(...SIZES);
  const table = r.rows.map((x) => {
    const base = fastestBaseline(x.c.hosts);
    const ratio = base && x.medianS ? `${(x.medianS / base).toFixed(2)}x` : "n/a";
    const rss = x.rssMiB === undefined ? "n/a" : x.rssMiB.toFixed(1);
    if (x.error && x.medianS === undefined) {
      return `| ${x.c.tool} | ${x.c.hosts} | ${x.c.forks} | not available: ${
        x.error.replaceAll("|", "\\|")
      } | | | ${rss} | |`;
    }
    return `| ${x.c.tool} | ${x.c.hosts} | ${x.c.forks} | ${fmt(x.medianS)} | ${fmt(x.minS)} | ${
      fmt(x.maxS)
    } | ${rss} | ${ratio} |`;
  });
  const cpu = r.rows.filter((x) => x.c.hosts === big && x.cpuS !== undefined).map((x) =>
    `| ${x.c.tool} | ${fmt(x.medianS)} | ${x.cpuS!.toFixed(2)} | ${fmt(x.serverCpuS)} |`
  );

  const verdict = (tool: string, re = baselineRe) => {
    const parts: string[] = [];
    let met = true;
    for (const n of SIZES) {
      const base = fastestRow(n, re);
      const p = r.rows.find((x) => x.c.hosts === n && x.c.tool === tool)?.medianS;
      if (base === undefined || p === undefined) {
        met = false;
        parts.push(`${n} hosts: not measured`);
        continue;
      }
      const ratio = p / base.medianS!;
      if (ratio > 0.5) met = false;
      parts.push(
        `${n} hosts: ${p.toFixed(2)} s vs ${base.c.tool} ${base.medianS!.toFixed(2)} s = ${
          ratio.toFixed(2)
        }x` + (ratio > 0.5 ? `, ${(ratio / 0.5).toFixed(1)}x the allowed time` : ""),
      );
    }
    return `**${met ? "met" : "NOT met"}** (${parts.join("; ")})`;
  };
  const bundleRow = (n: number) =>
    r.rows.find((x) => x.c.hosts === n && x.c.tool === "provctl (bundle)");
  const pb = bundleRow(big), fb = fastestRow(big);
  const cores = navigator.hardwareConcurrency;
  // What the target allows next to what cannot be cut from provctl's side.
  const limits = () => {
    const small = Math.min(...SIZES);
    const allowedSmall = fastestBaseline(small), allowedBig = fastestBaseline(big);
    const parts: string[] = [];
    if (allowedSmall !== undefined && p.oneHostS !== undefined) {
      parts.push(
        `At ${small} hosts the target allows ${(allowedSmall / 2).toFixed(2)} s; provctl on ` +
          `a single host takes ${p.oneHostS.toFixed(2)} s, of which ${fmt(p.versionS)} s is ` +
          "start-up (compare the ssh2-only import) and the rest one connection (handshake, auth, " +
          "exec) in a fresh process.",
      );
    }
    if (allowedBig !== undefined && pb?.serverCpuS !== undefined) {
      parts.push(
        `At ${big} hosts the target allows ${(allowedBig / 2).toFixed(2)} s; the sshd side ` +
          `alone used ${pb.serverCpuS.toFixed(2)} s of CPU in provctl's run, ${
            (pb.serverCpuS / cores).toFixed(2)
          } s of wall time on ${cores} cores even with a client that costs nothing.`,
      );
    }
    return parts.join(" ");
  };
  const floor = (x?: Row) =>
    x?.cpuS !== undefined && x.serverCpuS !== undefined
      ? `(${x.cpuS.toFixed(2)} + ${x.serverCpuS.toFixed(2)}) / ${cores} = ${
        ((x.cpuS + x.serverCpuS) / cores).toFixed(2)
      } s`
      : "n/a";
  const p = r.profile;
  return [
    "## Fleet: provctl exec vs parallel-ssh, pdsh, ansible",
    "",
    `\`true\` on ${
      SIZES.join(" and on ")
    } loopback OpenSSH 9.2 hosts (127.0.N.x, one sshd each, ed25519 host keys) ` +
    `with forks equal to the host count for every tool, all measured in this run. Same client key, ` +
    `user root, the fixture's hashed known_hosts with strict checking, and root's .bashrc hidden for ` +
    `every tool (sshd runs in a mount namespace with an empty .bashrc). OpenSSH-based tools read one ` +
    "generated ssh_config (`-F`), provctl reads a machines.toml plus the same ssh_config and runs " +
    "with `--no-persist` (every run connects, as the others here; warm rows are in the keeper " +
    "section). hyperfine " +
    `\`-N --warmup ${WARMUP} --runs ${RUNS}\` times each whole command, start-up included; each tool ` +
    "first ran once and was checked to succeed on every host (provctl: `=== hN (exit 0` per host; " +
    "pssh: `[SUCCESS] hN` per host; ansible: `hN | CHANGED | rc=0` per host; pdsh: `-S` exit 0 " +
    "and no stderr). OpenSSH negotiates its default sntrup761x25519-sha512 key exchange, which " +
    "npm:ssh2 lacks; the `(curve25519-sha256)` rows force provctl's key exchange on pssh/pdsh " +
    "(`-o " + SAME_KEX + "`), and the ratio column and the target use the fastest of all " +
    "pssh/pdsh rows of that size. Peak RSS and CPU come from GNU time on that checked run; for the tools that " +
    "fork one ssh per host, %M is the largest single process, not the sum.",
    "",
    "| tool | hosts | forks | median s | min s | max s | peak RSS MiB | ratio to fastest pssh/pdsh |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...table,
    "",
    `Target: provctl at most half of the fastest of pssh/pdsh at both sizes: ${
      verdict("provctl (bundle)")
    } for the bundle, against the fastest pssh/pdsh row of each size. Against pssh/pdsh with ` +
    `OpenSSH's default key exchange only: bundle ${
      verdict("provctl (bundle)", defaultKexRe)
    }. Source run (\`deno run src/main.ts\`): ${verdict("provctl (deno run src/main.ts)")}.`,
    "",
    `Setup checks: sshd MaxStartups ${r.maxStartups}, MaxSessions 50; open files limit ${r.fdLimit} ` +
    `(hard ${r.fdHard}). ${r.pdshCount} Ansible uses /usr/bin/python3 as the interpreter (no ` +
    `discovery round trip); "cold" replaces ansible's ssh_args with \`-o ControlMaster=no\` and no ` +
    "pipelining (each run opens fresh connections, several per host); the warm row keeps " +
    "ControlPersist=60s masters between runs and pipelining on.",
    "",
    `CPU seconds of the checked run at ${big} hosts: the client (GNU time, user+sys, children ` +
    "included) and the servers (the sshd listeners' reaped children, from /proc cutime+cstime): " +
    `the ${cores} cores run the client and the ${big} sshd processes together.`,
    "",
    "| tool | median s | client CPU s | sshd CPU s |",
    "| --- | ---: | ---: | ---: |",
    ...cpu,
    "",
    "(The warm ansible row's sshd CPU is mostly not counted: its persisted connections are " +
    "still open, so their sshd processes have not been reaped yet.)",
    "",
    `Where provctl's time goes (bundle): bare \`deno run\` of an empty file ${fmt(p.bareS)} s; ` +
    `a file that only imports npm:ssh2 ${fmt(p.ssh2ImportS)} s; start-up alone (\`provctl ` +
    `version\`) ${fmt(p.versionS)} s; \`exec\` on 1 host ${
      fmt(p.oneHostS)
    } s; at ${big} hosts the per-host durations ` +
    `that \`-o json\` reports (connect, handshake, exec, inside one process) are min ${
      p.perHost ? (p.perHost.minMs / 1000).toFixed(2) : "n/a"
    } s, median ${p.perHost ? (p.perHost.medianMs / 1000).toFixed(2) : "n/a"} s, max ${
      p.perHost ? (p.perHost.maxMs / 1000).toFixed(2) : "n/a"
    } s (${p.perHost?.n ?? 0} hosts). CPU floor (client + sshd CPU over ${cores} cores): provctl ` +
    `${floor(pb)} against a median of ${fmt(pb?.medianS)} s; ${fb?.c.tool ?? "fastest baseline"} ` +
    `${floor(fb)} against ${fmt(fb?.medianS)} s. ${limits()}`,
  ].join("\n");
}

if (import.meta.main) console.log(await benchSection());
