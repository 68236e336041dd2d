/**
 * The state backend `[state] backend` names: `files` (default) or `postgres`, whose
 * module (and the npm client) is imported only when it is configured.
 */
import type { LoadedConfig } from "../config/loader.ts";
import { ProvctlError } from "../core/errors.ts";
import type { StateBackend, StateBackendName } from "./backend.ts";
import type { BreakerStore } from "../ssh/circuit_breaker.ts";
import { FilesStateBackend } from "./files_backend.ts";

export interface StateSettings {
  readonly backend: StateBackendName;
  readonly urlEnv: string;
  readonly sslmode: "disable" | "prefer" | "require" | "verify-full";
  readonly caFile: string;
  readonly stateDir: string;
  readonly auditFile: string;
}

export function stateSettings(config: LoadedConfig): StateSettings {
  return {
    backend: config.string("state.backend") as StateBackendName,
    urlEnv: config.string("state.url_env"),
    sslmode: config.string("state.sslmode") as StateSettings["sslmode"],
    caFile: config.string("state.ca_file") === "" ? "" : config.path("state.ca_file"),
    stateDir: config.path("paths.state_dir"),
    auditFile: config.path("observe.audit_file"),
  };
}

export interface OpenOptions {
  /** Where the database URL is looked up (the process environment). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * Carry on when the database cannot be reached (audit records wait in the backlog);
   * schema mismatches are refused either way. Default: refuse.
   */
  readonly tolerateOutage?: boolean;
  readonly onAuditOffline?: (error: unknown) => void;
  readonly onAuditOnline?: (shipped: number) => void;
  /** Skip the schema check (`provctl state migrate` and `state status`). */
  readonly noCheck?: boolean;
}

export async function openStateBackend(
  settings: StateSettings,
  options: OpenOptions,
): Promise<StateBackend> {
  if (settings.backend === "files") {
    return new FilesStateBackend({ stateDir: settings.stateDir, auditFile: settings.auditFile });
  }
  const url = options.env[settings.urlEnv];
  if (!url) {
    throw new ProvctlError("InvalidConfig", "state.url_missing", {
      params: { env: settings.urlEnv },
      hint: "state.url_missing_hint",
    });
  }
  const { PostgresStateBackend, describeUrl } = await import("./postgres_backend.ts");
  if (describeUrl(url) === "?") {
    throw new ProvctlError("InvalidConfig", "state.url_invalid", {
      params: { env: settings.urlEnv },
    });
  }
  const backend = await PostgresStateBackend.open({
    url,
    sslmode: settings.sslmode,
    caFile: settings.caFile || undefined,
    auditFile: settings.auditFile,
    onAuditOffline: options.onAuditOffline,
    onAuditOnline: options.onAuditOnline,
  });
  if (options.noCheck) return backend;
  try {
    await backend.check();
  } catch (error) {
    const unreachable = error instanceof ProvctlError && error.kind === "ConnectionFailed";
    // The audit shipper reports the outage itself once it first fails to send.
    if (unreachable && options.tolerateOutage) return backend;
    await backend.close();
    throw error;
  }
  return backend;
}

/** The SSH breakers of a shared backend (postgres); undefined: files in the state dir. */
export function sharedBreakers(state: StateBackend): BreakerStore | undefined {
  if (state.name === "files") return undefined;
  return {
    get: (host) => state.getBreaker(host),
    put: (host, value) => state.putBreaker(host, value),
    list: () => state.listBreakers(),
    delete: (host) => state.deleteBreaker(host),
  };
}
