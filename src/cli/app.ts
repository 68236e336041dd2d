/**
 * The command tree. Command implementations are loaded lazily (`loader`), so
 * `provctl status` never pays for SSH or HTTP modules it does not use.
 */
import { buildApplication, buildCommand, buildRouteMap } from "@stricli/core";
import type { ProvctlContext } from "./context.ts";
import { globalAliases, type GlobalFlags, globalFlagSpecs } from "./global_flags.ts";
import { fleetAliases, type FleetFlags, fleetFlagSpecs } from "./fleet_flags.ts";
import { brief } from "./help_text.ts";
import { applicationText } from "./stricli_text.ts";
import { VERSION } from "../version.ts";
import type { StartFlags } from "./commands/start.ts";
import type { LogsFlags } from "./commands/logs.ts";
import type { RestartFlags } from "./commands/restart.ts";
import type { AuditFlags, MetricsFlags } from "./commands/observe.ts";
import type { HealthFlags } from "./commands/health.ts";
import type { DeployFlags, RollbackFlags } from "./commands/deploy.ts";

const names = (placeholder: string, minimum = 0) => ({
  kind: "array" as const,
  parameter: {
    get brief() {
      return brief("arg_names");
    },
    parse: String,
    placeholder,
  },
  minimum,
});

const start = buildCommand<StartFlags, string[], ProvctlContext>({
  loader: async () => (await import("./commands/start.ts")).default,
  parameters: {
    flags: {
      ...globalFlagSpecs,
      ...fleetFlagSpecs,
      binary: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "PATH",
        get brief() {
          return brief("flag_binary");
        },
      },
      arg: {
        kind: "parsed",
        parse: String,
        optional: true,
        variadic: true,
        placeholder: "ARG",
        get brief() {
          return brief("flag_arg");
        },
      },
      env: {
        kind: "parsed",
        parse: String,
        optional: true,
        variadic: true,
        placeholder: "K=V",
        get brief() {
          return brief("flag_env");
        },
      },
      envFile: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "FILE",
        get brief() {
          return brief("flag_env_file");
        },
      },
      workdir: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "DIR",
        get brief() {
          return brief("flag_workdir");
        },
      },
      runAs: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "USER",
        get brief() {
          return brief("flag_run_as");
        },
      },
      stopSignal: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "SIG",
        get brief() {
          return brief("flag_stop_signal");
        },
      },
      stopTimeout: {
        kind: "parsed",
        parse: parseMs,
        optional: true,
        placeholder: "MS",
        get brief() {
          return brief("flag_stop_timeout");
        },
      },
      restart: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "POLICY",
        get brief() {
          return brief("flag_restart");
        },
      },
      description: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "TEXT",
        get brief() {
          return brief("flag_description");
        },
      },
    },
    aliases: { ...globalAliases, ...fleetAliases, e: "env", w: "workdir" },
    positional: {
      kind: "array",
      parameter: {
        get brief() {
          return brief("arg_start");
        },
        parse: String,
        placeholder: "NAME [-- CMD ARGS...]",
      },
      minimum: 1,
    },
  },
  docs: {
    get brief() {
      return brief("cmd_start");
    },
    get fullDescription() {
      return brief("cmd_start_full");
    },
  },
});

const simple = (load: () => Promise<unknown>, docKey: string, minimum = 1) =>
  buildCommand<GlobalFlags, string[], ProvctlContext>({
    // deno-lint-ignore no-explicit-any
    loader: load as any,
    parameters: {
      flags: globalFlagSpecs,
      aliases: globalAliases,
      positional: names("NAME", minimum),
    },
    docs: {
      get brief() {
        return brief(docKey);
      },
    },
  });

/** A service verb that also works across machines selected from the inventory. */
const fleetVerb = (load: () => Promise<unknown>, docKey: string, minimum = 1) =>
  buildCommand<GlobalFlags & FleetFlags, string[], ProvctlContext>({
    // deno-lint-ignore no-explicit-any
    loader: load as any,
    parameters: {
      flags: { ...globalFlagSpecs, ...fleetFlagSpecs },
      aliases: { ...globalAliases, ...fleetAliases },
      positional: names("NAME", minimum),
    },
    docs: {
      get brief() {
        return brief(docKey);
      },
    },
  });

const stop = fleetVerb(async () => (await import("./commands/stop.ts")).default, "cmd_stop");
const restart = buildCommand<RestartFlags, string[], ProvctlContext>({
  loader: async () => (await import("./commands/restart.ts")).default,
  parameters: {
    flags: {
      ...globalFlagSpecs,
      ...fleetFlagSpecs,
      batch: {
        kind: "parsed",
        parse: parseCount,
        optional: true,
        placeholder: "N",
        get brief() {
          return brief("flag_batch");
        },
      },
    },
    aliases: { ...globalAliases, ...fleetAliases },
    positional: names("NAME", 1),
  },
  docs: {
    get brief() {
      return brief("cmd_restart");
    },
  },
});
const enable = simple(async () => (await import("./commands/boot.ts")).enable, "cmd_enable");
const disable = simple(async () => (await import("./commands/boot.ts")).disable, "cmd_disable");
const uninstall = simple(
  async () => (await import("./commands/boot.ts")).uninstall,
  "cmd_uninstall",
);
const status = fleetVerb(
  async () => (await import("./commands/status.ts")).default,
  "cmd_status",
  0,
);

const logs = buildCommand<LogsFlags, [string], ProvctlContext>({
  loader: async () => (await import("./commands/logs.ts")).default,
  parameters: {
    flags: {
      ...globalFlagSpecs,
      lines: {
        kind: "parsed",
        parse: parseCount,
        optional: true,
        placeholder: "N",
        get brief() {
          return brief("flag_lines");
        },
      },
      follow: {
        kind: "boolean",
        optional: true,
        withNegated: false,
        get brief() {
          return brief("flag_follow");
        },
      },
    },
    // -f is --follow here, as in kubectl logs and tail; the services file is --file.
    aliases: { o: "output", v: "verbose", q: "quiet", n: "lines", f: "follow" },
    positional: {
      kind: "tuple",
      parameters: [{
        get brief() {
          return brief("arg_name");
        },
        parse: String,
        placeholder: "NAME",
      }],
    },
  },
  docs: {
    get brief() {
      return brief("cmd_logs");
    },
  },
});

const noArgs = (load: () => Promise<unknown>, docKey: string) =>
  buildCommand<GlobalFlags, [], ProvctlContext>({
    // deno-lint-ignore no-explicit-any
    loader: load as any,
    parameters: { flags: globalFlagSpecs, aliases: globalAliases },
    docs: {
      get brief() {
        return brief(docKey);
      },
    },
  });

const config = buildRouteMap({
  routes: {
    show: noArgs(async () => (await import("./commands/config.ts")).show, "cmd_config_show"),
    path: noArgs(async () => (await import("./commands/config.ts")).path, "cmd_config_path"),
  },
  docs: {
    get brief() {
      return brief("cmd_config");
    },
  },
});

const version = noArgs(async () => (await import("./commands/version.ts")).default, "cmd_version");
const doctor = noArgs(async () => (await import("./commands/doctor.ts")).default, "cmd_doctor");

const completion = buildCommand<GlobalFlags, ["bash" | "zsh" | "fish"], ProvctlContext>({
  loader: async () => (await import("./commands/completion.ts")).default,
  parameters: {
    flags: globalFlagSpecs,
    aliases: globalAliases,
    positional: {
      kind: "tuple",
      parameters: [{
        get brief() {
          return brief("arg_shell");
        },
        placeholder: "SHELL",
        parse: (s: string) => {
          if (s === "bash" || s === "zsh" || s === "fish") return s;
          throw new Error(brief("shell_invalid"));
        },
      }],
    },
  },
  docs: {
    get brief() {
      return brief("cmd_completion");
    },
  },
});

// Remote commands (SSH): exec, hostkey, hosts.
export interface ExecFlags extends GlobalFlags, FleetFlags {
  readonly shell?: string;
  readonly stream?: boolean;
  readonly timeout?: number;
}

const exec = buildCommand<ExecFlags, string[], ProvctlContext>({
  loader: async () => (await import("./commands/exec.ts")).default,
  parameters: {
    flags: {
      ...globalFlagSpecs,
      ...fleetFlagSpecs,
      stream: {
        kind: "boolean",
        optional: true,
        withNegated: false,
        get brief() {
          return brief("flag_stream");
        },
      },
      timeout: {
        kind: "parsed",
        parse: parseMs,
        optional: true,
        placeholder: "MS",
        get brief() {
          return brief("flag_exec_timeout");
        },
      },
      shell: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "SCRIPT",
        get brief() {
          return brief("flag_shell");
        },
      },
    },
    aliases: { ...globalAliases, ...fleetAliases },
    positional: {
      kind: "array",
      parameter: {
        get brief() {
          return brief("arg_command");
        },
        parse: String,
        placeholder: "-- CMD ARGS",
      },
    },
  },
  docs: {
    get brief() {
      return brief("cmd_exec");
    },
  },
});

const hostArg = (load: () => Promise<unknown>, docKey: string) =>
  buildCommand<GlobalFlags, [string], ProvctlContext>({
    // deno-lint-ignore no-explicit-any
    loader: load as any,
    parameters: {
      flags: globalFlagSpecs,
      aliases: globalAliases,
      positional: {
        kind: "tuple",
        parameters: [{
          get brief() {
            return brief("arg_host");
          },
          parse: String,
          placeholder: "HOST",
        }],
      },
    },
    docs: {
      get brief() {
        return brief(docKey);
      },
    },
  });

const health = buildCommand<HealthFlags, string[], ProvctlContext>({
  loader: async () => (await import("./commands/health.ts")).default,
  parameters: {
    flags: {
      ...globalFlagSpecs,
      ...fleetFlagSpecs,
      http: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "URL",
        get brief() {
          return brief("flag_http");
        },
      },
      tcp: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "HOST:PORT",
        get brief() {
          return brief("flag_tcp");
        },
      },
      from: {
        kind: "enum",
        values: ["controller", "remote"],
        optional: true,
        get brief() {
          return brief("flag_from");
        },
      },
      expect: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "200-399",
        get brief() {
          return brief("flag_expect");
        },
      },
      body: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "TEXT",
        get brief() {
          return brief("flag_body");
        },
      },
      insecure: {
        kind: "boolean",
        optional: true,
        withNegated: false,
        get brief() {
          return brief("flag_insecure");
        },
      },
      watch: {
        kind: "boolean",
        optional: true,
        withNegated: false,
        get brief() {
          return brief("flag_watch");
        },
      },
      interval: {
        kind: "parsed",
        parse: parseMs,
        optional: true,
        placeholder: "MS",
        get brief() {
          return brief("flag_interval");
        },
      },
      timeout: {
        kind: "parsed",
        parse: parseMs,
        optional: true,
        placeholder: "MS",
        get brief() {
          return brief("flag_check_timeout");
        },
      },
    },
    aliases: { ...globalAliases, ...fleetAliases },
    positional: names("MACHINE [-- CMD ARGS]", 0),
  },
  docs: {
    get brief() {
      return brief("cmd_health");
    },
  },
});

const audit = buildCommand<AuditFlags, [], ProvctlContext>({
  loader: async () => (await import("./commands/observe.ts")).audit,
  parameters: {
    flags: {
      ...globalFlagSpecs,
      since: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "1h|DATE",
        get brief() {
          return brief("flag_since");
        },
      },
      machine: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "NAME|GLOB",
        get brief() {
          return brief("flag_audit_machine");
        },
      },
      op: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "OP",
        get brief() {
          return brief("flag_op");
        },
      },
      limit: {
        kind: "parsed",
        parse: parseCount,
        optional: true,
        placeholder: "N",
        get brief() {
          return brief("flag_audit_limit");
        },
      },
    },
    aliases: globalAliases,
  },
  docs: {
    get brief() {
      return brief("cmd_audit");
    },
  },
});

const metrics = buildCommand<MetricsFlags & GlobalFlags, [], ProvctlContext>({
  loader: async () => (await import("./commands/observe.ts")).metrics,
  parameters: {
    flags: {
      ...globalFlagSpecs,
      output: {
        kind: "enum",
        values: ["text", "json", "prom"],
        optional: true,
        get brief() {
          return brief("flag_metrics_output");
        },
      },
      reset: {
        kind: "boolean",
        optional: true,
        withNegated: false,
        get brief() {
          return brief("flag_metrics_reset");
        },
      },
      // deno-lint-ignore no-explicit-any
    } as any,
    aliases: globalAliases,
  },
  docs: {
    get brief() {
      return brief("cmd_metrics");
    },
  },
});

const deploymentName = {
  kind: "tuple" as const,
  parameters: [{
    get brief() {
      return brief("arg_deployment");
    },
    parse: String,
    placeholder: "NAME",
  }] as [{ readonly brief: string; parse: StringConstructor; placeholder: string }],
};

const deploy = buildCommand<DeployFlags, [string], ProvctlContext>({
  loader: async () => (await import("./commands/deploy.ts")).deploy,
  parameters: {
    flags: {
      ...globalFlagSpecs,
      ...fleetFlagSpecs,
      dryRun: {
        kind: "boolean",
        optional: true,
        withNegated: false,
        get brief() {
          return brief("flag_dry_run");
        },
      },
      version: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "V",
        get brief() {
          return brief("flag_deploy_version");
        },
      },
    },
    aliases: { ...globalAliases, ...fleetAliases },
    positional: deploymentName,
  },
  docs: {
    get brief() {
      return brief("cmd_deploy");
    },
  },
});

const rollback = buildCommand<RollbackFlags, [string], ProvctlContext>({
  loader: async () => (await import("./commands/deploy.ts")).rollback,
  parameters: {
    flags: {
      ...globalFlagSpecs,
      ...fleetFlagSpecs,
      to: {
        kind: "parsed",
        parse: String,
        optional: true,
        placeholder: "VERSION",
        get brief() {
          return brief("flag_rollback_to");
        },
      },
    },
    aliases: { ...globalAliases, ...fleetAliases },
    positional: deploymentName,
  },
  docs: {
    get brief() {
      return brief("cmd_rollback");
    },
  },
});

const machineCommand = (load: () => Promise<unknown>, docKey: string) =>
  buildCommand<GlobalFlags & FleetFlags, string[], ProvctlContext>({
    // deno-lint-ignore no-explicit-any
    loader: load as any,
    parameters: {
      flags: { ...globalFlagSpecs, ...fleetFlagSpecs },
      aliases: { ...globalAliases, ...fleetAliases },
      positional: names("MACHINE", 0),
    },
    docs: {
      get brief() {
        return brief(docKey);
      },
    },
  });

const machines = buildRouteMap({
  routes: {
    list: machineCommand(
      async () => (await import("./commands/machines.ts")).list,
      "cmd_machines_list",
    ),
    check: machineCommand(
      async () => (await import("./commands/machines.ts")).check,
      "cmd_machines_check",
    ),
  },
  docs: {
    get brief() {
      return brief("cmd_machines");
    },
  },
});

const hostkey = buildRouteMap({
  routes: {
    show: hostArg(async () => (await import("./commands/hostkey.ts")).show, "cmd_hostkey_show"),
    scan: hostArg(async () => (await import("./commands/hostkey.ts")).scan, "cmd_hostkey_scan"),
    trust: hostArg(async () => (await import("./commands/hostkey.ts")).trust, "cmd_hostkey_trust"),
  },
  docs: {
    get brief() {
      return brief("cmd_hostkey");
    },
  },
});

export interface BreakerFlags extends GlobalFlags {
  readonly reset?: string;
}

const hosts = buildRouteMap({
  routes: {
    breakers: buildCommand<BreakerFlags, [], ProvctlContext>({
      loader: async () => (await import("./commands/hosts.ts")).breakers,
      parameters: {
        flags: {
          ...globalFlagSpecs,
          reset: {
            kind: "parsed",
            parse: String,
            optional: true,
            placeholder: "HOST|all",
            get brief() {
              return brief("flag_reset");
            },
          },
        },
        aliases: globalAliases,
      },
      docs: {
        get brief() {
          return brief("cmd_hosts_breakers");
        },
      },
    }),
  },
  docs: {
    get brief() {
      return brief("cmd_hosts");
    },
  },
});

const complete = buildCommand<Record<string, never>, string[], ProvctlContext>({
  loader: async () => (await import("./commands/complete.ts")).default,
  parameters: {
    flags: {},
    positional: {
      kind: "array",
      parameter: {
        get brief() {
          return brief("arg_names");
        },
        parse: String,
      },
    },
  },
  docs: {
    get brief() {
      return brief("cmd_completion");
    },
  },
});

export const routes = buildRouteMap({
  routes: {
    start,
    stop,
    restart,
    status,
    logs,
    enable,
    disable,
    uninstall,
    exec,
    machines,
    health,
    deploy,
    rollback,
    audit,
    metrics,
    hostkey,
    hosts,
    config,
    version,
    doctor,
    completion,
    __complete: complete,
  },
  docs: {
    get brief() {
      return brief("app");
    },
    hideRoute: { __complete: true },
  },
});

export const app = buildApplication(routes, {
  name: "provctl",
  versionInfo: { currentVersion: VERSION },
  scanner: { caseStyle: "allow-kebab-for-camel", allowArgumentEscapeSequence: true },
  documentation: {
    caseStyle: "convert-camel-to-kebab",
    useAliasInUsageLine: true,
    // Usage lines show what a command needs; its --help lists every flag.
    onlyRequiredInUsageLine: true,
    disableAnsiColor: false,
  },
  localization: { loadText: () => applicationText() },
});

function parseMs(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new Error(brief("ms_invalid"));
  return n;
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new Error(brief("count_invalid"));
  return n;
}
