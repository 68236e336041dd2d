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

/** Takes a chunk of log output; a promise it returns holds back the next read until settled. */
export type LogSink =
  | ((chunk: Uint8Array) => void)
  | ((chunk: Uint8Array) => Promise<void>);

/** A backend's answer to enable: a message key (with params) the CLI shows as a warning. */
export interface EnableResult {
  readonly changed: boolean;
  readonly warning?: { readonly key: string; readonly params: Record<string, string> };
}

/**
 * Starting services at boot (or at login, for per-user managers). A service manager that
 * runs at boot has it (systemd units, launchd jobs); the pidfile backend has none, since
 * nothing of it runs before someone calls provctl.
 */
export interface BootControl {
  /** Starts the service at boot from now on (it must be known: started or installed). */
  enable(name: ServiceName): Promise<EnableResult>;
  /** No longer starts it at boot; a running service keeps running. */
  disable(name: ServiceName): Promise<{ changed: boolean }>;
  /** Whether it starts at boot. */
  isEnabled(name: ServiceName): Promise<boolean>;
  /** Writes what the manager needs to know the service (unit file) without starting it. */
  install?(def: ServiceDefinition): Promise<unknown>;
}

export interface Backend {
  readonly name: BackendName;
  /** Boot support, or undefined when the backend has none (every backend says which). */
  readonly boot: BootControl | undefined;
  /** Starts (installing first where the backend has unit files). AlreadyRunning when running. */
  start(def: ServiceDefinition): Promise<StartResult>;
  /** Stops; not running is not an error (changed: false). NotFound when never known. */
  stop(name: ServiceName): Promise<StopResult>;
  /** Stops if running, then starts; a definition replaces the stored one. */
  restart(name: ServiceName, def?: ServiceDefinition): Promise<StartResult>;
  status(name: ServiceName): Promise<ProcessStatus>;
  /**
   * Writes log lines to `sink` as they are read; resolves at the end (or on abort when
   * following). A sink that returns a promise is awaited before more is read: a slow
   * reader pauses the source (backpressure) instead of having it buffered.
   */
  logs(name: ServiceName, options: LogOptions, sink: LogSink): Promise<void>;
  /** Services this backend knows provctl manages. */
  list(): Promise<ServiceName[]>;
  /** Removes what the backend keeps for a service (unit file, state); stops it first. */
  uninstall(name: ServiceName): Promise<void>;
}
