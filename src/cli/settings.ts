/**
 * Settings: the typed view of the merged configuration that commands and backends use.
 * Built from the layered config loader (src/config/loader.ts).
 */
import type { BackendSettings } from "../backends/select.ts";
import type { BackendName } from "../backends/backend.ts";
import type { Messages } from "../config/messages.ts";
import type { RestartPolicy } from "../core/service_definition.ts";
import type { SignalName } from "../core/signals.ts";
import type { ProvctlContext } from "./context.ts";
import type { GlobalFlags, OutputFormat } from "./global_flags.ts";
import { loadConfig, type LoadedConfig } from "../config/loader.ts";

/** provctl's settings: what backends need (BackendSettings) and what the CLI adds. */
export interface Settings extends BackendSettings {
  readonly config: LoadedConfig;
  readonly messages: Messages;
  readonly backend: "auto" | BackendName;
  readonly output: OutputFormat;
  readonly color: "auto" | "always" | "never";
  readonly paths: BackendSettings["paths"] & { readonly servicesFile: string };
  readonly timeouts: BackendSettings["timeouts"] & { readonly stopMs: number };
  readonly service: BackendSettings["service"] & {
    readonly stopSignal: SignalName;
    readonly restart: RestartPolicy;
  };
  readonly logLines: number;
}

export async function loadSettings(
  options: { ctx: ProvctlContext; flags: GlobalFlags },
): Promise<Settings> {
  const config = await loadConfig({
    configDir: options.flags.configDir,
    env: options.ctx.process.env,
  });
  const c = config;
  return {
    config,
    messages: config.messages,
    backend: c.string("general.backend") as Settings["backend"],
    output: c.string("general.output") as OutputFormat,
    color: c.string("general.color") as Settings["color"],
    paths: {
      stateDir: c.string("paths.state_dir"),
      pidFile: c.string("paths.pid_file"),
      logFile: c.string("paths.log_file"),
      servicesFile: c.string("paths.services_file"),
    },
    timeouts: {
      stopMs: c.integer("timeouts.stop_ms"),
      startGraceMs: c.integer("timeouts.start_grace_ms"),
      lockMs: c.integer("timeouts.lock_ms"),
      commandMs: c.integer("timeouts.command_ms"),
    },
    service: {
      stopSignal: c.string("service.stop_signal") as SignalName,
      restart: c.string("service.restart") as RestartPolicy,
      backoff: {
        delayMs: c.integer("service.restart_delay_ms"),
        maxDelayMs: c.integer("service.restart_max_delay_ms"),
        max: c.integer("service.restart_max"),
        windowMs: c.integer("service.restart_window_ms"),
        minUptimeMs: c.integer("service.min_uptime_ms"),
      },
    },
    logLines: c.integer("logs.lines"),
    logRotation: { maxBytes: c.integer("logs.max_bytes"), keep: c.integer("logs.keep") },
    systemd: {
      scope: c.string("systemd.scope") as Settings["systemd"]["scope"],
      systemUnitDir: c.string("systemd.system_unit_dir"),
      failureJournalLines: c.integer("systemd.failure_journal_lines"),
    },
    launchd: {
      domain: c.string("launchd.domain") as Settings["launchd"]["domain"],
      labelPrefix: c.string("launchd.label_prefix"),
      logFile: c.string("launchd.log_file"),
      systemLogFile: c.string("launchd.system_log_file"),
    },
  };
}
