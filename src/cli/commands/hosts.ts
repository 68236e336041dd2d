/**
 * provctl hosts breakers [HOST...] [--reset]: the persisted SSH circuit breakers of this
 * machine's state dir (shared by every provctl invocation), and closing them by hand.
 * HOST is the breaker's host:port, its bare host (every port), or an ssh_config alias /
 * [user@]host[:port] resolved the way --host is.
 */
import { ExitCode, ProvctlError } from "../../core/errors.ts";
import type { BreakerStatus } from "../../ssh/circuit_breaker.ts";
import type { HostKeyPolicy } from "../../ssh/known_hosts.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { table } from "../render.ts";
import { command, type Session } from "../session.ts";

export interface BreakerFlags extends GlobalFlags {
  readonly reset?: boolean;
}

export interface ConnectionsFlags extends GlobalFlags {
  readonly close?: boolean;
}

export const breakers = command<BreakerFlags, string[]>(async (session, flags, ...hosts) => {
  const { listBreakers, resetBreakers } = await import("../../ssh/circuit_breaker.ts");
  const dir = session.localStateDir();
  const store = await session.sharedBreakers();
  if (flags.reset) {
    if (hosts.length === 0) {
      throw new ProvctlError("Usage", "remote.breaker_reset_needs_host", {
        hint: "remote.breaker_reset_needs_host_hint",
      });
    }
    const reset: string[] = [];
    for (const spec of hosts.map((h) => h.trim())) {
      const all = spec === "all";
      let done = await resetBreakers(dir, all ? undefined : spec, store);
      if (done.length === 0 && !all) {
        const resolved = await resolvedName(session, flags, spec);
        if (resolved !== undefined) done = await resetBreakers(dir, resolved, store);
      }
      if (done.length === 0 && !all) {
        const known = (await listBreakers(dir, undefined, store)).map((b) => b.host);
        throw new ProvctlError("NotFound", "remote.breaker_unknown", {
          params: { host: spec, known: known.join(", ") || "none" },
          hint: "remote.breaker_unknown_hint",
        });
      }
      reset.push(...done);
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
  const wanted = new Set(hosts.map((h) => h.trim()));
  const list = (await listBreakers(dir, undefined, store)).filter((b) =>
    wanted.size === 0 || wanted.has(b.host) || wanted.has(b.host.replace(/:\d+$/, ""))
  );
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

/**
 * provctl hosts connections [--close]: what the SSH connection keeper holds (one row per
 * hop chain), or stop it. Nothing is started by asking.
 */
export const connections = command<ConnectionsFlags, []>(async (session, flags) => {
  const [{ heldConnections, stopKeeper }, { keeperDir }] = await Promise.all([
    import("../../ssh/keeper_runner.ts"),
    import("../../ssh/_keeper_wire.ts"),
  ]);
  const dir = keeperDir(session.ctx.process.env, session.localStateDir());
  if (flags.close) {
    const stopped = await stopKeeper(dir);
    if (session.output === "json") session.out(JSON.stringify({ stopped }));
    else {session.out(
        session.format(stopped ? "remote.connections_closed" : "remote.connections_close_none"),
      );}
    return ExitCode.ok;
  }
  const held = await heldConnections(dir);
  if (session.output === "json") {
    for (const h of held ?? []) {
      session.out(JSON.stringify({
        target: h.target,
        via: h.chain,
        idle: h.idle,
        busy: h.busy,
        created: h.created,
        reused: h.reused,
      }));
    }
    return ExitCode.ok;
  }
  if (held === undefined) {
    session.note("remote.connections_none", { dir });
    return ExitCode.ok;
  }
  if (held.length === 0) {
    session.note("remote.connections_empty", { dir });
    return ExitCode.ok;
  }
  const c = session.colors;
  const header = ["host", "chain", "idle", "busy", "reused"].map((k) =>
    c.bold(session.format(`remote.column_${k}`))
  );
  const rows = held.map((h) => [
    h.target,
    h.chain,
    String(h.idle),
    String(h.busy),
    String(h.reused),
  ]);
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
