/**
 * Runs the real provctl CLI as a separate process, in an isolated home and state dir.
 * With no $XDG_RUNTIME_DIR passed on, an SSH connection keeper an invocation starts
 * lives in the sandbox's state dir: one per test, stopped by cleanup().
 */
import { stopKeeper } from "../../src/ssh/keeper_runner.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliSandbox {
  readonly dir: string;
  readonly stateDir: string;
  readonly env: Record<string, string>;
  run(args: string[], options?: { env?: Record<string, string>; cwd?: string }): Promise<CliResult>;
  /** Starts provctl without waiting (for concurrency tests and -f). */
  spawn(
    args: string[],
    options?: { env?: Record<string, string>; cwd?: string },
  ): Deno.ChildProcess;
  cleanup(): Promise<void>;
}

export async function cliSandbox(): Promise<CliSandbox> {
  const dir = await Deno.makeTempDir({ prefix: "provctl-cli-" });
  const stateDir = `${dir}/state`;
  // Keep the machine's environment (CA certificates, proxy settings) but not provctl's or
  // XDG settings; keep Deno's cache where it is, since HOME moves to the sandbox.
  const inherited = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) =>
      !k.startsWith("PROVCTL_") && !k.startsWith("XDG_") && k !== "NO_COLOR"
    ),
  );
  const env: Record<string, string> = {
    ...inherited,
    DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache/deno`,
    HOME: dir,
    XDG_CONFIG_HOME: `${dir}/config`,
    XDG_STATE_HOME: `${dir}/xdg-state`,
    PROVCTL_STATE_DIR: stateDir,
    // Tests drive the PID-file backend unless they choose another.
    PROVCTL_BACKEND: "pidfile",
    NO_COLOR: "1",
  };
  const command = (args: string[], options: { env?: Record<string, string>; cwd?: string } = {}) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--quiet", MAIN, ...args],
      env: { ...env, ...options.env },
      clearEnv: true,
      cwd: options.cwd ?? dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
  return {
    dir,
    stateDir,
    env,
    async run(args, options) {
      const out = await command(args, options).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    },
    spawn: (args, options) => command(args, options).spawn(),
    async cleanup() {
      await stopKeepers(dir);
      // Stop whatever the test left running (only services this sandbox started).
      const list = await command(["status", "-o", "json"]).output();
      for (const line of new TextDecoder().decode(list.stdout).split("\n")) {
        if (!line.trim()) continue;
        const row = JSON.parse(line);
        if (row.state === "running") await command(["stop", row.name]).output();
      }
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * Stops the SSH connection keepers whose socket lies under `dir` (state dirs of a
 * sandbox, at most four levels down); the dir's removal would stop them too, within
 * the keeper's check interval.
 */
export async function stopKeepers(dir: string, depth = 4): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return;
  }
  for (const entry of entries) {
    if (/^keeper.*\.sock$/.test(entry.name) && !entry.isDirectory) {
      await stopKeeper(dir).catch(() => false);
    } else if (entry.isDirectory && depth > 1) {
      await stopKeepers(`${dir}/${entry.name}`, depth - 1);
    }
  }
}

/** True while a process with this PID exists (and is not a zombie). */
export function processAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
