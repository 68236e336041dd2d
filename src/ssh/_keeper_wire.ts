/**
 * What the connection keeper and its clients share: where the socket lives (and the
 * checks that it is this user's and private), the JSON-lines frames on the socket, and
 * the hash that decides whether a held connection may serve a request.
 *
 * Deno offers no SO_PEERCRED, so the keeper cannot ask who connected: it relies on the
 * socket living in a 0700 directory owned by the user (only that user, or root, can
 * reach it), and both sides refuse a directory or socket that is not exactly that.
 */
import { type ErrorKind, isProvctlError, ProvctlError } from "../core/errors.ts";
import type { RunOptions } from "../exec/runner.ts";
import type { ConnectionPlan } from "./_plan.ts";
import type { SshSettings } from "./settings.ts";

/**
 * The directory of the keeper's socket: $XDG_RUNTIME_DIR/provctl, else <state>/keeper. A
 * runtime dir that is not an absolute path to a directory of this user (left over from
 * `su`, say), or that others may write to without the sticky bit (they could rename our
 * provctl dir away and put theirs in its place), is not used.
 */
export function keeperDir(env: { XDG_RUNTIME_DIR?: string }, stateDir: string): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && runtime.startsWith("/")) {
    try {
      const info = Deno.statSync(runtime);
      const mode = info.mode ?? 0;
      const shielded = (mode & 0o022) === 0 || (mode & 0o1000) !== 0;
      if (info.isDirectory && info.uid === Deno.uid() && shielded) return `${runtime}/provctl`;
    } catch { /* missing: the state dir */ }
  }
  return `${stateDir}/keeper`;
}

/**
 * The socket's name carries the protocol version (a keeper left running by an older
 * provctl, until it exits idle, is never asked by a newer one, whose clients wait for
 * a "started" frame the old keeper does not send) and the machine's name: a state dir
 * on a home shared over NFS holds one keeper per machine, as OpenSSH's %l does.
 */
export function keeperSocket(dir: string): string {
  return `${dir}/keeper-v2-${machine()}.sock`;
}

/** Serializes replacing a stale socket and removing one's own (see keeper.ts). */
export function keeperLock(dir: string): string {
  return `${dir}/keeper-${machine()}.lock`;
}

/** This machine's name, safe in a file name and short enough for a socket path. */
function machine(): string {
  let name = "localhost";
  try {
    name = Deno.hostname() || name;
  } catch { /* no permission: one name for all */ }
  return name.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 48);
}

/**
 * Creates the directory 0700 when missing; false when it cannot be created (a read-only
 * or foreign state dir: then there is no keeper and every invocation connects itself).
 * Throws ssh.keeper_unsafe when it (or an existing socket in it) is a symlink, not the
 * user's, or open to group/others.
 */
export async function checkKeeperDir(dir: string): Promise<boolean> {
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) {
      // A dangling or foreign symlink in its place is refused below, not skipped.
      if (!(await Deno.lstat(dir).catch(() => undefined))) return false;
    }
  }
  const info = await Deno.lstat(dir).catch((error) => {
    throw unsafe(dir, error instanceof Error ? error.message : String(error));
  });
  if (info.isSymlink || !info.isDirectory) throw unsafe(dir, "not a directory");
  if (info.uid !== Deno.uid()) throw unsafe(dir, `owned by uid ${info.uid}`);
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    throw unsafe(dir, `mode 0${(info.mode & 0o777).toString(8)}`);
  }
  const socket = await Deno.lstat(keeperSocket(dir)).catch(() => undefined);
  if (socket && (!socket.isSocket || socket.uid !== Deno.uid())) {
    throw unsafe(
      keeperSocket(dir),
      socket.isSocket ? `owned by uid ${socket.uid}` : "not a socket",
    );
  }
  return true;
}

function unsafe(path: string, reason: string): ProvctlError {
  return new ProvctlError("PermissionDenied", "ssh.keeper_unsafe", {
    params: { path, reason },
    hint: "ssh.keeper_unsafe_hint",
  });
}

/** What a request for one command carries. */
export interface KeeperRequest {
  readonly op: "run";
  readonly plan: ConnectionPlan;
  /** See planHash(): connections are shared only between equal hashes. */
  readonly hash: string;
  readonly settings: SshSettings;
  readonly stateDir?: string;
  /** Auth variables of the requesting invocation (the keeper has no terminal). */
  readonly env: Readonly<Record<string, string>>;
  readonly persistMs: number;
  readonly command:
    | { readonly kind: "argv"; readonly program: string; readonly args: readonly string[] }
    | { readonly kind: "shell"; readonly script: string };
  readonly options: {
    readonly env?: Readonly<Record<string, string>>;
    readonly cwd?: string;
    readonly timeoutMs?: number;
    /** base64 */
    readonly stdin?: string;
  };
}

export type KeeperControl = { readonly op: "list" } | { readonly op: "stop" };

/**
 * What a client sends after its request: "go" once it has the "started" ack (the keeper
 * runs nothing before it), "kill" to stop the command.
 */
export type KeeperSignal = { readonly op: "go" } | { readonly op: "kill" };

/** Frames from the keeper, one JSON object per line. */
export type KeeperFrame =
  | { readonly t: "started" }
  | { readonly t: "out" | "err"; readonly d: string }
  | {
    readonly t: "notice";
    readonly kind: "security" | "note";
    readonly key: string;
    readonly params: Record<string, string>;
  }
  | {
    readonly t: "retry";
    readonly target: string;
    readonly error: WireError;
    readonly retry: number;
    readonly delayMs: number;
  }
  | {
    readonly t: "exit";
    readonly code: number;
    readonly signal?: string;
    readonly timedOut?: boolean;
  }
  | { readonly t: "error"; readonly error: WireError }
  | { readonly t: "list"; readonly connections: HeldConnection[] }
  | { readonly t: "stopping" };

/** A connection the keeper holds (`provctl hosts connections`). */
export interface HeldConnection {
  readonly target: string;
  readonly chain: string;
  readonly idle: number;
  readonly busy: number;
  readonly created: number;
  readonly reused: number;
}

export interface WireError {
  readonly kind: ErrorKind;
  readonly key: string;
  readonly params: Record<string, string | number | boolean>;
  readonly hint?: string;
}

export function toWireError(error: unknown): WireError {
  if (isProvctlError(error)) {
    return {
      kind: error.kind,
      key: error.key,
      params: error.params as WireError["params"],
      ...(error.hint ? { hint: error.hint } : {}),
    };
  }
  return {
    kind: "Internal",
    key: "errors.internal",
    params: { detail: error instanceof Error ? error.message : String(error) },
  };
}

export function fromWireError(error: WireError): ProvctlError {
  return new ProvctlError(error.kind, error.key, { params: error.params, hint: error.hint });
}

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Request options on the wire (stdin as base64; the abort signal stays local). */
export function wireOptions(options: RunOptions): KeeperRequest["options"] {
  const stdin = options.stdin === undefined ? undefined : toBase64(
    typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
  );
  return {
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(stdin !== undefined ? { stdin } : {}),
  };
}

/**
 * The identity of a resolved plan: every hop and the target with all their settings,
 * plus what known_hosts files and the ssh_config said when it was resolved (path, size,
 * mtime, content). A changed known_hosts or ssh_config gives a new hash, so a connection
 * verified under the old one is never reused for it.
 */
export async function planHash(plan: ConnectionPlan, sshConfigFile?: string): Promise<string> {
  const files = new Set<string>();
  for (const endpoint of [...plan.hops, plan.target]) {
    for (const file of endpoint.knownHostsFiles) files.add(file);
    for (const file of endpoint.globalKnownHostsFiles ?? []) files.add(file);
    if (endpoint.revokedHostKeys !== undefined) files.add(endpoint.revokedHostKeys);
  }
  if (sshConfigFile) files.add(sshConfigFile);
  // One digest over the plan, then each file's path, size and mtime with its bytes (each
  // length-prefixed, so no two sets of files give the same input). Synchronous reads: a
  // few small files, on the path of every warm command.
  const encoder = new TextEncoder();
  const parts: Uint8Array<ArrayBuffer>[] = [encoder.encode(JSON.stringify(plan))];
  for (const file of [...files].sort()) {
    const content = fileContent(file);
    const head = content
      ? [file, content.size, content.mtimeMs, content.bytes.length]
      : [file, "missing"];
    parts.push(encoder.encode(`\n${JSON.stringify(head)}\n`));
    if (content) parts.push(content.bytes);
  }
  const input = await new Blob(parts).arrayBuffer();
  return toBase64(new Uint8Array(await crypto.subtle.digest("SHA-256", input)));
}

function fileContent(
  path: string,
): { size: number; mtimeMs: number; bytes: Uint8Array<ArrayBuffer> } | undefined {
  try {
    const info = Deno.statSync(path);
    // Only a regular file is read (/dev/null is a usual GlobalKnownHostsFile; a FIFO
    // would block).
    const bytes = info.isFile ? Deno.readFileSync(path) : new Uint8Array();
    return { size: info.size, mtimeMs: info.mtime?.getTime() ?? 0, bytes };
  } catch {
    return undefined;
  }
}

/** Splits a byte stream into JSON-lines frames. */
export async function* readFrames<T>(conn: Deno.Conn): AsyncGenerator<T> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of conn.readable) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim() !== "") yield JSON.parse(line) as T;
    }
  }
}

/** Writes frames in order, one line each. */
export function frameWriter(conn: Deno.Conn): (frame: unknown) => Promise<void> {
  const encoder = new TextEncoder();
  let chain = Promise.resolve();
  return (frame) => {
    const data = encoder.encode(JSON.stringify(frame) + "\n");
    chain = chain.then(async () => {
      let written = 0;
      while (written < data.length) written += await conn.write(data.subarray(written));
    });
    return chain;
  };
}
