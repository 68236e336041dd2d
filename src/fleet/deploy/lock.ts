/**
 * Controller-side state of deployments, in `{state_dir}/deploy/`:
 *
 *   NAME.lock   held (flock) while a deploy or rollback of NAME runs; holds who holds it
 *   NAME.json   the last outcome: live version, the one before, blue-green's live group
 *
 * The lock is an advisory flock on the file, so the kernel releases it when its holder
 * dies (even by SIGKILL): a lock left by a dead process is recovered simply by taking
 * it, and the holder details still in the file say whose it was.
 */
import { ProvctlError } from "../../core/errors.ts";
import type { GroupName } from "./config.ts";

export interface LockHolder {
  readonly pid: number;
  readonly hostname: string;
  readonly user: string;
  readonly deploymentId: string;
  readonly operation: string;
  readonly since: string;
}

export interface DeployLock {
  /** The previous holder, when its lock was left behind without being released. */
  readonly recovered?: LockHolder;
  /**
   * True when that holder is certainly dead (its machine locks may go at once). A flock
   * outlives only its process; a database session may end while its process runs on.
   */
  readonly recoveredDead?: boolean;
  release(): Promise<void>;
}

export interface DeploymentState {
  readonly deployment: string;
  /** The version live on the deployment's machines (blue-green: on the live group). */
  readonly version?: string;
  /** The version before it (the default target of `provctl rollback`). */
  readonly previous?: string;
  readonly deploymentId?: string;
  readonly result?: string;
  readonly updated?: string;
  /** Blue-green: the group taking traffic and the version each group runs. */
  readonly live?: GroupName;
  readonly groups?: Partial<Record<GroupName, string>>;
}

export function holderText(h: LockHolder): string {
  return `pid ${h.pid} on ${h.hostname} (user ${
    h.user || "?"
  }, ${h.operation} ${h.deploymentId}, since ${h.since})`;
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const v = JSON.parse(text);
    return typeof v?.pid === "number" ? v as LockHolder : undefined;
  } catch {
    return undefined;
  }
}

async function readAll(file: Deno.FsFile): Promise<string> {
  await file.seek(0, Deno.SeekMode.Start);
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await file.read(buf);
    if (n === null || n === 0) break;
    chunks.push(buf.slice(0, n));
  }
  return new TextDecoder().decode(await new Blob(chunks).bytes());
}

/**
 * Takes the lock of deployment `name`, waiting up to `waitMs` for a live holder; then a
 * Locked error naming the holder.
 */
export async function acquireDeployLock(
  stateDir: string,
  name: string,
  options: { deploymentId: string; operation: string; user: string; waitMs?: number },
): Promise<DeployLock> {
  const dir = `${stateDir}/deploy`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const path = `${dir}/${name}.lock`;
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  const deadline = Date.now() + (options.waitMs ?? 0);
  for (;;) {
    let locked = false;
    try {
      locked = await file.tryLock(true);
    } catch (cause) {
      file.close();
      throw new ProvctlError("CommandFailed", "deploy.lock_failed", {
        params: { path, reason: (cause as Error).message },
        cause,
      });
    }
    if (locked) break;
    if (Date.now() >= deadline) {
      const holder = parseHolder(await readAll(file).catch(() => ""));
      file.close();
      throw new ProvctlError("Locked", "deploy.locked", {
        params: { deployment: name, holder: holder ? holderText(holder) : "unknown", path },
        hint: "deploy.locked_hint",
      });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // We hold the flock: whatever the file still says is from a holder that died.
  const recovered = parseHolder(await readAll(file));
  const me: LockHolder = {
    pid: Deno.pid,
    hostname: Deno.hostname(),
    user: options.user,
    deploymentId: options.deploymentId,
    operation: options.operation,
    since: new Date().toISOString(),
  };
  await file.truncate(0);
  await file.seek(0, Deno.SeekMode.Start);
  await file.write(new TextEncoder().encode(JSON.stringify(me) + "\n"));
  await file.syncData();
  let released = false;
  return {
    recovered,
    recoveredDead: recovered !== undefined,
    async release() {
      if (released) return;
      released = true;
      try {
        await file.truncate(0);
        await file.syncData();
      } finally {
        file.close(); // releases the flock
      }
    },
  };
}

function statePath(stateDir: string, name: string): string {
  return `${stateDir}/deploy/${name}.json`;
}

export async function readDeploymentState(
  stateDir: string,
  name: string,
): Promise<DeploymentState | undefined> {
  const path = statePath(stateDir, name);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new ProvctlError("CommandFailed", "deploy.state_unreadable", {
      params: { path, reason: (e as Error).message },
    });
  }
  try {
    return JSON.parse(text) as DeploymentState;
  } catch (e) {
    throw new ProvctlError("CommandFailed", "deploy.state_unreadable", {
      params: { path, reason: (e as Error).message },
    });
  }
}

/** Writes the state atomically (temp file, fsync, rename). */
export async function writeDeploymentState(
  stateDir: string,
  state: DeploymentState,
): Promise<void> {
  const path = statePath(stateDir, state.deployment);
  await Deno.mkdir(`${stateDir}/deploy`, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${Deno.pid}.tmp`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
  try {
    await file.write(new TextEncoder().encode(JSON.stringify(state, null, 2) + "\n"));
    await file.syncData();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
}
