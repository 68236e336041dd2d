/**
 * Resolving services for commands: the services file (./provctl.toml or -f FILE)
 * merged with command-line flags (flags win).
 */
import type { BackendName } from "../backends/backend.ts";
import { ProvctlError } from "../core/errors.ts";
import { defineService, type ServiceDefinition } from "../core/service_definition.ts";
import { parseServiceName, type ServiceName } from "../core/service_name.ts";
import type { MachineConfig } from "../fleet/inventory.ts";
import { loadServicesFile, parseEnvFile, type ServiceEntry } from "../config/services_file.ts";
import type { Session } from "./session.ts";

export async function servicesFromFile(session: Session): Promise<Map<ServiceName, ServiceEntry>> {
  const settings = await session.settings();
  const explicit = session.flags.file;
  const path = explicit ?? settings.paths.servicesFile;
  const absolute = path.startsWith("/") ? path : `${session.ctx.cwd}/${path}`;
  return await loadServicesFile(absolute, {
    required: explicit !== undefined,
    defaults: settings.config,
  });
}

export interface DefinitionFlags {
  readonly binary?: string;
  readonly arg?: readonly string[];
  readonly env?: readonly string[];
  readonly envFile?: string;
  readonly workdir?: string;
  readonly runAs?: string;
  readonly stopSignal?: string;
  readonly stopTimeout?: number;
  readonly restart?: string;
  readonly description?: string;
}

/** The definition to start: the file's entry for `name`, overridden by flags and `-- CMD ARGS`. */
export async function resolveDefinition(
  session: Session,
  name: ServiceName,
  flags: DefinitionFlags,
  command: readonly string[],
): Promise<{ definition: ServiceDefinition; backend?: BackendName | "auto" }> {
  const settings = await session.settings();
  const entry = (await servicesFromFile(session)).get(name);
  const base = entry?.definition;
  const builder = defineService(name)
    .stopSignal(flags.stopSignal ?? base?.stopSignal ?? settings.service.stopSignal)
    .stopTimeoutMs(flags.stopTimeout ?? base?.stopTimeoutMs ?? settings.timeouts.stopMs)
    .restartPolicy(flags.restart ?? base?.restartPolicy ?? settings.service.restart)
    .restartBackoff(base?.restartBackoff ?? {});

  const [cmdBinary, ...cmdArgs] = command;
  const binary = cmdBinary ?? flags.binary ?? base?.binary;
  if (binary === undefined) {
    throw new ProvctlError("Usage", "errors.binary_missing", { params: { service: name } });
  }
  builder.binary(binary);
  if (cmdBinary !== undefined) builder.args(cmdArgs);
  else if (flags.arg && flags.arg.length > 0) builder.args(flags.arg);
  else if (base && flags.binary === undefined) builder.args(base.args);

  for (const [k, v] of Object.entries(base?.env ?? {})) builder.env(k, v);
  if (flags.envFile) {
    // Read here, on the machine running provctl, like a services file's env_file.
    const file = flags.envFile.startsWith("/")
      ? flags.envFile
      : `${session.ctx.cwd}/${flags.envFile}`;
    const text = await Deno.readTextFile(file).catch((cause) => {
      throw new ProvctlError("InvalidArgument", "config.env_file_unreadable", {
        params: { location: "--env-file", path: file, reason: String(cause?.message ?? cause) },
        cause,
      });
    });
    for (const [k, v] of Object.entries(parseEnvFile(text, file))) builder.env(k, v);
  }
  for (const pair of flags.env ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new ProvctlError("Usage", "cli.env_flag_invalid", { params: { value: pair } });
    }
    builder.env(pair.slice(0, eq), pair.slice(eq + 1));
  }
  if (base?.envFile) builder.envFile(base.envFile);
  const workdir = flags.workdir ?? base?.workingDir;
  if (workdir) builder.workingDir(workdir);
  const user = flags.runAs ?? base?.user;
  if (user) builder.user(user);
  const description = flags.description ?? base?.description;
  if (description) builder.description(description);
  return {
    definition: builder.build(),
    backend: entry?.backend as BackendName | "auto" | undefined,
  };
}

/** Parses every name first, so one bad name fails before anything is done. */
export function parseNames(raw: readonly string[]): ServiceName[] {
  return raw.map(parseServiceName);
}

/** On a fleet, `{var}` placeholders in a service's command and env are each machine's variables. */
export async function forMachine(
  def: ServiceDefinition,
  machine: MachineConfig | undefined,
): Promise<ServiceDefinition> {
  if (!machine) return def;
  const { expandArgv, expandVars } = await import("../fleet/inventory.ts");
  const [binary, ...args] = expandArgv([def.binary, ...def.args], machine);
  return Object.freeze({
    ...def,
    binary,
    args: Object.freeze(args),
    env: Object.freeze(
      Object.fromEntries(
        Object.entries(def.env).map(([k, v]) => [k, expandVars(v, machine, { as: "word" })]),
      ),
    ),
  });
}
