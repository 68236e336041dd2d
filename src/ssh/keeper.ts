/**
 * The connection keeper (`provctl __keeper DIR`, started by the first invocation that
 * connects): a per-user background process holding pooled SSH connections (jump chains
 * included) between provctl invocations, like OpenSSH's ControlPersist master. Each
 * request on its Unix socket runs one command through an SshRunner on the keeper's
 * pool, so host keys are checked here exactly as on a direct connection, and a pooled
 * connection that died while idle is replaced once, as in one process.
 *
 * Connections are shared only between requests with the same plan hash (the resolved
 * plan plus known_hosts and ssh_config contents); they close after persist_ms unused,
 * and the keeper exits when it holds none, when its socket is removed or replaced, or
 * when asked to stop.
 */
import { SshRunner } from "./ssh_runner.ts";
import type { StreamingProcess } from "../exec/runner.ts";
import {
  checkKeeperDir,
  frameWriter,
  fromBase64,
  type HeldConnection,
  type KeeperControl,
  type KeeperFrame,
  keeperLock,
  type KeeperRequest,
  type KeeperSignal,
  keeperSocket,
  readFrames,
  toBase64,
  toWireError,
} from "./_keeper_wire.ts";
import { SshPool } from "./pool.ts";
import { poolOptionsFrom, runnerTimeoutsFrom } from "./settings.ts";

/** How long a keeper with no connection waits for its first (or next) request. */
const EMPTY_GRACE_MS = 10_000;
const CHECK_EVERY_MS = 500;

interface PoolSlot {
  readonly pool: SshPool;
  /** The env of the latest request (auth variables for new connections). */
  env: Readonly<Record<string, string>>;
  /** Writers of the requests now using this pool (host key notices go to them). */
  readonly listeners: Set<(frame: KeeperFrame) => void>;
  active: number;
}

export async function runKeeper(dir: string): Promise<void> {
  closeInherited();
  if (!(await checkKeeperDir(dir))) return;
  const path = keeperSocket(dir);
  const claimed = await underLock(dir, () => listen(path));
  if (!claimed) return; // another keeper answers on this socket
  const { listener, own } = claimed;
  const slots = new Map<string, PoolSlot>();
  let active = 0;
  let lastBusy = Date.now();
  let stopping = false;
  let closeNow = false;
  // Resolved once the socket is gone and every connection closed: a "stop" client waits
  // for it, so that nothing of the keeper's is left when `hosts connections --close` ends.
  const finished = Promise.withResolvers<void>();

  /** `now`: `hosts connections --close` closes running commands' connections too. */
  const stop = (now = false) => {
    closeNow ||= now;
    if (stopping) return;
    stopping = true;
    try {
      listener.close();
    } catch { /* closed */ }
  };

  const watchdog = setInterval(async () => {
    // Gone or replaced socket (stale-socket recovery by another keeper, or cleanup).
    const now = await Deno.lstat(path).catch(() => undefined);
    if (!now || now.ino !== own.ino) return stop();
    const held = [...slots.values()].reduce((n, s) => n + s.pool.held().length, 0);
    if (active > 0 || held > 0) lastBusy = Date.now();
    else if (Date.now() - lastBusy > EMPTY_GRACE_MS / (slots.size > 0 ? 10 : 1)) stop();
  }, CHECK_EVERY_MS);

  const slotFor = (request: KeeperRequest): PoolSlot => {
    const key = JSON.stringify([
      request.hash,
      request.settings,
      request.stateDir,
      request.persistMs,
    ]);
    let slot = slots.get(key);
    if (!slot) {
      const listeners = new Set<(frame: KeeperFrame) => void>();
      const tell = (frame: KeeperFrame) => listeners.forEach((l) => l(frame));
      const holder: { env: Readonly<Record<string, string>> } = { env: request.env };
      const options = poolOptionsFrom(request.settings, {
        stateDir: request.stateDir,
        connect: {
          // The latest request's variables, the agent too (absent: no agent, never the
          // keeper's own): a slot first used by a job without one serves later logins.
          env: (name) => holder.env[name],
          // No terminal here: a key or password that needs typing fails with a clear note.
          prompt: () => Promise.resolve(undefined),
          onHostKey: (where, endpoint, verdict) => {
            if (verdict.status === "unverified") {
              tell({
                t: "notice",
                kind: "security",
                key: "ssh.host_key_unverified",
                params: { where, host: endpoint.host },
              });
            } else if (verdict.status === "added") {
              tell({
                t: "notice",
                kind: "note",
                key: "ssh.host_key_added",
                params: { where, file: verdict.file },
              });
            }
          },
          onKeyIgnored: (key, params) => tell({ t: "notice", kind: "security", key, params }),
        },
      });
      slot = {
        pool: new SshPool({
          ...options,
          idleTimeoutMs: request.persistMs,
          onRetry: (target, error, retry, delayMs) =>
            tell({ t: "retry", target, error: toWireError(error), retry, delayMs }),
        }),
        listeners,
        active: 0,
        get env() {
          return holder.env;
        },
        set env(value) {
          holder.env = value;
        },
      };
      slots.set(key, slot);
    }
    slot.env = request.env;
    return slot;
  };

  const list = (): HeldConnection[] =>
    [...slots.values()].flatMap((slot) =>
      slot.pool.held().map((h) => ({
        target: h.key.split(" > ").pop() ?? h.key,
        chain: h.key,
        idle: h.idle,
        busy: h.busy,
        created: h.stats.created,
        reused: h.stats.reused,
      }))
    );

  const serve = async (conn: Deno.Conn) => {
    const write = frameWriter(conn);
    const frames = readFrames<KeeperRequest | KeeperControl | KeeperSignal>(conn);
    // Busy from accept: a client whose request is still on its way keeps the keeper.
    active++;
    try {
      const first = await frames.next();
      if (first.done) return;
      const request = first.value;
      if (request.op === "list") return await write({ t: "list", connections: list() });
      if (request.op === "stop") {
        await write({ t: "stopping" });
        stop(true);
        return await finished.promise;
      }
      // A retiring keeper takes no new command: closed before "started", the client
      // knows nothing ran and runs it directly.
      if (request.op !== "run" || stopping) return;
      await write({ t: "started" });
      // Run only on the client's "go": one that gave up waiting for the ack (and runs
      // the command itself) closes instead, and nothing runs here.
      const go = await frames.next();
      if (go.done || !("op" in go.value) || go.value.op !== "go") return;
      const slot = slotFor(request);
      slot.active++;
      const listener = (frame: KeeperFrame) => void write(frame).catch(() => {});
      slot.listeners.add(listener);
      try {
        await runOne(slot, request, write, frames);
      } finally {
        slot.listeners.delete(listener);
        slot.active--;
      }
    } catch {
      /* the client went away */
    } finally {
      active--;
      lastBusy = Date.now();
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };

  try {
    for await (const conn of listener) void serve(conn);
  } catch { /* listener closed */ }
  clearInterval(watchdog);
  // Our socket only: a keeper that replaced it (under the same lock) keeps its own.
  await underLock(dir, async () => {
    const current = await Deno.lstat(path).catch(() => undefined);
    if (current?.ino === own.ino) await Deno.remove(path).catch(() => {});
  });
  // Otherwise commands already running finish (each is bounded by its own timeouts)
  // before their connections close.
  while (active > 0 && !closeNow) await new Promise((r) => setTimeout(r, 50));
  await Promise.all([...slots.values()].map((slot) => slot.pool.close()));
  finished.resolve();
}

/** Runs the request's command, forwarding output and the exit; a client EOF kills it. */
async function runOne(
  slot: PoolSlot,
  request: KeeperRequest,
  write: (frame: KeeperFrame) => Promise<void>,
  frames: AsyncGenerator<KeeperRequest | KeeperControl | KeeperSignal>,
): Promise<void> {
  const runner = new SshRunner({
    plan: request.plan,
    pool: slot.pool,
    ...runnerTimeoutsFrom(request.settings),
  });
  const { options } = request;
  const runOptions = {
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.stdin !== undefined ? { stdin: fromBase64(options.stdin) } : {}),
  };
  let proc: StreamingProcess;
  try {
    proc = request.command.kind === "argv"
      ? runner.stream(request.command.program, request.command.args, runOptions)
      : runner.streamShell(request.command.script, runOptions);
  } catch (error) {
    await write({ t: "error", error: toWireError(error) });
    return;
  }
  // A "kill" from the client, or the client going away, stops the command, but only
  // while it runs: the group of a finished command may be its daemon's (pidfile start).
  let finished = false;
  const stopIt = () => {
    if (!finished) proc.kill();
  };
  void (async () => {
    try {
      for await (const frame of frames) if ("op" in frame && frame.op === "kill") stopIt();
    } catch { /* reset */ }
    stopIt();
  })();
  const pump = async (stream: ReadableStream<Uint8Array>, t: "out" | "err") => {
    for await (const chunk of stream) await write({ t, d: toBase64(chunk) });
  };
  const pumping = Promise.all([pump(proc.stdout, "out"), pump(proc.stderr, "err")]).catch(() => {});
  try {
    const exit = await proc.done.finally(() => finished = true);
    await pumping;
    await write({ t: "exit", code: exit.code, signal: exit.signal, timedOut: exit.timedOut });
  } catch (error) {
    await pumping;
    await write({ t: "error", error: toWireError(error) });
  }
}

/**
 * Runs `fn` holding the dir's lock file (flock), so that two keepers starting at once
 * cannot both find the socket stale and each remove the other's; a killed holder's lock
 * is released by the kernel.
 */
async function underLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const file = await Deno.open(keeperLock(dir), {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close(); // releases the lock
  }
}

/**
 * Closes the descriptors the keeper inherited from the invocation that started it
 * beyond stdio (a shell's process substitution, make's jobserver, a test harness's
 * pipe): a daemon holding them would keep whoever waits for their end waiting for as
 * long as it runs. They are the ones without close-on-exec (Deno opens its own with
 * it). Linux only (/proc), and only where FFI is allowed; elsewhere they stay open.
 */
function closeInherited(): void {
  if (Deno.build.os !== "linux") return;
  let inherited: number[];
  try {
    inherited = [...Deno.readDirSync("/proc/self/fdinfo")]
      .map((entry) => Number(entry.name))
      .filter((fd) => fd > 2 && !closeOnExec(fd));
  } catch {
    return;
  }
  if (inherited.length === 0) return;
  try {
    const libc = Deno.dlopen("libc.so.6", { close: { parameters: ["i32"], result: "i32" } });
    for (const fd of inherited) libc.symbols.close(fd);
    libc.close();
  } catch { /* no FFI permission or no glibc: left open */ }
}

function closeOnExec(fd: number): boolean {
  try {
    const info = Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`);
    const flags = /^flags:\s*([0-7]+)/m.exec(info)?.[1];
    // O_CLOEXEC (02000000): unknown flags count as Deno's own, never closed.
    return flags === undefined || (parseInt(flags, 8) & 0o2000000) !== 0;
  } catch {
    return true; // the directory listing's own descriptor, already closed
  }
}

/**
 * Listens on the socket, replacing a stale one; undefined when a live keeper has it.
 * The socket is bound under a name of its own, made private, then renamed into place:
 * Deno's listener close() unlinks the path it was bound to, which must never be the
 * shared name (it may by then be another keeper's socket).
 */
async function listen(
  path: string,
): Promise<{ listener: Deno.Listener; own: Deno.FileInfo } | undefined> {
  try {
    (await Deno.connect({ transport: "unix", path })).close();
    return undefined;
  } catch { /* none, or a stale socket of a keeper that died */ }
  const bound = `${path}.${Deno.pid}`;
  await Deno.remove(bound).catch(() => {});
  const listener = Deno.listen({ transport: "unix", path: bound });
  try {
    await Deno.chmod(bound, 0o600);
    await Deno.rename(bound, path);
    return { listener, own: await Deno.lstat(path) };
  } catch (error) {
    listener.close();
    throw error;
  }
}
