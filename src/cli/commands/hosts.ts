/**
 * provctl hosts breakers [--reset HOST|all]: the persisted SSH circuit breakers of this
 * machine's state dir (shared by every provctl invocation), and closing them by hand.
 * HOST is the breaker's host:port, its bare host (every port), or an ssh_config alias /
 * [user@]host[:port] resolved the way --host is.
 */
import { ExitCode, ProvctlError } from "../../core/errors.ts";
import type { BreakerStatus } from "../../ssh/circuit_breaker.ts";
import type { HostKeyPolicy } from "../../ssh/known_hosts.ts";
import type { BreakerFlags } from "../app.ts";
import { table } from "../render.ts";
import { command, type Session } from "../session.ts";

export const breakers = command<BreakerFlags, []>(async (session, flags) => {
  const { listBreakers, resetBreakers } = await import("../../ssh/circuit_breaker.ts");
  const dir = session.localStateDir();
  const store = await session.sharedBreakers();
  if (flags.reset !== undefined) {
    const all = flags.reset.trim() === "all";
    let reset = await resetBreakers(dir, all ? undefined : flags.reset.trim(), store);
    if (reset.length === 0 && !all) {
      const resolved = await resolvedName(session, flags, flags.reset.trim());
      if (resolved !== undefined) reset = await resetBreakers(dir, resolved, store);
    }
    if (reset.length === 0 && !all) {
      const known = (await listBreakers(dir, store)).map((b) => b.host);
      throw new ProvctlError("NotFound", "remote.breaker_unknown", {
        params: { host: flags.reset, known: known.join(", ") || "none" },
        hint: "remote.breaker_unknown_hint",
      });
    }
    if (session.output === "json") {
      session.out(JSON.stringify({ reset }));
    } else if (reset.length === 0) {
      session.out(session.format("remote.breakers_reset_none"));
    } else {
      for (const host of reset) session.out(session.format("remote.breaker_reset", { host }));
    }
    return ExitCode.ok;
  }
  const list = await listBreakers(dir, store);
  if (session.output === "json") {
    for (const b of list) session.out(JSON.stringify(breakerJson(b)));
    return ExitCode.ok;
  }
  if (list.length === 0) {
    session.note("remote.breakers_none", { dir: `${dir}/breakers` });
    return ExitCode.ok;
  }
  const c = session.colors;
  const header = ["host", "state", "failures", "opened", "probe", "last_error"].map((k) =>
    c.bold(session.format(`remote.column_${k}`))
  );
  const rows = list.map((b) => {
    const json = breakerJson(b);
    const state = b.state === "open"
      ? c.red(b.state)
      : b.state === "half-open"
      ? c.yellow(b.state)
      : b.state;
    return [
      b.host,
      state,
      String(b.consecutiveFailures),
      (json.opened_at as string | null) ?? "-",
      (json.next_probe as string | null) ?? "-",
      b.lastError ?? "-",
    ];
  });
  session.out(table([header, ...rows]).trimEnd());
  return ExitCode.ok;
});

/** The stable JSON shape of a breaker. */
function breakerJson(b: BreakerStatus): Record<string, unknown> {
  const tripped = b.state !== "closed";
  return {
    host: b.host,
    state: b.state,
    failures: b.consecutiveFailures,
    // The breaker file is last written when the circuit opens (or a probe re-opens it).
    opened_at: tripped ? b.updatedAt : null,
    next_probe: tripped ? b.probeAt ?? null : null,
    last_error: b.lastError ?? null,
    updated_at: b.updatedAt,
  };
}

/** "host:port" of what `--host spec` connects to (the breaker's name), if it resolves. */
async function resolvedName(
  session: Session,
  flags: BreakerFlags,
  spec: string,
): Promise<string | undefined> {
  const env = session.ctx.process.env;
  const { resolveConnectionPlan, endpointLabel } = await import("../../ssh/target.ts");
  try {
    const plan = await resolveConnectionPlan(spec, {
      sshConfigFile: flags.sshConfig,
      defaultHostKeyPolicy: session.loaded.config.string("ssh.host_key_policy") as HostKeyPolicy,
      home: env.HOME,
      localUser: env.USER ?? env.LOGNAME,
    });
    return endpointLabel(plan.target).replace(/^[^@]*@/, "");
  } catch {
    return undefined; // not a host spec: reported as an unknown breaker
  }
}
