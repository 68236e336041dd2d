/**
 * The lock on a deployment's target machines: before a deploy or rollback changes any
 * machine, it creates `<deploy root>/.provctl-lock/` on every machine it will touch
 * (mkdir is atomic: of two controllers exactly one creates it) with a `holder` file
 * saying who (controller host, user, pid, deployment id, operation, since). Machines are
 * locked one by one in name order, so two controllers never hold a part each and wait
 * for one another; the second is refused at the first machine it finds locked, and
 * releases what it took. The controller-side flock (lock.ts) only keeps apart the
 * controllers sharing one state dir; this one works between any controllers.
 *
 * A lock is released at the end (also on failure and on SIGINT/SIGTERM; only by its
 * holder: the holder file must still name its deployment id). A lock whose holder died
 * (SIGKILL, a lost laptop) stays until it is older than `expiryMs` (its age is measured
 * by the machine's own clock) and is then broken by the next deploy, or is broken by
 * `provctl deploy unlock NAME`; a run that recovered the controller lock of a dead run
 * (same state dir) breaks that run's locks at once, its death being certain. Breaking only removes the lock it read (the holder text
 * must still match), so a lock taken again meanwhile is left alone.
 */
import { ProvctlError } from "../../core/errors.ts";
import { sh } from "../../exec/host_fs.ts";
import type { CommandRunner, RunResult } from "../../exec/runner.ts";

export const LOCK_DIR = ".provctl-lock";

export interface TargetLockHolder {
  readonly controller: string;
  readonly user: string;
  readonly pid: number;
  readonly deployment_id: string;
  readonly operation: string;
  readonly since: string;
}

/** A machine to lock: its runner (labelled for the audit log by the caller) and root. */
export interface LockTarget {
  readonly name: string;
  readonly root: string;
  /** The runner for `op` (deploy.lock, deploy.unlock, ...), so each step is audited. */
  runner(op: string): CommandRunner;
}

/** What a machine's lock directory holds. */
export interface LockState {
  /** The holder file as written (undefined when the holder died before writing it). */
  readonly text?: string;
  readonly holder?: TargetLockHolder;
  /** Seconds since the lock was taken, by the machine's clock. */
  readonly ageSeconds: number;
}

// sh: the age (GNU or BSD stat) and holder of the lock directory "$lock".
const PRINT_LOCK = `now=$(date +%s)
m=$(stat -c %Y -- "$lock" 2>/dev/null || stat -f %m -- "$lock" 2>/dev/null || echo "$now")
printf 'age=%s\\n' "$((now - m))"
cat -- "$lock/holder" 2>/dev/null`;

// $1 root, $2 holder line. Exit 0: taken; 3: held (age and holder printed); 4: failed.
const ACQUIRE = `root=$1; lock="$root/${LOCK_DIR}"
mkdir -p -- "$root" || exit 4
if mkdir -- "$lock" 2>/dev/null; then
  if printf '%s\\n' "$2" > "$lock/holder.tmp" && mv -f -- "$lock/holder.tmp" "$lock/holder"; then
    exit 0
  fi
  rm -rf -- "$lock"; exit 4
fi
${PRINT_LOCK}
exit 3`;

// $1 root: prints the lock's age and holder (exit 0), or exit 1 when there is none.
const READ = `lock="$1/${LOCK_DIR}"
[ -d "$lock" ] || exit 1
${PRINT_LOCK}
exit 0`;

// $1 root, $2 the holder text read before ("" = no holder file), $3 a unique suffix.
// Moved aside first (atomic), so a lock taken again meanwhile is never removed.
const BREAK = `lock="$1/${LOCK_DIR}"
cur=$(cat -- "$lock/holder" 2>/dev/null || true)
[ "$cur" = "$2" ] || exit 3
mv -- "$lock" "$lock.broken-$3" 2>/dev/null || exit 3
rm -rf -- "$lock.broken-$3"`;

// $1 root, $2 our deployment id: removed only while the holder file names it.
const RELEASE = `lock="$1/${LOCK_DIR}"
cur=$(cat -- "$lock/holder" 2>/dev/null) || exit 0
case $cur in *"\\"deployment_id\\":\\"$2\\""*) ;; *) exit 0 ;; esac
mv -- "$lock" "$lock.released-$$" 2>/dev/null || exit 0
rm -rf -- "$lock.released-$$"`;

function parseState(stdout: string): LockState {
  const [first, ...rest] = stdout.split("\n");
  const ageSeconds = Number(/^age=(-?\d+)$/.exec(first)?.[1] ?? 0);
  const text = rest.join("\n").replace(/\n+$/, "");
  let holder: TargetLockHolder | undefined;
  try {
    const v = JSON.parse(text);
    if (typeof v?.deployment_id === "string") holder = v as TargetLockHolder;
  } catch { /* no holder file, or not ours to read */ }
  return { text: text === "" ? undefined : text, holder, ageSeconds: Math.max(0, ageSeconds) };
}

function opFailed(action: string, target: LockTarget, result: RunResult): ProvctlError {
  const reason = result.timedOut
    ? "timed out"
    : result.stderr.trim().split("\n").pop() || `exit code ${result.code}`;
  return new ProvctlError("CommandFailed", "deploy.target_lock_failed", {
    params: { action, machine: target.name, path: `${target.root}/${LOCK_DIR}`, reason },
  });
}

/** "pid 42 on ci-1 (user ci, deploy web-2026..., since ...)" for messages. */
export function holderText(state: LockState): string {
  const h = state.holder;
  if (!h) return `an unknown holder (no holder file), taken ${state.ageSeconds}s ago`;
  return `pid ${h.pid} on ${h.controller} (user ${
    h.user || "?"
  }, ${h.operation} ${h.deployment_id}, since ${h.since})`;
}

/** The lock on `target`, if there is one. */
export async function readTargetLock(target: LockTarget): Promise<LockState | undefined> {
  const result = await sh(target.runner("deploy.lock"), READ, [target.root], { probe: true });
  if (result.code === 1) return undefined;
  if (result.code !== 0) throw opFailed("read", target, result);
  return parseState(result.stdout);
}

/** Breaks the lock described by `seen` (read before); false when it changed meanwhile. */
export async function breakTargetLock(
  target: LockTarget,
  seen: LockState,
  op = "deploy.unlock",
): Promise<boolean> {
  const suffix = crypto.randomUUID().slice(0, 8);
  const result = await sh(target.runner(op), BREAK, [target.root, seen.text ?? "", suffix]);
  if (result.code === 3) return false;
  if (result.code !== 0) throw opFailed("break", target, result);
  return true;
}

export interface TargetLocks {
  /** The locks broken because they had expired (for the caller to report). */
  readonly broken: readonly { machine: string; state: LockState }[];
  /** Removes every lock this run took (only those still naming its deployment id). */
  release(): Promise<void>;
}

/**
 * Locks every target (in name order) for `holder`, breaking expired locks. On a live
 * lock, releases what it took and throws a Locked error naming machine and holder.
 */
export async function lockTargets(
  targets: readonly LockTarget[],
  holder: TargetLockHolder,
  options: {
    expiryMs: number;
    deployment: string;
    /** Deployment ids whose runs are known to be dead (their controller lock was recovered). */
    deadRuns?: readonly string[];
    onBroken?: (machine: string, state: LockState) => void;
    /** Aborted (Ctrl-C): stop taking locks, give back those taken, throw. */
    signal?: AbortSignal;
  },
): Promise<TargetLocks> {
  const ordered = [...targets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const line = JSON.stringify(holder);
  const taken: LockTarget[] = [];
  const broken: { machine: string; state: LockState }[] = [];
  const release = async () => {
    // Newest first; every machine is tried even when one cannot be reached.
    const errors: unknown[] = [];
    for (const t of taken.splice(0).reverse()) {
      try {
        const r = await sh(t.runner("deploy.unlock"), RELEASE, [t.root, holder.deployment_id]);
        if (r.code !== 0) errors.push(opFailed("release", t, r));
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
  };
  try {
    for (const target of ordered) {
      options.signal?.throwIfAborted();
      for (let attempt = 0;; attempt++) {
        // A refused lock is recorded as a failed deploy.lock (with the holder's exit 3).
        const result = await sh(target.runner("deploy.lock"), ACQUIRE, [target.root, line]);
        if (result.code === 0) {
          taken.push(target);
          break;
        }
        if (result.code !== 3) throw opFailed("take", target, result);
        const state = parseState(result.stdout);
        const dead = state.holder !== undefined &&
          (options.deadRuns ?? []).includes(state.holder.deployment_id);
        const expired = dead ||
          (options.expiryMs > 0 && state.ageSeconds * 1000 > options.expiryMs);
        if (expired && attempt === 0 && await breakTargetLock(target, state, "deploy.lock_break")) {
          broken.push({ machine: target.name, state });
          options.onBroken?.(target.name, state);
          continue;
        }
        throw new ProvctlError("Locked", "deploy.target_locked", {
          params: {
            deployment: options.deployment,
            machine: target.name,
            holder: holderText(state),
            path: `${target.root}/${LOCK_DIR}`,
            minutes: Math.round(options.expiryMs / 60000),
          },
          hint: "deploy.target_locked_hint",
        });
      }
    }
  } catch (error) {
    await release().catch(() => {});
    throw error;
  }
  return { broken, release };
}
