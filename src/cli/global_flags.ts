/**
 * Flags every command accepts (kubectl-style global flags). Stricli has no global
 * flags, so each command spreads these into its own flag set.
 */
import type { TypedFlagParameter } from "@stricli/core";
import { switchFlag, valueFlag } from "./_flag_specs.ts";
import { BACKEND_NAMES, type BackendName } from "../backends/backend.ts";
import { brief } from "./help_text.ts";
import type { ProvctlContext } from "./context.ts";

export type OutputFormat = "text" | "json";

export interface GlobalFlags {
  readonly output?: OutputFormat;
  readonly backend?: "auto" | BackendName;
  readonly configDir?: string;
  readonly file?: string;
  readonly verbose?: boolean;
  readonly quiet?: boolean;
  readonly noColor?: boolean;
  /** systemd: use the system manager (units in /etc/systemd/system). */
  readonly system?: boolean;
  /** systemd: use the user manager (`systemctl --user`). */
  readonly user?: boolean;
  /** Overwrite or remove a unit/plist provctl did not write. */
  readonly force?: boolean;
  /** Run on this machine over SSH: [user@]host[:port] or an ssh_config alias. */
  readonly host?: string;
  /** Jump hosts, comma-separated (replaces ssh_config ProxyJump; "none" for direct). */
  readonly jump?: string;
  /** Private key files tried first (repeatable). */
  readonly identity?: readonly string[];
  readonly sshConfig?: string;
  readonly hostKeyPolicy?: "strict" | "accept-new" | "off";
  /** Connect directly, without the SSH connection keeper (ssh.persist_ms). */
  readonly noPersist?: boolean;
}

type FlagSpec<T> = { readonly [K in keyof T]-?: TypedFlagParameter<T[K], ProvctlContext> };

export const globalFlagSpecs: FlagSpec<GlobalFlags> = {
  output: {
    kind: "enum",
    values: ["text", "json"],
    optional: true,
    get brief() {
      return brief("flag_output");
    },
  },
  backend: {
    kind: "enum",
    values: ["auto", ...BACKEND_NAMES],
    optional: true,
    get brief() {
      return brief("flag_backend");
    },
  },
  configDir: valueFlag("flag_config_dir", "DIR"),
  file: valueFlag("flag_file", "FILE"),
  verbose: switchFlag("flag_verbose"),
  quiet: switchFlag("flag_quiet"),
  noColor: switchFlag("flag_no_color"),
  system: switchFlag("flag_system"),
  user: switchFlag("flag_user_scope"),
  force: switchFlag("flag_force"),
  host: valueFlag("flag_host", "[USER@]HOST[:PORT]"),
  jump: valueFlag("flag_jump", "HOST,..."),
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

export const globalAliases = {
  o: "output",
  f: "file",
  v: "verbose",
  q: "quiet",
  i: "identity",
} as const;
