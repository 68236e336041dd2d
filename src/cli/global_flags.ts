/**
 * Flag groups. Stricli has no global flags, so each command spreads the groups it uses
 * into its own flag set, and no command accepts a flag it would ignore:
 * - base (every command): output, config dir, verbosity, colours;
 * - service: which backend and services file (service verbs, deploy);
 * - force: overwrite or remove a unit or plist provctl did not write;
 * - connect: how to reach machines over SSH (keys, ssh_config, host keys);
 * - host: act on one machine over SSH instead of this one, through --jump hosts (service
 *   verbs, exec, doctor); machines of the inventory have their own `jump` setting.
 * A short form means one thing everywhere: -o output, -v verbose, -q quiet,
 * -i identity (-f is `logs --follow`; the services file is --file).
 */
import type { TypedFlagParameter } from "@stricli/core";
import { switchFlag, valueFlag } from "./_flag_specs.ts";
import { BACKEND_NAMES, type BackendName } from "../backends/backend.ts";
import { brief } from "./help_text.ts";
import type { ProvctlContext } from "./context.ts";

export type OutputFormat = "text" | "json";

export interface BaseFlags {
  readonly output?: OutputFormat;
  readonly configDir?: string;
  readonly verbose?: boolean;
  readonly quiet?: boolean;
  readonly noColor?: boolean;
}

export interface ServiceFlags {
  readonly backend?: "auto" | BackendName;
  readonly file?: string;
  /** systemd: use the system manager (units in /etc/systemd/system). */
  readonly system?: boolean;
  /** systemd: use the user manager (`systemctl --user`). */
  readonly user?: boolean;
}

export interface ForceFlags {
  /** Overwrite or remove a unit/plist provctl did not write. */
  readonly force?: boolean;
}

export interface ConnectFlags {
  /** Private key files tried first (repeatable). */
  readonly identity?: readonly string[];
  readonly sshConfig?: string;
  readonly hostKeyPolicy?: "strict" | "accept-new" | "off";
  /** Connect directly, without the SSH connection keeper (ssh.persist_ms). */
  readonly noPersist?: boolean;
}

export interface JumpFlags {
  /** Jump hosts, comma-separated (replaces ssh_config ProxyJump; "none" for direct). */
  readonly jump?: string;
}

export interface HostFlags extends JumpFlags {
  /** Run on this machine over SSH: [user@]host[:port] or an ssh_config alias. */
  readonly host?: string;
}

/** Every group: what a session may read (a command declares only the groups it uses). */
export interface GlobalFlags extends BaseFlags, ServiceFlags, ForceFlags, ConnectFlags, HostFlags {}

type FlagSpec<T> = { readonly [K in keyof T]-?: TypedFlagParameter<T[K], ProvctlContext> };

export const baseFlagSpecs: FlagSpec<BaseFlags> = {
  output: {
    kind: "enum",
    values: ["text", "json"],
    optional: true,
    get brief() {
      return brief("flag_output");
    },
  },
  configDir: valueFlag("flag_config_dir", "DIR"),
  verbose: switchFlag("flag_verbose"),
  quiet: switchFlag("flag_quiet"),
  noColor: switchFlag("flag_no_color"),
};
export const baseAliases = { o: "output", v: "verbose", q: "quiet" } as const;

export const serviceFlagSpecs: FlagSpec<ServiceFlags> = {
  backend: {
    kind: "enum",
    values: ["auto", ...BACKEND_NAMES],
    optional: true,
    get brief() {
      return brief("flag_backend");
    },
  },
  file: valueFlag("flag_file", "FILE"),
  system: switchFlag("flag_system"),
  user: switchFlag("flag_user_scope"),
};

export const forceFlagSpecs: FlagSpec<ForceFlags> = { force: switchFlag("flag_force") };

export const connectFlagSpecs: FlagSpec<ConnectFlags> = {
  identity: {
    kind: "parsed",
    parse: String,
    optional: true,
    variadic: true,
    placeholder: "KEY",
    get brief() {
      return brief("flag_identity");
    },
  },
  sshConfig: valueFlag("flag_ssh_config", "FILE"),
  hostKeyPolicy: {
    kind: "enum",
    values: ["strict", "accept-new", "off"],
    optional: true,
    get brief() {
      return brief("flag_host_key_policy");
    },
  },
  noPersist: switchFlag("flag_no_persist"),
};
export const connectAliases = { i: "identity" } as const;

export const jumpFlagSpecs: FlagSpec<JumpFlags> = { jump: valueFlag("flag_jump", "HOST,...") };

export const hostFlagSpecs: FlagSpec<HostFlags> = {
  host: valueFlag("flag_host", "[USER@]HOST[:PORT]"),
  ...jumpFlagSpecs,
};
