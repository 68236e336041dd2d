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
import type { HealthCheck } from "../../health/checks.ts";
import { checkOne, type HealthRecord, transitionRecord } from "../../health/records.ts";
import type { FailureBudget } from "../../fleet/executor.ts";
import type { MachineConfig } from "../../fleet/inventory.ts";

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
export function checkTable(
  flags: HealthFlags,
  command: readonly string[],
): Record<string, unknown> {
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
  // Words after "--" are the command of a command check; words before it name machines.
  const dash = session.ctx.argv.indexOf("--");
  const commandWords = dash < 0 ? [] : session.ctx.argv.slice(dash + 1);
  const machineNames = positional.slice(0, positional.length - commandWords.length);
  const raw = checkTable(flags, commandWords);
  if (flags.watch && (flags.forks !== undefined || flags.maxFailures !== undefined)) {
    // Every machine is watched until Ctrl-C: there is no batch to bound or stop.
    throw new ProvctlError("Usage", "health_cli.watch_fleet_flags");
  }
  if (flags.watch) {
    const { HealthMonitor } = await import("../../health/monitor.ts");
    const { targets, checks, settings } = await prepare(session, flags, machineNames, raw);
    return await watch(
      session,
      targets.map((t) => t.target),
      checks,
      flags,
      settings,
      HealthMonitor,
    );
  }
  const records = await healthRecords(session, flags, machineNames, raw);
  if (session.output === "json") {
    for (const r of records) session.out(JSON.stringify(r));
  } else {
    const c = session.colors;
    const header = ["host", "health", "latency", "detail"].map((k) =>
      c.bold(session.format(`health_cli.column_${k}`))
    );
    session.out(
      table([
        header,
        ...records.map((r) => [
          r.machine,
          r.healthy
            ? c.green(session.format("health_cli.healthy"))
            : c.red(session.format(`health_cli.${r.status}`)),
          `${r.latency_ms.toFixed(1)} ms`,
          r.detail,
        ]),
      ]).trimEnd(),
    );
  }
  return records.every((r) => r.healthy) ? ExitCode.ok : ExitCode.failed;
});

/** The targets and each one's check (`{var}`s expanded per machine, quoted where shell). */
async function prepare(
  session: Session,
  flags: FleetFlags,
  machineNames: readonly string[],
  raw: Record<string, unknown>,
) {
  const [{ parseHealthCheck }, { healthSettings }, { expandCheckTable }] = await Promise.all([
    import("../../health/checks.ts"),
    import("../../health/settings.ts"),
    import("../../fleet/inventory.ts"),
  ]);
  const settings = healthSettings(session.loaded.config);
  let targets: { target: Target; machine?: MachineConfig }[];
  let fleet: { forks: number; maxFailures?: FailureBudget } | undefined;
  if (fleetRequested(flags, machineNames)) {
    const { selectFleet } = await import("../fleet.ts");
    const selected = await selectFleet(session, flags, machineNames);
    targets = selected.targets.map((target, i) => ({ target, machine: selected.machines[i] }));
    fleet = { forks: selected.forks, maxFailures: selected.maxFailures };
  } else {
    targets = [{ target: await session.target() }];
  }
  const checkFor = (machine?: MachineConfig): HealthCheck => {
    const expanded = machine === undefined ? raw : expandCheckTable(raw, machine);
    return parseHealthCheck(expanded, "--http/--tcp/-- CMD");
  };
  return { targets, checks: targets.map(({ machine }) => checkFor(machine)), settings, fleet };
}

/**
 * provctl health and the API's /health: one check (a table as in a services file's
 * `health`) on each machine, once; one record per machine.
 */
export async function healthRecords(
  session: Session,
  flags: FleetFlags,
  machineNames: readonly string[],
  raw: Record<string, unknown>,
): Promise<HealthRecord[]> {
  const { targets, checks, settings, fleet } = await prepare(session, flags, machineNames, raw);
  const { runFleet } = await import("../../fleet/executor.ts");
  const options = { timeoutMs: settings.timeoutMs, describe: (e: unknown) => session.errorLine(e) };
  // --forks machines at a time; past --max-failures the rest are skipped.
  const outcomes = await runFleet(
    targets.map(({ target }, i) => ({ name: target.name, target, check: checks[i] })),
    async ({ target, check }) => {
      const record = await checkOne(target, check, options);
      return { ok: record.healthy, value: record };
    },
    { forks: fleet?.forks ?? targets.length, maxFailures: fleet?.maxFailures },
  );
  return outcomes.map((o): HealthRecord =>
    o.value ?? {
      machine: o.host,
      healthy: false,
      status: "skipped",
      detail: session.format("fleet.skipped"),
      latency_ms: 0,
    }
  );
}

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
            session.out(JSON.stringify(transitionRecord(target.name, t)));
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
