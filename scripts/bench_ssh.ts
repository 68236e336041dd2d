/**
 * SSH section of `deno task bench`: N sequential commands on one real sshd (loopback)
 * through the connection pool vs a new connection for each command, in the same run;
 * and one `provctl status X --host H` through a jump host (a fresh process, end to end).
 * Target: a pooled command costs at most 10% of a fresh connect+exec.
 */
import { startSshdFleet } from "../tests/fixtures/sshd.ts";
import { resolveConnectionPlan } from "../src/ssh/target.ts";
import { SshPool } from "../src/ssh/pool.ts";
import { SshRunner } from "../src/ssh/ssh_runner.ts";

const N = Number(Deno.env.get("BENCH_SSH_COMMANDS") ?? 30);
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

    // Fresh: a new pool (so a new connection) for every command, closed after it.
    const fresh: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      const pool = new SshPool({ idleTimeoutMs: 0 });
      const r = await new SshRunner({ plan, pool }).run("true", []);
      await pool.close();
      if (r.code !== 0) throw new Error("fresh run failed");
      fresh.push(performance.now() - t0);
    }
    // Pooled: one pool; the first command connects, the rest reuse the connection.
    const pool = new SshPool({});
    const runner = new SshRunner({ plan, pool });
    await runner.run("true", []);
    const pooled: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      const r = await runner.run("true", []);
      if (r.code !== 0) throw new Error("pooled run failed");
      pooled.push(performance.now() - t0);
    }
    const stats = pool.stats();
    await pool.close();

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
    return [
      "## SSH: pooled vs fresh connections",
      "",
      `${N} sequential \`true\` commands on one loopback sshd (OpenSSH, ed25519 host key, npm:ssh2 pure-JS crypto).`,
      "",
      "| mode | median ms per command | min ms | max ms |",
      "| --- | ---: | ---: | ---: |",
      `| fresh connect + exec + close | ${f.toFixed(1)} | ${Math.min(...fresh).toFixed(1)} | ${
        Math.max(...fresh).toFixed(1)
      } |`,
      `| pooled exec (connection reused) | ${p.toFixed(1)} | ${Math.min(...pooled).toFixed(1)} | ${
        Math.max(...pooled).toFixed(1)
      } |`,
      "",
      `Pool statistics: created ${stats.total.created}, reused ${stats.total.reused}.`,
      "",
      `Target: a pooled command at most 10% of a fresh one: **${(ratio * 100).toFixed(1)}% — ${
        ratio <= 0.1 ? "met" : "NOT met"
      }**.`,
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
