/**
 * SSH section of `deno task bench`: N sequential commands on one real sshd (loopback)
 * through the connection pool vs a new connection for each command, in the same run;
 * and one `provctl status X --host H` through a jump host (a fresh process, end to end).
 * Target: a pooled command costs at most 10% of a fresh connect+exec.
 *
 * Fresh and pooled commands alternate in blocks (ROUNDS of each), so a load change on the
 * machine falls on both sides of the ratio. A pooled command is also taken apart on the
 * same connection: its two round trips, a bare channel, and the client's CPU time.
 */
import process from "node:process";
import { startSshdFleet } from "../tests/fixtures/sshd.ts";
import { resolveConnectionPlan } from "../src/ssh/target.ts";
import { SshPool } from "../src/ssh/pool.ts";
import { SshRunner } from "../src/ssh/ssh_runner.ts";

const N = Number(Deno.env.get("BENCH_SSH_COMMANDS") ?? 120);
const ROUNDS = 8;
const root = new URL("..", import.meta.url).pathname;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function benchSection(): Promise<string> {
  if (Deno.uid() !== 0) return "## SSH\n\nSkipped: the sshd fixture needs root.";
  const fleet = await startSshdFleet({ count: 2 });
  const dir = await Deno.makeTempDir({ prefix: "provctl-bench-ssh-" });
  try {
    const [jump, target] = fleet.hosts;
    const sshConfig = `${dir}/ssh_config`;
    const entry = (name: string, h: typeof target, extra = "") =>
      `Host ${name}\n  HostName ${h.address}\n  Port ${h.port}\n  User root\n  IdentityFile ${fleet.clientKey}\n` +
      `  IdentitiesOnly yes\n  UserKnownHostsFile ${fleet.knownHosts}\n${extra}`;
    await Deno.writeTextFile(
      sshConfig,
      entry("bench-target", target) + entry("bench-jump", jump) +
        entry("bench-behind-jump", target, "  ProxyJump bench-jump\n"),
    );
    const plan = await resolveConnectionPlan("bench-target", { sshConfigFile: sshConfig });

    // Pooled: one pool; its first command connects, the measured ones reuse the connection.
    const pool = new SshPool({});
    const runner = new SshRunner({ plan, pool });
    await runner.run("true", []);
    const fresh: number[] = [];
    const pooled: number[] = [];
    let pooledCpuUs = 0;
    const perRound = Math.ceil(N / ROUNDS);
    for (let round = 0; round < ROUNDS; round++) {
      // Fresh: a new pool (so a new connection) for every command, closed after it.
      for (let i = 0; i < perRound; i++) {
        const t0 = performance.now();
        const once = new SshPool({ idleTimeoutMs: 0 });
        const r = await new SshRunner({ plan, pool: once }).run("true", []);
        await once.close();
        if (r.code !== 0) throw new Error("fresh run failed");
        fresh.push(performance.now() - t0);
      }
      const cpu = process.cpuUsage();
      for (let i = 0; i < perRound; i++) {
        const t0 = performance.now();
        const r = await runner.run("true", []);
        pooled.push(performance.now() - t0);
        if (r.code !== 0) throw new Error("pooled run failed");
      }
      const used = process.cpuUsage(cpu);
      pooledCpuUs += used.user + used.system;
    }
    // The same connection without SshRunner: a bare channel whose remote shell only exits.
    const answered: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < N; i++) {
      const lease = await pool.acquire(plan);
      const t0 = performance.now();
      const { channel, finished } = await lease.session.exec("exit 0");
      answered.push(performance.now() - t0);
      channel.on("data", () => {});
      channel.end();
      await finished;
      bare.push(performance.now() - t0);
      lease.release();
    }
    const stats = pool.stats();
    await pool.close();

    // Pooled through one jump host (the hop's connection carries the target's).
    const jumpPlan = await resolveConnectionPlan("bench-behind-jump", { sshConfigFile: sshConfig });
    const jumpPool = new SshPool({});
    const jumpRunner = new SshRunner({ plan: jumpPlan, pool: jumpPool });
    await jumpRunner.run("true", []);
    const viaJump: number[] = [];
    for (let i = 0; i < Math.min(N, 30); i++) {
      const t0 = performance.now();
      const r = await jumpRunner.run("true", []);
      viaJump.push(performance.now() - t0);
      if (r.code !== 0) throw new Error("pooled run through the jump host failed");
    }
    await jumpPool.close();

    // One provctl status through a jump host, as a user runs it (fresh process).
    const state = `${dir}/state`;
    const statusRuns: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--quiet",
          `${root}src/main.ts`,
          "status",
          "bench-svc",
          "--no-persist",
          "--host",
          "bench-behind-jump",
          "--ssh-config",
          sshConfig,
          "--backend",
          "pidfile",
        ],
        env: { PROVCTL_STATE_DIR: state, NO_COLOR: "1" },
        stdout: "null",
        stderr: "piped",
      }).output();
      if (out.code !== 3 && out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
      statusRuns.push(performance.now() - t0);
    }

    const f = median(fresh), p = median(pooled);
    const ratio = p / f;
    const roundRatios = Array.from({ length: ROUNDS }, (_, r) => {
      const slice = (xs: number[]) => xs.slice(r * perRound, (r + 1) * perRound);
      return median(slice(pooled)) / median(slice(fresh)) * 100;
    });
    const row = (name: string, xs: number[]) =>
      `| ${name} | ${median(xs).toFixed(1)} | ${Math.min(...xs).toFixed(1)} | ${
        Math.max(...xs).toFixed(1)
      } |`;
    return [
      "## SSH: pooled vs fresh connections",
      "",
      `${fresh.length} fresh and ${pooled.length} pooled sequential \`true\` commands (SshRunner.run) on one loopback sshd (OpenSSH, ed25519 host key, npm:ssh2 pure-JS crypto), alternating in ${ROUNDS} blocks of ${perRound} of each so that load on the machine falls on both.`,
      "",
      "| mode | median ms per command | min ms | max ms |",
      "| --- | ---: | ---: | ---: |",
      row("fresh connect + exec + close", fresh),
      row("pooled exec (connection reused)", pooled),
      "",
      `Pool statistics: created ${stats.total.created}, reused ${stats.total.reused}.`,
      "",
      `Target: a pooled command at most 10% of a fresh one: **${(ratio * 100).toFixed(1)}% — ${
        ratio <= 0.1 ? "met" : "NOT met"
      }** (per block: ${roundRatios.map((x) => x.toFixed(1)).join(", ")}%).`,
      "",
      "Where a pooled command's time goes (same connection, medians):",
      "",
      "| step | ms |",
      "| --- | ---: |",
      `| channel open + exec request answered (2 round trips; sshd forks the session before it answers) | ${
        median(answered).toFixed(2)
      } |`,
      `| bare channel to its close: the above + remote login shell running \`exit 0\` | ${
        median(bare).toFixed(2)
      } |`,
      `| SshRunner.run("true"): the above + PID marker line + exec of /bin/true | ${
        p.toFixed(2)
      } |`,
      `| client CPU per pooled command (user + system, all threads; overlaps the waiting) | ${
        (pooledCpuUs / 1000 / pooled.length).toFixed(2)
      } |`,
      "",
      "What remains per pooled command on the client: 4 packets, each burst one TCP segment (channel open; exec request; EOF of the empty stdin; channel close), 2 round trips before the command starts, and ssh2 decrypting the 7 the server sends (open confirmation, window adjust, exec success, the PID marker line, EOF, exit status, close). The rest is the server: sshd forks a session process per channel, root's login shell starts, prints the PID marker (the process group stop() kills) and execs the program. Nothing per command touches the disk: the circuit breaker is consulted only when a connection is opened, and not rewritten while it stays closed (tests/ssh/pool_test.ts holds this, the segment count and the absence of error objects).",
      "",
      `Pooled through one jump host (${viaJump.length} commands): median ${
        median(viaJump).toFixed(1)
      } ms, ${
        viaJump.filter((ms) => ms >= 40).length
      } of them 40 ms or more. The hop's sshd forwards the target's packets with Nagle's algorithm on (OpenSSH turns it off only for interactive sessions), so it holds the next one (the exit status) until this machine ACKs the previous one, and the kernel delays that ACK by 40 ms while the client has nothing to send: every such command took ~45 ms. provctl answers each chunk the hop forwards with a window adjust, which carries the ACK at once.`,
      "",
      `\`provctl status bench-svc --host H\` through one jump host, as a fresh process (start-up, two SSH handshakes, remote status): median ${
        median(statusRuns).toFixed(0)
      } ms over ${statusRuns.length} runs.`,
    ].join("\n");
  } finally {
    await fleet.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) console.log(await benchSection());
