/**
 * The command tree. Command implementations are loaded lazily (`loader`), so
 * `provctl status` never pays for SSH or HTTP modules it does not use.
 */
import { buildApplication, buildCommand, buildRouteMap } from "@stricli/core";
import { docs, switchFlag, valueFlag } from "./_flag_specs.ts";
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
import type { TokenCreateFlags } from "./commands/token.ts";
import type { ServeFlags } from "./commands/serve.ts";

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
      binary: valueFlag("flag_binary", "PATH"),
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
      envFile: valueFlag("flag_env_file", "FILE"),
      workdir: valueFlag("flag_workdir", "DIR"),
      runAs: valueFlag("flag_run_as", "USER"),
      stopSignal: valueFlag("flag_stop_signal", "SIG"),
      stopTimeout: valueFlag("flag_stop_timeout", "MS", parseMs),
      restart: valueFlag("flag_restart", "POLICY"),
      description: valueFlag("flag_description", "TEXT"),
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
    docs: docs(docKey),
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
    docs: docs(docKey),
  });

const stop = fleetVerb(async () => (await import("./commands/stop.ts")).default, "cmd_stop");
const restart = buildCommand<RestartFlags, string[], ProvctlContext>({
  loader: async () => (await import("./commands/restart.ts")).default,
  parameters: {
    flags: {
      ...globalFlagSpecs,
      ...fleetFlagSpecs,
      batch: valueFlag("flag_batch", "N", parseCount),
    },
    aliases: { ...globalAliases, ...fleetAliases },
    positional: names("NAME", 1),
  },
  docs: docs("cmd_restart"),
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
      lines: valueFlag("flag_lines", "N", parseCount),
      follow: switchFlag("flag_follow"),
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
  docs: docs("cmd_logs"),
});

const noArgs = (load: () => Promise<unknown>, docKey: string) =>
  buildCommand<GlobalFlags, [], ProvctlContext>({
    // deno-lint-ignore no-explicit-any
    loader: load as any,
    parameters: { flags: globalFlagSpecs, aliases: globalAliases },
    docs: docs(docKey),
  });

const config = buildRouteMap({
  routes: {
    show: noArgs(async () => (await import("./commands/config.ts")).show, "cmd_config_show"),
    path: noArgs(async () => (await import("./commands/config.ts")).path, "cmd_config_path"),
  },
  docs: docs("cmd_config"),
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
  docs: docs("cmd_completion"),
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
      stream: switchFlag("flag_stream"),
      timeout: valueFlag("flag_exec_timeout", "MS", parseMs),
      shell: valueFlag("flag_shell", "SCRIPT"),
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
  docs: docs("cmd_exec"),
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
    docs: docs(docKey),
  });

const health = buildCommand<HealthFlags, string[], ProvctlContext>({
  loader: async () => (await import("./commands/health.ts")).default,
  parameters: {
    flags: {
      ...globalFlagSpecs,
      ...fleetFlagSpecs,
      http: valueFlag("flag_http", "URL"),
      tcp: valueFlag("flag_tcp", "HOST:PORT"),
      from: {
        kind: "enum",
        values: ["controller", "remote"],
        optional: true,
        get brief() {
          return brief("flag_from");
        },
      },
      expect: valueFlag("flag_expect", "200-399"),
      body: valueFlag("flag_body", "TEXT"),
      insecure: switchFlag("flag_insecure"),
      watch: switchFlag("flag_watch"),
      interval: valueFlag("flag_interval", "MS", parseMs),
      timeout: valueFlag("flag_check_timeout", "MS", parseMs),
    },
    aliases: { ...globalAliases, ...fleetAliases },
    positional: names("MACHINE [-- CMD ARGS]", 0),
  },
  docs: docs("cmd_health"),
});

const audit = buildCommand<AuditFlags, [], ProvctlContext>({
  loader: async () => (await import("./commands/observe.ts")).audit,
  parameters: {
    flags: {
      ...globalFlagSpecs,
      since: valueFlag("flag_since", "1h|DATE"),
      machine: valueFlag("flag_audit_machine", "NAME|GLOB"),
      op: valueFlag("flag_op", "OP"),
      limit: valueFlag("flag_audit_limit", "N", parseCount),
    },
    aliases: globalAliases,
  },
  docs: docs("cmd_audit"),
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
      reset: switchFlag("flag_metrics_reset"),
      // deno-lint-ignore no-explicit-any
    } as any,
    aliases: globalAliases,
  },
  docs: docs("cmd_metrics"),
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
      dryRun: switchFlag("flag_dry_run"),
      version: valueFlag("flag_deploy_version", "V"),
    },
    aliases: { ...globalAliases, ...fleetAliases },
    positional: deploymentName,
  },
  docs: docs("cmd_deploy"),
});

const rollback = buildCommand<RollbackFlags, [string], ProvctlContext>({
  loader: async () => (await import("./commands/deploy.ts")).rollback,
  parameters: {
    flags: {
      ...globalFlagSpecs,
      ...fleetFlagSpecs,
      to: valueFlag("flag_rollback_to", "VERSION"),
    },
    aliases: { ...globalAliases, ...fleetAliases },
    positional: deploymentName,
  },
  docs: docs("cmd_rollback"),
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
    docs: docs(docKey),
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
  docs: docs("cmd_machines"),
});

const hostkey = buildRouteMap({
  routes: {
    show: hostArg(async () => (await import("./commands/hostkey.ts")).show, "cmd_hostkey_show"),
    scan: hostArg(async () => (await import("./commands/hostkey.ts")).scan, "cmd_hostkey_scan"),
    trust: hostArg(async () => (await import("./commands/hostkey.ts")).trust, "cmd_hostkey_trust"),
  },
  docs: docs("cmd_hostkey"),
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
          reset: valueFlag("flag_reset", "HOST|all"),
        },
        aliases: globalAliases,
      },
      docs: docs("cmd_hosts_breakers"),
    }),
  },
  docs: docs("cmd_hosts"),
});

const tokenName = {
  kind: "tuple" as const,
  parameters: [{
    get brief() {
      return brief("arg_token");
    },
    parse: String,
    placeholder: "NAME",
  }] as [{ readonly brief: string; parse: StringConstructor; placeholder: string }],
};

const token = buildRouteMap({
  routes: {
    create: buildCommand<TokenCreateFlags, [string], ProvctlContext>({
      loader: async () => (await import("./commands/token.ts")).create,
      parameters: {
        flags: {
          ...globalFlagSpecs,
          scope: valueFlag("flag_scope", "read|operate|admin"),
          expires: valueFlag("flag_expires", "30d"),
        },
        aliases: globalAliases,
        positional: tokenName,
      },
      docs: docs("cmd_token_create"),
    }),
    list: noArgs(async () => (await import("./commands/token.ts")).list, "cmd_token_list"),
    revoke: buildCommand<GlobalFlags, [string], ProvctlContext>({
      loader: async () => (await import("./commands/token.ts")).revoke,
      parameters: { flags: globalFlagSpecs, aliases: globalAliases, positional: tokenName },
      docs: docs("cmd_token_revoke"),
    }),
  },
  docs: docs("cmd_token"),
});

const state = buildRouteMap({
  routes: {
    status: noArgs(async () => (await import("./commands/state.ts")).status, "cmd_state_status"),
    migrate: noArgs(
      async () => (await import("./commands/state.ts")).migrate,
      "cmd_state_migrate",
    ),
  },
  docs: docs("cmd_state"),
});

const serve = buildCommand<ServeFlags, [], ProvctlContext>({
  loader: async () => (await import("./commands/serve.ts")).default,
  parameters: {
    flags: {
      ...globalFlagSpecs,
      inventory: fleetFlagSpecs.inventory,
      forks: fleetFlagSpecs.forks,
      listen: valueFlag("flag_listen", "ADDR:PORT"),
      tlsCert: valueFlag("flag_tls_cert", "FILE"),
      tlsKey: valueFlag("flag_tls_key", "FILE"),
      insecureHttp: switchFlag("flag_insecure_http"),
    },
    aliases: globalAliases,
  },
  docs: docs("cmd_serve"),
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
  docs: docs("cmd_completion"),
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
    serve,
    token,
    state,
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
