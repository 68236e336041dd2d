/**
 * The Machine and MachineCheck records (src/core/records.ts) of `provctl machines list|check
 * -o json` and GET /machines, POST /machines/check: one function per record, both faces.
 */
import { isProvctlError } from "../core/errors.ts";
import type { CommandRunner, HostInfo } from "../exec/runner.ts";
import type { FailureBudget } from "./executor.ts";
import type { MachineConfig } from "./inventory.ts";

export interface MachineRecord {
  readonly name: string;
  readonly address: string;
  readonly port: number | null;
  readonly user: string | null;
  readonly jump: string | null;
  readonly profile: string | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly vars: Readonly<Record<string, string>>;
  readonly origin: string;
  /** The cloud source it was discovered from, or null for machines of the file. */
  readonly source: string | null;
  /** From a source that failed this time: its last cached answer. */
  readonly stale: boolean;
}

export function machineRecord(m: MachineConfig): MachineRecord {
  return {
    name: m.name,
    address: m.host,
    port: m.port ?? null,
    user: m.user ?? null,
    // The chain as ssh writes it; "none" when the machine is reached directly on purpose.
    jump: m.jump === undefined ? null : m.jump.length === 0 ? "none" : m.jump.join(","),
    profile: m.profile ?? null,
    labels: m.labels,
    vars: m.vars,
    origin: m.origin,
    source: m.source ?? null,
    stale: m.stale ?? false,
  };
}

export type CheckStage = "connect" | "host-key" | "auth" | "command" | "backend";

export interface MachineCheckRecord {
  readonly machine: string;
  readonly ok: boolean;
  /** Where the check failed; "skipped" past --max-failures (not checked). */
  readonly failed_at: CheckStage | "skipped" | null;
  readonly backend: string | null;
  readonly latency_ms: number | null;
  readonly error: string | null;
  /** When the check finished (ISO). */
  readonly checked_at: string;
}

/** What a check needs of a machine (the CLI's Target). */
export interface CheckableMachine {
  readonly name: string;
  runner(): Promise<CommandRunner>;
  hostInfo(): Promise<HostInfo>;
}

function stageOf(error: unknown): CheckStage {
  if (!isProvctlError(error)) return "command";
  if (error.kind.startsWith("HostKey")) return "host-key";
  if (error.kind === "AuthFailed") return "auth";
  if (
    error.kind === "ConnectionFailed" || error.kind === "CircuitOpen" || error.kind === "Timeout"
  ) {
    return "connect";
  }
  return "command";
}

/** Connects, verifies the host key, logs in, runs a command and detects the backend. */
export async function checkMachine(
  target: CheckableMachine,
  describe: (error: unknown) => string,
): Promise<MachineCheckRecord> {
  let stage: CheckStage = "connect";
  try {
    const runner = await target.runner();
    await runner.run("true", []); // connect, verify the host key, authenticate
    stage = "command";
    const t0 = performance.now();
    const probe = await runner.run("true", []); // a command on the open connection
    const latencyMs = performance.now() - t0;
    if (probe.code !== 0) throw new Error(probe.stderr.trim() || `exit code ${probe.code}`);
    stage = "backend";
    const { detectBackends } = await import("../backends/detect.ts");
    const report = await detectBackends(runner, await target.hostInfo());
    return {
      machine: target.name,
      ok: true,
      failed_at: null,
      backend: report.chosen ?? null,
      latency_ms: Math.round(latencyMs * 10) / 10,
      error: null,
      checked_at: new Date().toISOString(),
    };
  } catch (error) {
    return {
      machine: target.name,
      ok: false,
      failed_at: stage === "connect" ? stageOf(error) : stage,
      backend: null,
      latency_ms: null,
      error: describe(error),
      checked_at: new Date().toISOString(),
    };
  }
}

/**
 * Checks machines in parallel (at most `forks` at once; past `maxFailures` the rest are
 * not checked and come back as skipped); one record each, in order.
 */
export async function checkMachines(
  targets: readonly CheckableMachine[],
  options: {
    forks: number;
    maxFailures?: FailureBudget;
    describe: (error: unknown) => string;
    /** The text of a skipped machine's `error`. */
    skipped: string;
  },
): Promise<MachineCheckRecord[]> {
  const { runFleet } = await import("./executor.ts");
  const outcomes = await runFleet(targets, async (target) => {
    const value = await checkMachine(target, options.describe);
    return { ok: value.ok, value };
  }, { forks: options.forks, maxFailures: options.maxFailures });
  return outcomes.map((o, i) =>
    o.value ?? {
      machine: targets[i].name,
      ok: false,
      failed_at: "skipped",
      backend: null,
      latency_ms: null,
      error: options.skipped,
      checked_at: new Date().toISOString(),
    }
  );
}
