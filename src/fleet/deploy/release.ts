/**
 * The release layout on a machine, under its deploy root:
 *
 *   <root>/releases/<version>/   one complete release each (never modified once in place)
 *   <root>/current -> releases/<version>   the live release (a relative symlink)
 *   <root>/.staging/<id>/         uploads in progress, one dir per deployment id; a run
 *                                 removes only other runs' (it holds the machine's lock,
 *                                 target_lock.ts, so those runs are over)
 *   <root>/.provctl-lock/         the target lock (target_lock.ts)
 *
 * A release appears only by renaming a complete upload into releases/, and `current`
 * only changes by renaming a new symlink over it, so a deploy killed at any point leaves
 * `current` on the old or the new release — never missing, dangling or half-written.
 * GNU mv renames with `mv -T`; BSD mv (macOS) has no -T and `mv -f link current` would
 * move the link INTO the directory `current` points to, so there rename(2) is called
 * through perl (part of macOS), which replaces the symlink itself.
 *
 * Releases are ordered by the mtime of their directory: upload and every activation
 * touch it (tar would otherwise keep the artifact's own mtime), so "newest" means "most recently deployed or rolled back to".
 */
import { ProvctlError } from "../../core/errors.ts";
import { sh } from "../../exec/host_fs.ts";
import type { CommandRunner, RunResult } from "../../exec/runner.ts";
import { upload } from "../../exec/upload.ts";

export interface ReleaseListing {
  /** The version `current` points to, if it exists. */
  readonly current?: string;
  /** Versions in releases/, most recently activated first. */
  readonly releases: readonly string[];
}

const LIST = `cd -- "$1" 2>/dev/null || exit 0
if [ -L current ]; then printf 'current=%s\\n' "$(readlink current)"; fi
if [ -d releases ]; then ls -1t releases | sed 's/^/release=/'; fi`;

// $2: this run's staging id (kept).
const CLEAN = `cd -- "$1" 2>/dev/null || exit 0
for d in .staging/* .staging/.[!.]*; do
  [ -e "$d" ] || continue
  [ "$d" = ".staging/$2" ] && continue
  rm -rf -- "$d"
done
rmdir .staging 2>/dev/null || true
rm -f -- current.tmp-*`;

const FINISH = `set -e
cd -- "$1"
mkdir -p releases
if [ -d "releases/$2" ]; then rm -rf -- "$3"; else mv -- "$3" "releases/$2"; touch -- "releases/$2"; fi
rmdir -- "\${3%/*}" 2>/dev/null || true
rmdir .staging 2>/dev/null || true`;

// $2 empty: remove current (rolling back a first deploy).
const SWITCH = `set -e
cd -- "$1"
if [ -n "$2" ] && [ ! -d "releases/$2" ]; then
  echo "release $2 is not in $1/releases" >&2; exit 3
fi
old=""
if [ -L current ]; then old=$(readlink current); fi
printf 'previous=%s\\n' "\${old#releases/}"
if [ -z "$2" ]; then rm -f -- current; exit 0; fi
tmp="current.tmp-$$"
rm -f -- "$tmp"
ln -s "releases/$2" "$tmp"
if ! mv -T -- "$tmp" current 2>/dev/null; then
  perl -e 'rename($ARGV[0], $ARGV[1]) or die "cannot rename $ARGV[0] to $ARGV[1]: $!\\n"' "$tmp" current || {
    rm -f -- "$tmp"; exit 1; }
fi
touch -- "releases/$2"`;

// $3...: releases to keep whatever their age (what the deployment state names).
const PRUNE = `cd -- "$1/releases" 2>/dev/null || exit 0
keep=$2; shift 2
cur=$(readlink ../current 2>/dev/null || true); cur=\${cur#releases/}
n=0
for r in $(ls -1t); do
  n=$((n + 1))
  [ "$r" = "$cur" ] && continue
  for p in "$@"; do [ "$r" = "$p" ] && continue 2; done
  if [ "$n" -gt "$keep" ]; then rm -rf -- "$r" && echo "$r"; fi
done`;

function failed(action: string, path: string, result: RunResult): ProvctlError {
  const reason = result.timedOut
    ? "timed out"
    : result.stderr.trim().split("\n").pop() || `exit code ${result.code}`;
  return new ProvctlError(
    /permission denied|read-only/i.test(reason) ? "PermissionDenied" : "CommandFailed",
    "deploy.release_op_failed",
    { params: { action, path, reason } },
  );
}

function versionOf(link: string): string {
  return link.replace(/^releases\//, "").replace(/\/+$/, "");
}

/** What is deployed under `root` (empty when nothing is). */
export async function listReleases(runner: CommandRunner, root: string): Promise<ReleaseListing> {
  const result = await sh(runner, LIST, [root]);
  if (result.code !== 0) throw failed("list", root, result);
  let current: string | undefined;
  const releases: string[] = [];
  for (const line of result.stdout.split("\n")) {
    if (line.startsWith("current=")) current = versionOf(line.slice(8));
    else if (line.startsWith("release=")) releases.push(line.slice(8));
  }
  return { current, releases };
}

/**
 * Removes what a killed deploy may have left: partial uploads (of other staging ids than
 * `ownId`) and temporary links. Call it holding the machine's target lock.
 */
export async function cleanStale(
  runner: CommandRunner,
  root: string,
  ownId = "",
): Promise<void> {
  const result = await sh(runner, CLEAN, [root, ownId]);
  if (result.code !== 0) throw failed("clean", root, result);
}

/**
 * Puts `artifact` (a local file or directory) in place as releases/<version>; a file
 * lands as releases/<version>/<its name>. An existing release is kept as it is (a
 * version names one content). Returns false when it was already there.
 */
export async function stageRelease(
  runner: CommandRunner,
  options: {
    root: string;
    version: string;
    artifact: string;
    stagingId: string;
    timeoutMs?: number;
  },
): Promise<boolean> {
  const { root, version } = options;
  const listing = await listReleases(runner, root);
  if (listing.releases.includes(version)) return false;
  const staging = `${root}/.staging/${options.stagingId}/${version}`;
  const info = await Deno.stat(options.artifact);
  const name = options.artifact.replace(/\/+$/, "").split("/").pop()!;
  await upload(runner, options.artifact, info.isDirectory ? staging : `${staging}/${name}`, {
    timeoutMs: options.timeoutMs,
  });
  const result = await sh(runner, FINISH, [root, version, staging]);
  if (result.code !== 0) throw failed("install", `${root}/releases/${version}`, result);
  return true;
}

/**
 * Points `current` at releases/<version> atomically (or removes it when `version` is
 * undefined); returns the version it pointed to before.
 */
export async function switchCurrent(
  runner: CommandRunner,
  root: string,
  version: string | undefined,
): Promise<string | undefined> {
  const result = await sh(runner, SWITCH, [root, version ?? ""]);
  if (result.code === 3) {
    throw new ProvctlError("NotFound", "deploy.release_missing", {
      params: { version: version ?? "", root, target: runner.target },
    });
  }
  if (result.code !== 0) throw failed("switch", `${root}/current`, result);
  const line = result.stdout.split("\n").find((l) => l.startsWith("previous="));
  const previous = line?.slice(9) ?? "";
  return previous === "" ? undefined : versionOf(previous);
}

/**
 * Removes all but the `keep` newest releases, never the current one nor those in
 * `protect` (the live and previous versions the deployment state names, which rollback
 * needs); returns the removed.
 */
export async function pruneReleases(
  runner: CommandRunner,
  root: string,
  keep: number,
  protect: readonly string[] = [],
): Promise<string[]> {
  const result = await sh(runner, PRUNE, [root, String(keep), ...protect]);
  if (result.code !== 0) throw failed("prune", `${root}/releases`, result);
  return result.stdout.split("\n").filter(Boolean);
}

/**
 * A version named by the artifact's content: the first 12 hex digits of a SHA-256 over
 * the file, or over every entry of the directory (sorted paths, type, executable bit,
 * content; symlink targets), so the same tree always gets the same version.
 */
export async function artifactVersion(path: string): Promise<string> {
  const info = await Deno.stat(path);
  const parts: Uint8Array<ArrayBuffer>[] = [];
  const enc = new TextEncoder();
  const add = (text: string) => parts.push(enc.encode(text));
  if (!info.isDirectory) {
    parts.push(await Deno.readFile(path));
  } else {
    const walk = async (dir: string, rel: string) => {
      const entries: Deno.DirEntry[] = [];
      for await (const e of Deno.readDir(dir)) entries.push(e);
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        const full = `${dir}/${e.name}`;
        const name = rel === "" ? e.name : `${rel}/${e.name}`;
        if (e.isSymlink) {
          add(`L ${name}\0${await Deno.readLink(full)}\0`);
        } else if (e.isDirectory) {
          add(`D ${name}\0`);
          await walk(full, name);
        } else {
          const st = await Deno.stat(full);
          const data = await Deno.readFile(full);
          add(`F ${name}\0${(st.mode ?? 0) & 0o111 ? "x" : "-"}${data.length}\0`);
          parts.push(data);
        }
      }
    };
    await walk(path, "");
  }
  const digest = await crypto.subtle.digest("SHA-256", await new Blob(parts).arrayBuffer());
  return Array.from(new Uint8Array(digest).slice(0, 6), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}
