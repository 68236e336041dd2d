/**
 * status.sh in-process, for a PID-file service on this machine: the same answer without
 * spawning a shell, which is most of what a local `provctl status NAME` costs (scripts
 * call it in loops). Linux only (it reads /proc, like the scripts there); elsewhere, and
 * over SSH, the backend runs status.sh.
 *
 * It yields the very lines status.sh prints, so the backend reads both with one parser
 * and an odd value (a blank, a "=") is cut the same way. Every rule below mirrors
 * common.sh (`load`, `ident`, `alive`, `sup_alive`, `remove_if_same`) and status.sh;
 * tests/backends/pidfile_status_parity_test.ts holds the two to the same answers.
 */

/** The files status.sh takes: PIDFILE EXITFILE STATEFILE. */
export interface StatusFiles {
  readonly pidFile: string;
  readonly exitFile: string;
  readonly stateFile: string;
}

/** True where this module can answer: /proc is there (what `ident` in common.sh checks). */
export function canReadProcesses(): boolean {
  try {
    return Deno.statSync("/proc/self").isDirectory;
  } catch {
    return false;
  }
}

/**
 * What status.sh prints for these files, with the same side effects (files removed).
 * Synchronous file-system calls: a few small files, where an async op each would add to
 * the start-up of every `status`.
 */
export function localStatus(files: StatusFiles): string {
  const { pidFile, exitFile, stateFile } = files;
  // `[ -e ]`: follows a link, so a dangling one is no PID file.
  if (!(exists(pidFile))) return "state=none\n";
  const { pid, start, pgid, started } = loadOrEmpty(pidFile);
  if (isCorrupt(pid, start, pgid)) {
    // Removed only if it is still corrupt: a concurrent start may have just replaced it.
    const again = load(pidFile);
    if (again && isCorrupt(again.pid, again.start, again.pgid)) removeFile(pidFile);
    return "state=corrupt\n";
  }
  if (alive(pid, start, pgid)) {
    return `state=running pid=${pid} started=${started}\n${supervision(stateFile)}`;
  }
  const exit = load(exitFile);
  if (exit && exit.pid === pid) {
    const { code, at } = exit;
    const state = loadOrEmpty(stateFile);
    let line: string;
    if (state.phase === "failed") line = `state=failed code=${code} at=${at}`;
    else if (!EXIT_STATUS.test(code)) line = `state=unknown at=${at}`;
    else if (Number(code) > 128) line = `state=terminated signal=${Number(code) - 128} at=${at}`;
    else line = `state=exited code=${code} at=${at}`;
    return `${line}\n${supervision(stateFile)}`;
  }
  const reason = (ident(pid)) ? "reused" : "dead";
  // A supervisor may be about to record the exit (or restart it): leave its files alone.
  const state = load(stateFile);
  if (state && supAlive(state)) return `state=unknown at=\n${supervision(stateFile)}`;
  // remove_if_same: only if the file still records that process (not a concurrent start's).
  const now = load(pidFile);
  if (now && now.pid === pid && now.start === start) removeFile(pidFile);
  return `state=stale reason=${reason} pid=${pid}\n`;
}

/** An exit status as the supervisor writes it: 0-255, in decimal without leading zeros. */
const EXIT_STATUS = /^(?:[0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])$/;

const DIGITS = /^[0-9]+$/;

function isCorrupt(pid: string, start: string, pgid: string): boolean {
  return !DIGITS.test(pid) || start === "" || pgid === "";
}

/** The supervisor's account, after the state line (nothing without a state file). */
function supervision(stateFile: string): string {
  const f = load(stateFile);
  if (f === undefined) return "";
  let sup = "done";
  if (f.phase === "running" || f.phase === "backoff") {
    sup = (supAlive(f)) ? "running" : "gone";
  }
  const next = sup === "running" && f.phase === "backoff" ? f.next_restart_at : "";
  return `restarts=${f.restarts || "0"} last_exit=${f.last_exit} ` +
    `last_restart_at=${f.last_restart_at} next_restart_at=${next} supervisor=${sup} ` +
    `phase=${f.phase} reason=${f.reason}\n`;
}

/** The keys `load` knows; any other key in a file is ignored. */
const KEYS = [
  "pid",
  "pgid",
  "start",
  "started",
  "code",
  "at",
  "sup",
  "sup_start",
  "phase",
  "restarts",
  "last_exit",
  "last_restart_at",
  "next_restart_at",
  "reason",
] as const;

type Loaded = Record<typeof KEYS[number], string>;

function empty(): Loaded {
  return Object.fromEntries(KEYS.map((k) => [k, ""])) as Loaded;
}

function loadOrEmpty(path: string): Loaded {
  return (load(path)) ?? empty();
}

/**
 * `load`: KEY=VALUE lines of a readable regular file, never read through a link
 * (undefined otherwise). Read as `IFS='=' read -r k v` splits them: the key ends at the
 * first "=", the value is the rest of the line, less a last "=" when it is the only one
 * in it ("a=b=" gives b, "a=b==" gives b==); no other character is special, the last
 * line needs no newline, and NUL bytes are dropped (as dash and bash do).
 */
function load(path: string): Loaded | undefined {
  const bytes = readNoFollow(path);
  if (bytes === undefined) return undefined;
  const f = empty();
  // A leading byte-order mark is kept: to the shell it is part of the first key.
  const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(
    bytes.includes(0) ? bytes.filter((b) => b !== 0) : bytes,
  );
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    const key = eq < 0 ? line : line.slice(0, eq);
    let value = eq < 0 ? "" : line.slice(eq + 1);
    if (value.endsWith("=") && value.indexOf("=") === value.length - 1) value = value.slice(0, -1);
    if ((KEYS as readonly string[]).includes(key)) f[key as keyof Loaded] = value;
  }
  return f;
}

/**
 * The bytes of a regular file that is not a link (undefined when it is missing, a link,
 * not a regular file, unreadable, or replaced between the check and the open).
 */
function readNoFollow(path: string): Uint8Array | undefined {
  let file: Deno.FsFile | undefined;
  try {
    const before = Deno.lstatSync(path);
    if (!before.isFile) return undefined;
    file = Deno.openSync(path, { read: true });
    const after = file.statSync();
    if (!after.isFile || after.dev !== before.dev || after.ino !== before.ino) return undefined;
    const chunks: Uint8Array[] = [];
    let size = 0;
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = file.readSync(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      size += n;
    }
    const out = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  } catch {
    return undefined;
  } finally {
    file?.close();
  }
}

/** `ident`: the state, process group and start time (clock ticks) of a live process. */
function ident(
  pid: string,
): { state: string; pgid: string; start: string } | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  if (stat === "") return undefined;
  // The command name (field 2) is in parentheses and may hold blanks, ")" and newlines:
  // the other fields follow its last ") ".
  const end = stat.lastIndexOf(") ");
  const rest = (end < 0 ? stat : stat.slice(end + 2)).split(/[ \t\n]+/).filter((f) => f !== "");
  return { state: rest[0] ?? "", pgid: rest[2] ?? "", start: rest[19] ?? "" };
}

/** `alive`: the process exists, is not a zombie, and is the one recorded. */
function alive(pid: string, start: string, pgid: string): boolean {
  const p = ident(pid);
  if (p === undefined || p.state.startsWith("Z") || p.state.startsWith("X")) return false;
  return p.start === start && p.pgid === pgid;
}

/** `sup_alive`: the recorded supervisor still runs (it leads its own process group). */
function supAlive(f: Loaded): boolean {
  if (!DIGITS.test(f.sup)) return false;
  return alive(f.sup, f.sup_start, f.sup);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `rm -f` of a PID file just read as a regular file. */
function removeFile(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* gone already, or not ours to remove: status still answers (as rm -f) */ }
}
