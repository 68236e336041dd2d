/**
 * provctl health [MACHINES...] (--http URL | --tcp HOST:PORT | -- CMD ARGS) [--watch]
 * On this machine, --host, or machines selected from the inventory. `{name}` style
 * machine variables in the URL, address or command are expanded per machine.
 */
import { ExitCode, ProvctlError } from "../../core/errors.ts";
import type { GlobalFlags } from "../global_flags.ts";
import type { FleetFlags } from "../fleet_flags.ts";
import { fleetRequested } from "../fleet_flags.ts";
import { table } from "../render.ts";
import { command, type Session } from "../session.ts";
import type { Target } from "../target.ts";
import type { CheckResult, HealthCheck } from "../../health/checks.ts";
import type { MachineConfig } from "../../fleet/inventory.ts";
import type { Fleet } from "../fleet.ts";

export interface HealthFlags extends GlobalFlags, FleetFlags {
  readonly http?: string;
  readonly tcp?: string;
  readonly from?: "controller" | "remote";
  readonly expect?: string;
  readonly body?: string;
  readonly insecure?: boolean;
  readonly watch?: boolean;
  readonly interval?: number;
  readonly timeout?: number;
}

/** The check the flags describe, as a table parseHealthCheck validates. */
function checkTable(flags: HealthFlags, command: readonly string[]): Record<string, unknown> {
  const kinds =
    [flags.http !== undefined, flags.tcp !== undefined, command.length > 0].filter(Boolean).length;
  if (kinds !== 1) throw new ProvctlError("Usage", "health_cli.one_check");
  const common = flags.timeout === undefined ? {} : { timeout_ms: flags.timeout };
  if (flags.http !== undefined) {
    return {
      type: "http",
      url: flags.http,
      from: flags.from ?? "controller",
      ...(flags.expect ? { status: flags.expect } : {}),
      ...(flags.body ? { body_contains: flags.body } : {}),
      ...(flags.insecure ? { tls_insecure: true } : {}),
      ...common,
    };
  }
  if (flags.tcp !== undefined) {
    return { type: "tcp", address: flags.tcp, from: flags.from ?? "controller", ...common };
  }
  return { type: "command", program: command[0], args: command.slice(1), ...common };
}

export default command<HealthFlags, string[]>(async (session, flags, ...positional) => {
  const [{ parseHealthCheck, runCheck }, { HealthMonitor }, { healthSettings }] = await Promise.all(
    [
      import("../../health/checks.ts"),
      import("../../health/monitor.ts"),
      import("../../health/settings.ts"),
    ],
  );
  // Words after "--" are the command of a command check; words before it name machines.
  const dash = session.ctx.argv.indexOf("--");
  const commandWords = dash < 0 ? [] : session.ctx.argv.slice(dash + 1);
  const machineNames = positional.slice(0, positional.length - commandWords.length);
  const raw = checkTable(flags, commandWords);
  const settings = healthSettings(session.loaded.config);

  let targets: { target: Target; machine?: MachineConfig }[];
  let fleet: Fleet | undefined;
  if (flags.watch && (flags.forks !== undefined || flags.maxFailures !== undefined)) {
    // Every machine is watched until Ctrl-C: there is no batch to bound or stop.
    throw new ProvctlError("Usage", "health_cli.watch_fleet_flags");
  }
  if (fleetRequested(flags, machineNames)) {
    const { selectFleet } = await import("../fleet.ts");
    fleet = await selectFleet(session, flags, machineNames);
    const { machines } = fleet;
    targets = fleet.targets.map((target, i) => ({ target, machine: machines[i] }));
  } else {
    targets = [{ target: await session.target() }];
  }
  const { expandCheckTable } = await import("../../fleet/inventory.ts");
  const checkFor = (machine?: MachineConfig): HealthCheck => {
    const expanded = machine === undefined ? raw : expandCheckTable(raw, machine);
    return parseHealthCheck(expanded, "--http/--tcp/-- CMD");
  };
  const checks = targets.map(({ machine }) => checkFor(machine));

  if (flags.watch) {
    return await watch(
      session,
      targets.map((t) => t.target),
      checks,
      flags,
      settings,
      HealthMonitor,
    );
  }
  const checkOne = async (i: number): Promise<CheckResult> => {
    try {
      return await runCheck(checks[i], {
        runner: await targets[i].target.runner(),
        timeoutMs: settings.timeoutMs,
      });
    } catch (error) {
      return {
        ok: false,
        status: "error",
        detail: session.errorLine(error),
        latencyMs: 0,
      } as unknown as CheckResult;
    }
  };
  let results: CheckResult[];
  if (fleet) {
    // --forks machines at a time; past --max-failures the rest are skipped.
    const { runFleet } = await import("../../fleet/executor.ts");
    const outcomes = await runFleet(
      targets.map((t, i) => ({ name: t.target.name, i })),
      async ({ i }) => {
        const result = await checkOne(i);
        return { ok: result.ok, value: result };
      },
      { forks: fleet.forks, maxFailures: fleet.maxFailures },
    );
    results = outcomes.map((o) =>
      o.value ??
        ({
          ok: false,
          status: "skipped",
          detail: session.format("fleet.skipped"),
          latencyMs: 0,
        } as unknown as CheckResult)
    );
  } else {
    results = [await checkOne(0)];
  }
  if (session.output === "json") {
    results.forEach((r, i) =>
      session.out(JSON.stringify({
        host: targets[i].target.name,
        healthy: r.ok,
        status: r.status,
        detail: r.detail,
        latency_ms: Math.round(r.latencyMs * 10) / 10,
      }))
    );
  } else {
    const c = session.colors;
    const header = ["host", "health", "latency", "detail"].map((k) =>
      c.bold(session.format(`health_cli.column_${k}`))
    );
    session.out(
      table([
        header,
        ...results.map((r, i) => [
          targets[i].target.name,
          r.ok
            ? c.green(session.format("health_cli.healthy"))
            : c.red(session.format(`health_cli.${r.status}`)),
          `${r.latencyMs.toFixed(1)} ms`,
          r.detail,
        ]),
      ]).trimEnd(),
    );
  }
  return results.every((r) => r.ok) ? ExitCode.ok : ExitCode.failed;
});

async function watch(
  session: Session,
  targets: Target[],
  checks: HealthCheck[],
  flags: HealthFlags,
  settings: ReturnType<typeof import("../../health/settings.ts").healthSettings>,
  Monitor: typeof import("../../health/monitor.ts").HealthMonitor,
): Promise<number> {
  const abort = new AbortController();
  const stop = () => abort.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    await Promise.all(targets.map(async (target, i) => {
      const monitor = new Monitor(checks[i], {
        runner: await target.runner(),
        timeoutMs: settings.timeoutMs,
        healthyThreshold: settings.healthyThreshold,
        unhealthyThreshold: settings.unhealthyThreshold,
      });
      await monitor.watch({
        intervalMs: flags.interval ?? settings.intervalMs,
        signal: abort.signal,
        onTransition: (t) => {
          const at = new Date(t.at).toISOString();
          if (session.output === "json") {
            session.out(JSON.stringify({
              host: target.name,
              from: t.from,
              to: t.to,
              at,
              detail: t.result.detail,
              unhealthy_ms: t.unhealthyMs ?? null,
            }));
          } else {
            session.out(session.format(
              t.unhealthyMs === undefined ? "health_cli.transition" : "health_cli.transition_after",
              {
                host: target.name,
                from: t.from,
                to: t.to,
                at,
                detail: t.result.detail,
                seconds: ((t.unhealthyMs ?? 0) / 1000).toFixed(1),
              },
            ));
          }
        },
      });
    }));
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
  return ExitCode.ok;
}
