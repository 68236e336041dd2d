/**
 * Trust in provctl's own state, like OpenSSH's StrictModes: a directory provctl keeps
 * state in must belong to the current user (or root) and not be writable by group or
 * others, and the files it trusts (audit log, metrics, breakers, stored definitions) are
 * opened without following symbolic links. Otherwise another local user could replace
 * what root later runs, or make root append to a file of their choosing. Directories and
 * files provctl creates are 0700 and 0600.
 *
 * Deno.open has no O_NOFOLLOW, so a file is lstat'ed before the open and fstat'ed after,
 * and the two must be the same regular file (device and inode).
 */
import { ProvctlError } from "./errors.ts";

const PRIVATE_DIR = 0o700;
const PRIVATE_FILE = 0o600;

function uid(): number | null {
  return Deno.uid();
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

function untrusted(path: string, why: "owner" | "mode" | "symlink" | "type", info?: {
  uid?: number | null;
  mode?: number | null;
}): ProvctlError {
  return new ProvctlError("PermissionDenied", `trust.${why}`, {
    params: {
      path,
      owner: info?.uid ?? "",
      uid: uid() ?? "",
      mode: info?.mode != null ? octal(info.mode) : "",
    },
    hint: `trust.hint_${why}`,
  });
}

/** Refuses a file-system entry owned by another user, or (for `strict`) writable by others. */
function checkOwnerAndMode(path: string, info: Deno.FileInfo): void {
  const me = uid();
  if (me === null || info.uid === null) return; // no POSIX owners (Windows)
  if (info.uid !== me && info.uid !== 0) throw untrusted(path, "owner", info);
  if (info.mode !== null && (info.mode & 0o022) !== 0) throw untrusted(path, "mode", info);
}

/**
 * Checks a state directory, creating it (and missing parents) with mode 0700 first when
 * `create` is set. A missing directory without `create` is fine (nothing to trust yet).
 * The directory may be reached through a symbolic link (the link's target is checked).
 * The checks are synchronous system calls: a command checks up to nine directories before
 * it starts, where an async op each would add to every invocation's start-up.
 */
// deno-lint-ignore require-await
export async function trustDir(
  path: string,
  options: { create?: boolean; private?: boolean } = {},
): Promise<void> {
  if (options.create) {
    Deno.mkdirSync(path, { recursive: true, mode: PRIVATE_DIR });
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && !options.create) return;
    throw error;
  }
  if (!info.isDirectory) throw untrusted(path, "type", info);
  checkOwnerAndMode(path, info);
  // `private`: one of ours that others can read or enter (made by an older provctl) is
  // closed to them.
  if (options.private && info.uid === uid() && info.mode !== null && (info.mode & 0o077) !== 0) {
    Deno.chmodSync(path, PRIVATE_DIR);
  }
}

/** The subdirectories of a state dir that provctl (or its PID-file scripts) keeps state in. */
export const STATE_SUBDIRS = [
  "services",
  "locks",
  "run",
  "logs",
  "breakers",
  "audit",
  "deploy",
  "metrics",
] as const;

/** Checks a state dir and each of its subdirectories that exists. */
export async function trustStateDir(stateDir: string): Promise<void> {
  await trustDirs([stateDir, ...STATE_SUBDIRS.map((d) => `${stateDir}/${d}`)]);
}

/** Checks every directory that exists of `dirs` (missing ones are fine). */
export async function trustDirs(dirs: readonly string[]): Promise<void> {
  for (const dir of dirs) await trustDir(dir);
}

/**
 * Opens a file provctl trusts without following a symbolic link: refused when `path` is
 * a link, not a regular file, owned by another user or writable by others, or replaced
 * between the check and the open. With `create`, a missing file is created 0600 (with
 * O_EXCL, which never follows a link either). Resolves to undefined when the file does
 * not exist and `create` is not set.
 */
export async function openTrusted(
  path: string,
  options: { read?: boolean; write?: boolean; append?: boolean; create?: boolean },
): Promise<{ file: Deno.FsFile; created: boolean } | undefined> {
  const { create, ...mode } = options;
  let before: Deno.FileInfo | undefined;
  try {
    before = await Deno.lstat(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (before === undefined) {
    if (!create) return undefined;
    try {
      const file = await Deno.open(path, { ...mode, createNew: true, mode: PRIVATE_FILE });
      return { file, created: true };
    } catch (error) {
      // Someone created it meanwhile: check what is there now, like any existing file.
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      return await openTrusted(path, { ...mode });
    }
  }
  if (before.isSymlink) throw untrusted(path, "symlink", before);
  if (!before.isFile) throw untrusted(path, "type", before);
  checkOwnerAndMode(path, before);
  const file = await Deno.open(path, mode);
  try {
    const after = await file.stat();
    if (after.dev !== before.dev || after.ino !== before.ino || !after.isFile) {
      throw untrusted(path, "symlink", after);
    }
    return { file, created: false };
  } catch (error) {
    file.close();
    throw error;
  }
}

/** The text of a trusted file, or undefined when it does not exist. */
export async function readTrusted(path: string): Promise<string | undefined> {
  const opened = await openTrusted(path, { read: true });
  if (opened === undefined) return undefined;
  try {
    return new TextDecoder().decode(await readAll(opened.file));
  } finally {
    opened.file.close();
  }
}

/**
 * Writes a trusted file atomically: a new 0600 temp file (O_EXCL) in the same directory,
 * synced, then renamed over `path` (a rename replaces a link, it never writes through it).
 */
export async function writeTrustedAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: PRIVATE_FILE });
    try {
      const bytes = new TextEncoder().encode(text);
      for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

async function readAll(file: Deno.FsFile): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await file.read(buf);
    if (n === null || n === 0) break;
    chunks.push(buf.slice(0, n));
    size += n;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
