/**
 * The command tree. Command implementations are loaded lazily (`loader`), so
 * `provctl status` never pays for SSH or HTTP modules it does not use; and only the
 * invoked command's route is built (`appFor`), while help and completion see the whole
 * tree.
 *
 * Each command spreads exactly the flag groups it uses (global_flags.ts, fleet_flags.ts),
 * so no command accepts a flag it would ignore.
 */
import { buildApplication, buildCommand, buildRouteMap, type Command } from "@stricli/core";
import { docs, switchFlag, valueFlag } from "./_flag_specs.ts";
import type { ProvctlContext } from "./context.ts";
import {
  baseAliases,
  type BaseFlags,
  baseFlagSpecs,
  connectAliases,
  type ConnectFlags,
  connectFlagSpecs,
  type ForceFlags,
  forceFlagSpecs,
  type HostFlags,
  hostFlagSpecs,
  type JumpFlags,
  jumpFlagSpecs,
  type ServiceFlags,
  serviceFlagSpecs,
} from "./global_flags.ts";
import {
  fleetAliases,
  type RunFlags,
  runFlagSpecs,
  type SelectFlags,
  selectFlagSpecs,
} from "./fleet_flags.ts";
import { brief } from "./help_text.ts";
import { applicationText } from "./stricli_text.ts";
import { MAX_ARGUMENTS } from "./fast_path.ts";
import { ExitCode } from "../core/errors.ts";

const names = (placeholder: string, minimum = 0, briefKey = "arg_names") => ({
  kind: "array" as const,
  parameter: {
    get brief() {
      return brief(briefKey);
    },
    parse: String,
    placeholder,
  },
  minimum,
  maximum: MAX_ARGUMENTS,
});

const usageLines = (usageKey: string) => brief(usageKey).split("\n");

/** Documentation with usage lines written out where Stricli's generated ones mislead. */
const usageDocs = (briefKey: string, usageKey: string) => ({
  get brief() {
    return brief(briefKey);
  },
  get customUsage() {
    return usageLines(usageKey);
  },
});

/** The same usage lines in the list of commands of `provctl --help`. */
function withUsage(command: Command<ProvctlContext>, usageKey: string): Command<ProvctlContext> {
  return Object.assign(command, {
    formatUsageLine: (args: Parameters<Command<ProvctlContext>["formatUsageLine"]>[0]) =>
      usageLines(usageKey).map((usage) => `${args.prefix.join(" ")} ${usage}`).join("\n  "),
  });
}

// A service verb acts on this machine, one machine over SSH (--host), or machines of the
// inventory.
type VerbFlags = BaseFlags & ServiceFlags & HostFlags & ConnectFlags & SelectFlags & RunFlags;
const verbSpecs = {
  ...baseFlagSpecs,
  ...serviceFlagSpecs,
  ...hostFlagSpecs,
  ...connectFlagSpecs,
  ...selectFlagSpecs,
  ...runFlagSpecs,
};
const verbAliases = { ...baseAliases, ...connectAliases, ...fleetAliases };

// Commands that work on machines of the inventory (no --host).
type FleetCommandFlags = BaseFlags & ConnectFlags & SelectFlags & RunFlags;
const fleetSpecs = {
  ...baseFlagSpecs,
  ...connectFlagSpecs,
  ...selectFlagSpecs,
  ...runFlagSpecs,
};
const fleetCommandAliases = { ...baseAliases, ...connectAliases, ...fleetAliases };

// One service on this machine or one machine over SSH (no inventory).
type OneHostFlags = BaseFlags & ServiceFlags & HostFlags & ConnectFlags;
const oneHostSpecs = {
  ...baseFlagSpecs,
  ...serviceFlagSpecs,
  ...hostFlagSpecs,
  ...connectFlagSpecs,
};
const oneHostAliases = { ...baseAliases, ...connectAliases };

const parseCount = (value: string): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new Error(brief("count_invalid"));
  return n;
};
const parsePositive = (value: string): number => {
  const n = parseCount(value);
  if (n < 1) throw new Error(brief("count_positive_invalid"));
  return n;
};
const parseMs = (value: string): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new Error(brief("ms_invalid"));
  return n;
};

const repeatable = (briefKey: string, placeholder: string) => ({
  kind: "parsed" as const,
  parse: String,
  optional: true as const,
  variadic: true as const,
  placeholder,
  get brief() {
    return brief(briefKey);
  },
});

const start = () =>
  buildCommand<
    VerbFlags & ForceFlags & {
      binary?: string;
      arg?: string[];
      env?: string[];
      envFile?: string;
      workdir?: string;
      runAs?: string;
      stopSignal?: string;
      stopTimeout?: number;
      restart?: string;
      description?: string;
    },
    string[],
    ProvctlContext
  >({
    loader: async () => (await import("./commands/start.ts")).default,
    parameters: {
      flags: {
        ...verbSpecs,
        ...forceFlagSpecs,
        binary: valueFlag("flag_binary", "PATH"),
        arg: repeatable("flag_arg", "ARG"),
        env: repeatable("flag_env", "K=V"),
        envFile: valueFlag("flag_env_file", "FILE"),
        workdir: valueFlag("flag_workdir", "DIR"),
        runAs: valueFlag("flag_run_as", "USER"),
        stopSignal: valueFlag("flag_stop_signal", "SIG"),
        stopTimeout: valueFlag("flag_stop_timeout", "MS", parseMs),
        restart: valueFlag("flag_restart", "POLICY"),
        description: valueFlag("flag_description", "TEXT"),
      },
      aliases: { ...verbAliases, e: "env", w: "workdir" },
      positional: names("NAME [-- CMD ARGS...]", 1, "arg_start"),
    },
    docs: {
      ...usageDocs("cmd_start", "usage_start"),
      get fullDescription() {
        return brief("cmd_start_full");
      },
    },
  });

/** A service verb that also works across machines selected from the inventory. */
const verb = (load: () => Promise<unknown>, docKey: string) =>
  buildCommand<VerbFlags, string[], ProvctlContext>({
    // deno-lint-ignore no-explicit-any
    loader: load as any,
    parameters: { flags: verbSpecs, aliases: verbAliases, positional: names("NAME", 1) },
    docs: docs(docKey),
  });

const restart = () =>
  buildCommand<VerbFlags & ForceFlags & { batch?: number }, string[], ProvctlContext>({
    loader: async () => (await import("./commands/restart.ts")).default,
    parameters: {
      flags: {
        ...verbSpecs,
        ...forceFlagSpecs,
        batch: valueFlag("flag_batch", "N", parsePositive),
      },
      aliases: verbAliases,
      positional: names("NAME", 1),
    },
    docs: docs("cmd_restart"),
  });

const status = () =>
  buildCommand<VerbFlags, string[], ProvctlContext>({
    loader: async () => (await import("./commands/status.ts")).default,
    parameters: { flags: verbSpecs, aliases: verbAliases, positional: names("NAME", 0) },
    docs: usageDocs("cmd_status", "usage_status"),
  });

/** enable and uninstall (which write or remove units and plists) on this machine or over SSH. */
const boot = (load: () => Promise<unknown>, docKey: string) =>
  buildCommand<OneHostFlags & ForceFlags, string[], ProvctlContext>({
    // deno-lint-ignore no-explicit-any
    loader: load as any,
    parameters: {
      flags: { ...oneHostSpecs, ...forceFlagSpecs },
      aliases: oneHostAliases,
      positional: names("NAME", 1),
    },
    docs: docs(docKey),
  });

const disable = () =>
  buildCommand<OneHostFlags, string[], ProvctlContext>({
    loader: async () => (await import("./commands/boot.ts")).disable,
    parameters: { flags: oneHostSpecs, aliases: oneHostAliases, positional: names("NAME", 1) },
    docs: docs("cmd_disable"),
  });

const logs = () =>
  buildCommand<OneHostFlags & { lines?: number; follow?: boolean }, [string], ProvctlContext>({
    loader: async () => (await import("./commands/logs.ts")).default,
    parameters: {
      flags: {
        ...oneHostSpecs,
        lines: valueFlag("flag_lines", "N", parseCount),
        follow: switchFlag("flag_follow"),
      },
      aliases: { ...oneHostAliases, n: "lines", f: "follow" },
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

const baseOnly = (load: () => Promise<unknown>, docKey: string) =>
  buildCommand<BaseFlags, [], ProvctlContext>({
    // deno-lint-ignore no-explicit-any
    loader: load as any,
    parameters: { flags: baseFlagSpecs, aliases: baseAliases },
    docs: docs(docKey),
  });

const config = () =>
  buildRouteMap({
    routes: {
      show: baseOnly(async () => (await import("./commands/config.ts")).show, "cmd_config_show"),
      path: baseOnly(async () => (await import("./commands/config.ts")).path, "cmd_config_path"),
    },
    docs: docs("cmd_config"),
  });

const version = () =>
  baseOnly(async () => (await import("./commands/version.ts")).default, "cmd_version");

const doctor = () =>
  buildCommand<OneHostFlags, [], ProvctlContext>({
    loader: async () => (await import("./commands/doctor.ts")).default,
    parameters: { flags: oneHostSpecs, aliases: oneHostAliases },
    docs: docs("cmd_doctor"),
  });

const completion = () =>
  buildCommand<BaseFlags, ["bash" | "zsh" | "fish"], ProvctlContext>({
    loader: async () => (await import("./commands/completion.ts")).default,
    parameters: {
      flags: baseFlagSpecs,
      aliases: baseAliases,
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

const exec = () =>
  buildCommand<
    BaseFlags & HostFlags & ConnectFlags & SelectFlags & RunFlags & {
      shell?: string;
      stream?: boolean;
      timeout?: number;
    },
    string[],
    ProvctlContext
  >({
    loader: async () => (await import("./commands/exec.ts")).default,
    parameters: {
      flags: {
        ...baseFlagSpecs,
        ...hostFlagSpecs,
        ...connectFlagSpecs,
        ...selectFlagSpecs,
        ...runFlagSpecs,
        stream: switchFlag("flag_stream"),
        timeout: valueFlag("flag_exec_timeout", "MS", parseMs),
        shell: valueFlag("flag_shell", "SCRIPT"),
      },
      aliases: verbAliases,
      positional: names("[MACHINE...] -- CMD ARGS", 0, "arg_command"),
    },
    docs: usageDocs("cmd_exec", "usage_exec"),
  });

/** hostkey show|scan|trust HOST */
const hostArg = (load: () => Promise<unknown>, docKey: string) =>
  buildCommand<BaseFlags & ConnectFlags & JumpFlags, [string], ProvctlContext>({
    // deno-lint-ignore no-explicit-any
    loader: load as any,
    parameters: {
      flags: { ...baseFlagSpecs, ...connectFlagSpecs, ...jumpFlagSpecs },
      aliases: { ...baseAliases, ...connectAliases },
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

const health = () =>
  buildCommand<
    FleetCommandFlags & {
      http?: string;
      tcp?: string;
      from?: "controller" | "remote";
      expect?: string;
      body?: string;
      insecure?: boolean;
      watch?: boolean;
      interval?: number;
      timeout?: number;
    },
    string[],
    ProvctlContext
  >({
    loader: async () => (await import("./commands/health.ts")).default,
    parameters: {
      flags: {
        ...fleetSpecs,
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
      aliases: fleetCommandAliases,
      positional: names("MACHINE [-- CMD ARGS]", 0),
    },
    docs: usageDocs("cmd_health", "usage_health"),
  });

const audit = () =>
  buildCommand<
    BaseFlags & { since?: string; machine?: string[]; op?: string; lines?: number },
    [],
    ProvctlContext
  >({
    loader: async () => (await import("./commands/observe.ts")).audit,
    parameters: {
      flags: {
        ...baseFlagSpecs,
        since: valueFlag("flag_since", "1h|DATE"),
        machine: repeatable("flag_audit_machine", "NAME|GLOB"),
        op: valueFlag("flag_op", "OP"),
        lines: valueFlag("flag_audit_lines", "N", parseCount),
      },
      aliases: { ...baseAliases, m: "machine", n: "lines" },
    },
    docs: docs("cmd_audit"),
  });

const metrics = () =>
  buildCommand<
    Omit<BaseFlags, "output"> & { output?: "text" | "json" | "prom"; reset?: boolean },
    [],
    ProvctlContext
  >({
    // `-o prom` is metrics' own output format, beyond the session's text|json.
    // deno-lint-ignore no-explicit-any
    loader: (async () => (await import("./commands/observe.ts")).metrics) as any,
    parameters: {
      flags: {
        ...baseFlagSpecs,
        output: {
          kind: "enum",
          values: ["text", "json", "prom"],
          optional: true,
          get brief() {
            return brief("flag_metrics_output");
          },
        },
        reset: switchFlag("flag_metrics_reset"),
      },
      aliases: baseAliases,
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

// deploy and rollback restart services through their backends (--backend, --file).
type DeployCommandFlags = FleetCommandFlags & ServiceFlags & ForceFlags;
const deploySpecs = { ...fleetSpecs, ...serviceFlagSpecs, ...forceFlagSpecs };

const deployRun = () =>
  buildCommand<
    DeployCommandFlags & { dryRun?: boolean; version?: string },
    [string],
    ProvctlContext
  >({
    loader: async () => (await import("./commands/deploy.ts")).deploy,
    parameters: {
      flags: {
        ...deploySpecs,
        dryRun: switchFlag("flag_dry_run"),
        version: valueFlag("flag_deploy_version", "V"),
      },
      aliases: fleetCommandAliases,
      positional: deploymentName,
    },
    docs: docs("cmd_deploy"),
  });

// `provctl deploy NAME` runs a deployment (the default command); `deploy unlock NAME`
// breaks the machine locks a gone controller left.
const deploy = () =>
  buildRouteMap({
    routes: {
      run: deployRun(),
      unlock: buildCommand<
        FleetCommandFlags & Pick<ServiceFlags, "file"> & { yes?: boolean },
        [string],
        ProvctlContext
      >({
        loader: async () => (await import("./commands/deploy.ts")).unlock,
        parameters: {
          flags: { ...fleetSpecs, file: serviceFlagSpecs.file, yes: switchFlag("flag_yes") },
          aliases: fleetCommandAliases,
          positional: deploymentName,
        },
        docs: docs("cmd_deploy_unlock"),
      }),
    },
    defaultCommand: "run",
    docs: docs("cmd_deploy_group"),
  });

const rollback = () =>
  buildCommand<DeployCommandFlags & { to?: string }, [string], ProvctlContext>({
    loader: async () => (await import("./commands/deploy.ts")).rollback,
    parameters: {
      flags: { ...deploySpecs, to: valueFlag("flag_rollback_to", "VERSION") },
      aliases: fleetCommandAliases,
      positional: deploymentName,
    },
    docs: docs("cmd_rollback"),
  });

const machines = () =>
  buildRouteMap({
    routes: {
      // Listing reads the inventory only; checking connects.
      list: buildCommand<BaseFlags & SelectFlags, string[], ProvctlContext>({
        loader: async () => (await import("./commands/machines.ts")).list,
        parameters: {
          flags: { ...baseFlagSpecs, ...selectFlagSpecs },
          aliases: { ...baseAliases, ...fleetAliases },
          positional: names("MACHINE", 0),
        },
        docs: docs("cmd_machines_list"),
      }),
      check: buildCommand<FleetCommandFlags, string[], ProvctlContext>({
        loader: async () => (await import("./commands/machines.ts")).check,
        parameters: {
          flags: fleetSpecs,
          aliases: fleetCommandAliases,
          positional: names("MACHINE", 0),
        },
        docs: docs("cmd_machines_check"),
      }),
      // Refetches sources (all, or those named); selection flags would mean nothing here.
      refresh: buildCommand<
        BaseFlags & Pick<SelectFlags, "inventory" | "noCache">,
        string[],
        ProvctlContext
      >({
        loader: async () => (await import("./commands/machines.ts")).refresh,
        parameters: {
          flags: {
            ...baseFlagSpecs,
            inventory: selectFlagSpecs.inventory,
            noCache: selectFlagSpecs.noCache,
          },
          aliases: baseAliases,
          positional: names("SOURCE", 0, "arg_source"),
        },
        docs: docs("cmd_machines_refresh"),
      }),
    },
    docs: docs("cmd_machines"),
  });

const discover = () =>
  buildCommand<BaseFlags & { inventory?: string; dryRun?: boolean }, [string], ProvctlContext>({
    loader: async () => (await import("./commands/discover.ts")).default,
    parameters: {
      flags: {
        ...baseFlagSpecs,
        inventory: selectFlagSpecs.inventory,
        dryRun: switchFlag("flag_dry_run_discover"),
      },
      aliases: baseAliases,
      positional: {
        kind: "tuple",
        parameters: [{
          get brief() {
            return brief("arg_source_or_provider");
          },
          parse: String,
          placeholder: "SOURCE|PROVIDER",
        }],
      },
    },
    docs: docs("cmd_discover"),
  });

const hostkey = () =>
  buildRouteMap({
    routes: {
      show: hostArg(async () => (await import("./commands/hostkey.ts")).show, "cmd_hostkey_show"),
      scan: hostArg(async () => (await import("./commands/hostkey.ts")).scan, "cmd_hostkey_scan"),
      trust: hostArg(
        async () => (await import("./commands/hostkey.ts")).trust,
        "cmd_hostkey_trust",
      ),
    },
    docs: docs("cmd_hostkey"),
  });

const hosts = () =>
  buildRouteMap({
    routes: {
      connections: buildCommand<BaseFlags & { close?: boolean }, [], ProvctlContext>({
        loader: async () => (await import("./commands/hosts.ts")).connections,
        parameters: {
          flags: { ...baseFlagSpecs, close: switchFlag("flag_close") },
          aliases: baseAliases,
        },
        docs: docs("cmd_hosts_connections"),
      }),
      breakers: withUsage(
        buildCommand<BaseFlags & ConnectFlags & { reset?: boolean }, string[], ProvctlContext>({
          loader: async () => (await import("./commands/hosts.ts")).breakers,
          parameters: {
            flags: {
              ...baseFlagSpecs,
              ...connectFlagSpecs,
              reset: switchFlag("flag_reset"),
            },
            aliases: { ...baseAliases, ...connectAliases },
            positional: names("HOST", 0, "arg_breaker_hosts"),
          },
          docs: usageDocs("cmd_hosts_breakers", "usage_breakers"),
        }),
        "usage_breakers",
      ),
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

const token = () =>
  buildRouteMap({
    routes: {
      create: buildCommand<
        BaseFlags & { scope?: string; expires?: string },
        [string],
        ProvctlContext
      >({
        loader: async () => (await import("./commands/token.ts")).create,
        parameters: {
          flags: {
            ...baseFlagSpecs,
            scope: valueFlag("flag_scope", "read|operate|admin"),
            expires: valueFlag("flag_expires", "30d"),
          },
          aliases: baseAliases,
          positional: tokenName,
        },
        docs: docs("cmd_token_create"),
      }),
      list: baseOnly(async () => (await import("./commands/token.ts")).list, "cmd_token_list"),
      revoke: buildCommand<BaseFlags, [string], ProvctlContext>({
        loader: async () => (await import("./commands/token.ts")).revoke,
        parameters: { flags: baseFlagSpecs, aliases: baseAliases, positional: tokenName },
        docs: docs("cmd_token_revoke"),
      }),
    },
    docs: docs("cmd_token"),
  });

// Base flags only: the state backend comes from the configuration.
const state = () =>
  buildRouteMap({
    routes: {
      status: baseOnly(
        async () => (await import("./commands/state.ts")).status,
        "cmd_state_status",
      ),
      migrate: baseOnly(
        async () => (await import("./commands/state.ts")).migrate,
        "cmd_state_migrate",
      ),
    },
    docs: docs("cmd_state"),
  });

// The server acts on this machine's services (service flags) and on machines of the
// inventory (connect flags, --inventory, --forks).
const serve = () =>
  buildCommand<
    & BaseFlags
    & ServiceFlags
    & ConnectFlags
    & Pick<SelectFlags, "inventory">
    & Pick<
      RunFlags,
      "forks"
    >
    & { listen?: string; tlsCert?: string; tlsKey?: string; insecureHttp?: boolean },
    [],
    ProvctlContext
  >({
    loader: async () => (await import("./commands/serve.ts")).default,
    parameters: {
      flags: {
        ...baseFlagSpecs,
        ...serviceFlagSpecs,
        ...connectFlagSpecs,
        inventory: selectFlagSpecs.inventory,
        forks: runFlagSpecs.forks,
        listen: valueFlag("flag_listen", "ADDR:PORT"),
        tlsCert: valueFlag("flag_tls_cert", "FILE"),
        tlsKey: valueFlag("flag_tls_key", "FILE"),
        insecureHttp: switchFlag("flag_insecure_http"),
      },
      aliases: { ...baseAliases, ...connectAliases },
    },
    docs: docs("cmd_serve"),
  });

const complete = () =>
  buildCommand<Record<string, never>, string[], ProvctlContext>({
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

/** Every route, in help order; each is built only when the application needs it. */
const ROUTES = {
  start: () => withUsage(start(), "usage_start"),
  stop: () => verb(async () => (await import("./commands/stop.ts")).default, "cmd_stop"),
  restart,
  status: () => withUsage(status(), "usage_status"),
  logs,
  enable: () => boot(async () => (await import("./commands/boot.ts")).enable, "cmd_enable"),
  disable,
  uninstall: () =>
    boot(async () => (await import("./commands/boot.ts")).uninstall, "cmd_uninstall"),
  exec: () => withUsage(exec(), "usage_exec"),
  machines,
  discover,
  health: () => withUsage(health(), "usage_health"),
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
} as const;

type RouteName = keyof typeof ROUTES;

function application(only?: RouteName) {
  const names = only ? [only] : Object.keys(ROUTES) as RouteName[];
  const routes = Object.fromEntries(names.map((name) => [name, ROUTES[name]()]));
  return buildApplication(
    buildRouteMap({
      // deno-lint-ignore no-explicit-any
      routes: routes as any,
      docs: {
        get brief() {
          return brief("app");
        },
        hideRoute: { __complete: true },
      },
    }),
    {
      name: "provctl",
      scanner: { caseStyle: "allow-kebab-for-camel", allowArgumentEscapeSequence: true },
      documentation: {
        caseStyle: "convert-camel-to-kebab",
        useAliasInUsageLine: true,
        // Usage lines show what a command needs; its --help lists every flag.
        onlyRequiredInUsageLine: true,
        disableAnsiColor: false,
      },
      localization: { loadText: () => applicationText() },
      // Commands report their own errors (session.ts `command`): one that escapes is a bug.
      determineExitCode: () => ExitCode.internal,
    },
  );
}

/** The whole tree: for help, completion and anything not naming a known command. */
export function fullApp() {
  return application();
}

/**
 * The application for `args`: with a known command first (and not `__complete`, which
 * proposes from the whole tree), only that command's route is built, which is most of the
 * cost of building the tree at start-up.
 */
export function appFor(args: readonly string[]) {
  const first = args[0];
  if (first !== undefined && first !== "__complete" && Object.hasOwn(ROUTES, first)) {
    return application(first as RouteName);
  }
  return fullApp();
}
