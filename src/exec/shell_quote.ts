/**
 * POSIX shell quoting: for commands sent over SSH, and for shell text provctl writes. sshd hands the command string to the
 * remote user's login shell (`$SHELL -c STRING`), so every program name, argument,
 * environment value and directory is single-quoted: inside '...' nothing is special
 * except the quote itself, which is written as '\'' (close, escaped quote, reopen).
 * Assumes a POSIX-compatible login shell (sh, bash, dash, zsh, ksh) on the remote side.
 */
import { ProvctlError } from "../core/errors.ts";

const SAFE = /^[A-Za-z0-9_@%+:,./-]+$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** One shell word that the shell reads back as exactly `value`. */
export function shellQuote(value: string): string {
  if (value.includes("\0")) {
    throw new ProvctlError("InvalidArgument", "ssh.arg_has_nul", {
      params: { value: JSON.stringify(value) },
    });
  }
  // Plain words stay readable in logs; everything else is quoted.
  if (SAFE.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export interface RemoteCommandOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

/**
 * The command string for running `program args...` remotely:
 * `cd 'dir' && exec env 'K=V' 'program' 'arg'...` (the parts that apply).
 * Environment goes through env(1) because sshd refuses most "env" channel requests.
 */
export function remoteCommand(
  program: string,
  args: readonly string[],
  options: RemoteCommandOptions = {},
): string {
  if (program === "") {
    throw new ProvctlError("InvalidArgument", "ssh.program_empty");
  }
  const words: string[] = ["exec"];
  const env = Object.entries(options.env ?? {});
  if (env.length > 0) {
    // env(1) would read a program name containing '=' as one more assignment.
    if (program.includes("=")) {
      throw new ProvctlError("InvalidArgument", "ssh.program_has_equals", { params: { program } });
    }
    words.push("env");
    for (const [key, value] of env) words.push(shellQuote(`${checkEnvKey(key)}=${value}`));
  }
  words.push(shellQuote(program), ...args.map(shellQuote));
  return withCwd(words.join(" "), options.cwd);
}

/**
 * A shell string run on purpose (`provctl exec --shell`), with env and cwd applied the
 * same way: the script itself is passed verbatim.
 */
export function remoteShellCommand(script: string, options: RemoteCommandOptions = {}): string {
  const env = Object.entries(options.env ?? {});
  let prefix = "";
  if (options.cwd !== undefined) prefix += `cd ${quoteCwd(options.cwd)} || exit 1\n`;
  if (env.length > 0) {
    prefix += `export ${env.map(([k, v]) => `${checkEnvKey(k)}=${shellQuote(v)}`).join(" ")}\n`;
  }
  // Newlines, not '&&': the script's own '||' or ';' must not bind to the prefix.
  return prefix + script;
}

function withCwd(command: string, cwd: string | undefined): string {
  return cwd === undefined ? command : `cd ${quoteCwd(cwd)} && ${command}`;
}

function quoteCwd(cwd: string): string {
  if (cwd === "") throw new ProvctlError("InvalidArgument", "ssh.cwd_empty");
  return shellQuote(cwd);
}

function checkEnvKey(key: string): string {
  if (!ENV_KEY.test(key)) {
    throw new ProvctlError("InvalidArgument", "errors.env_key_invalid", { params: { key } });
  }
  return key;
}
