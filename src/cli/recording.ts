/**
 * Audit and metrics for a command: every runner that reaches another machine is wrapped
 * in a RecordingRunner, so each remote operation lands in the audit log (fsynced before
 * it is reported) and in the metrics totals. Loaded only when a command goes remote.
 */
import { AuditLog } from "../observe/audit_log.ts";
import { MetricsCollector, persistMetrics } from "../observe/metrics.ts";
import { RecordingRunner } from "../observe/recording_runner.ts";
import { Redactor } from "../observe/redact.ts";
import type { CommandRunner } from "../exec/runner.ts";
import type { LoadedConfig } from "../config/loader.ts";
import { ProvctlError } from "../core/errors.ts";

export interface RecorderWarnings {
  warn(key: string, params: Record<string, string | number>): void;
}

export class CommandRecorder {
  readonly #config: LoadedConfig;
  readonly #operation: string;
  readonly #warnings: RecorderWarnings;
  readonly metrics = new MetricsCollector();
  #audit?: Promise<AuditLog>;
  #redactor?: Redactor;
  readonly #runners: RecordingRunner[] = [];

  readonly #operator?: string;
  readonly #afterWrite?: () => Promise<void>;

  /** `afterWrite`: ships each written batch to the shared state store (postgres). */
  constructor(
    config: LoadedConfig,
    operation: string,
    warnings: RecorderWarnings,
    operator?: string,
    afterWrite?: () => Promise<void>,
  ) {
    this.#operator = operator;
    this.#afterWrite = afterWrite;
    this.#config = config;
    this.#operation = operation;
    this.#warnings = warnings;
  }

  /** The command's redactor (built-in rules plus observe.redact_patterns). */
  get redactor(): Redactor {
    this.#redactor ??= new Redactor({
      extraPatterns: this.#config.strings("observe.redact_patterns"),
    });
    return this.#redactor;
  }

  /** The audit log, opened on first use (closed by close()). */
  auditLog(): Promise<AuditLog> {
    this.#audit ??= (async () => {
      const path = this.#config.path("observe.audit_file");
      const log = await AuditLog.open(path, {
        redactor: this.redactor,
        operator: this.#operator,
        afterWrite: this.#afterWrite,
        maxBytes: this.#config.integer("audit.max_bytes"),
        keep: this.#config.integer("audit.keep"),
      });
      if (log.modeTightened) {
        this.#warnings.warn("observe.audit_mode_tightened", {
          path,
          from: log.modeTightened.from.toString(8),
          to: "600",
        });
      }
      return log;
    })();
    return this.#audit;
  }

  /** The runner, recording every operation it runs on `machine`. */
  async wrap(
    runner: CommandRunner,
    machine: string,
    deploymentId?: string,
  ): Promise<CommandRunner> {
    const audit = await this.auditLog();
    const recording = new RecordingRunner(runner, {
      audit,
      metrics: this.metrics,
      redactor: this.redactor,
      machine,
      deploymentId,
      operation: this.#operation,
    });
    this.#runners.push(recording);
    return recording;
  }

  /** Counts `runner`'s lost audit records in the warning close() gives. */
  track(runner: RecordingRunner): void {
    this.#runners.push(runner);
  }

  /** Closes the audit log and adds this command's metrics to the totals. */
  async close(): Promise<void> {
    if (!this.#audit) return;
    const audit = await this.#audit;
    await audit.close();
    await persistMetrics(this.#config.path("observe.metrics_file"), this.metrics.snapshot());
    const failures = this.#runners.reduce((n, r) => n + r.recordFailures, 0);
    if (failures > 0) {
      // The operations ran but the trail is incomplete: that is a failure of the command
      // (exit 1), not a note that a script would never see.
      throw new ProvctlError("CommandFailed", "cli.audit_records_lost", {
        params: { count: failures, path: this.#config.path("observe.audit_file") },
      });
    }
  }
}
