/**
 * Backend: one interface over the service systems provctl drives (pidfile, systemd,
 * launchd). Backends reach the system only through a CommandRunner, so each works on
 * the local machine and over SSH alike. Every backend passes the shared conformance
 * suite in tests/backends/conformance.ts.
 */
import type { ProcessStatus } from "../core/process_status.ts";
import type { ServiceDefinition } from "../core/service_definition.ts";
import type { ServiceName } from "../core/service_name.ts";

export type BackendName = "pidfile" | "systemd" | "launchd";
export const BACKEND_NAMES: readonly BackendName[] = ["pidfile", "systemd", "launchd"];

export interface StartResult {
  readonly status: ProcessStatus;
  /** False when the service was already running with the same definition. */
  readonly changed: boolean;
}

export interface StopResult {
  /** False when it was not running. */
  readonly changed: boolean;
  /** True when the stop signal was not enough and SIGKILL was sent. */
  readonly killed?: boolean;
}

export interface LogOptions {
  /** Last N lines (default from config). */
  readonly lines: number;
  readonly follow?: boolean;
  /** Ends a follow. */
  readonly signal?: AbortSignal;
}

export interface Backend {
  readonly name: BackendName;
  /** Starts (installing first where the backend has unit files). AlreadyRunning when running. */
  start(def: ServiceDefinition): Promise<StartResult>;
  /** Stops; not running is not an error (changed: false). NotFound when never known. */
  stop(name: ServiceName): Promise<StopResult>;
  /** Stops if running, then starts; a definition replaces the stored one. */
  restart(name: ServiceName, def?: ServiceDefinition): Promise<StartResult>;
  status(name: ServiceName): Promise<ProcessStatus>;
  /** Writes log lines to `sink` as they are read; resolves at the end (or on abort when following). */
  logs(name: ServiceName, options: LogOptions, sink: (chunk: Uint8Array) => void): Promise<void>;
  /** Services this backend knows provctl manages. */
  list(): Promise<ServiceName[]>;
  /** Removes what the backend keeps for a service (unit file, state); stops it first. */
  uninstall(name: ServiceName): Promise<void>;
}
