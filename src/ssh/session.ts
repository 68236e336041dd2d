/**
 * An authenticated SSH connection to a target, opened directly or through a chain of jump
 * hosts (each hop's direct-tcpip channel is the next hop's socket). Every hop's host key
 * is verified against known_hosts like the target's, and every failure names where it
 * happened ("hop 1 of 2 (bastion:22)") and which timeout expired (connect, auth).
 */
import { ProvctlError } from "../core/errors.ts";
import { embeddedMessages, Messages } from "../config/messages.ts";
import { type AuthOptions, createAuthHandler } from "./auth.ts";
import type { HostKeyCheck, HostKeyVerdict } from "./known_hosts.ts";
import {
  answerEachChunk,
  loadSsh2,
  skipRedundantEnd,
  type Ssh2Channel,
  type Ssh2Client,
  type Ssh2Module,
} from "./_ssh2.ts";
import { type ConnectionPlan, type Endpoint, planKey } from "./_plan.ts";

export interface ConnectOptions extends AuthOptions {
  /** Host key algorithms offered first (those of the keys recorded for the host). */
  readonly preferredHostKeys?: readonly string[];
  /** TCP connect + SSH handshake (incl. host key check) of each hop; default 10000. */
  readonly connectTimeoutMs?: number;
  /** User authentication of each hop; default 15000 (paused while a prompt is shown). */
  readonly authTimeoutMs?: number;
  /** Keepalive interval when ssh_config has no ServerAliveInterval; 0 = off. */
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveCountMax?: number;
  readonly signal?: AbortSignal;
  /**
   * Told about each host key decision. Default: a warning on stderr for policy "off"
   * (every time, as the issue asks) and a notice when accept-new recorded a key.
   */
  readonly onHostKey?: (where: string, endpoint: Endpoint, verdict: HostKeyVerdict) => void;
}

const DEFAULT_CONNECT_MS = 10_000;
const DEFAULT_AUTH_MS = 15_000;
const CHANNEL_OPEN_TIMEOUT_MS = 15_000;

/** Message keys of failures worth retrying (transient network conditions). */
export const TRANSIENT_KEYS: ReadonlySet<string> = new Set([
  "ssh.connection_refused",
  "ssh.connection_reset",
  "ssh.dns_failed",
  "ssh.host_unreachable",
  "ssh.jump_open_failed",
  "ssh.timeout",
  "ssh.handshake_timeout",
]);

/** The exit message of a remote command: a code, or the name of the killing signal. */
export type ExitStatus = { code: number; signal?: undefined } | { code: null; signal: string };

/** A started remote command. */
export interface ExecHandle {
  readonly channel: Ssh2Channel;
  /** Resolves when the channel closes: the exit status, or undefined when none came. */
  readonly finished: Promise<ExitStatus | undefined>;
}

export class SshSession {
  readonly plan: ConnectionPlan;
  /** The pool key: every hop and the target. */
  readonly key: string;
  readonly #clients: Ssh2Client[];
  #closed = false;
  #closeReason: string | undefined;
  readonly #closeWaiters: (() => void)[] = [];

  constructor(plan: ConnectionPlan, clients: Ssh2Client[]) {
    this.plan = plan;
    this.key = planKey(plan);
    this.#clients = clients;
    clients.forEach((client, i) => {
      const onGone = (reason: string) => {
        this.#closeReason ??= reason;
        this.close();
      };
      client.on("error", (error) => onGone(error.message));
      client.on(
        "close",
        () => onGone(i === clients.length - 1 ? "connection closed" : `hop ${i + 1} closed`),
      );
    });
  }

  /** True once the connection (or any hop under it) is gone. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves when the connection closes, with why. */
  whenClosed(): Promise<string> {
    if (this.#closed) return Promise.resolve(this.#closeReason ?? "closed");
    return new Promise((resolve) =>
      this.#closeWaiters.push(() => resolve(this.#closeReason ?? "closed"))
    );
  }

  /** Opens a session channel running `command` through the remote login shell. */
  exec(command: string): Promise<ExecHandle> {
    const client = this.#clients[this.#clients.length - 1];
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(lostError(this.plan, this.#closeReason ?? "closed"));
      // A connection that died without a FIN never answers: give up on it.
      const timer = setTimeout(() => {
        this.#closeReason ??= "no answer when opening a channel";
        this.close();
        reject(lostError(this.plan, this.#closeReason));
      }, CHANNEL_OPEN_TIMEOUT_MS);
      try {
        client.exec(command, {}, (error, channel) => {
          clearTimeout(timer);
          if (error) return reject(lostError(this.plan, error.message));
          skipRedundantEnd(channel);
          // Listen right here: exit and close can arrive in the same read as the
          // channel confirmation, before the caller's code runs again.
          let status: ExitStatus | undefined;
          channel.on("exit", (code, signal) => {
            status = typeof code === "number"
              ? { code }
              : { code: null, signal: signal ?? "unknown" };
          });
          channel.on("error", () => {/* followed by close */});
          const finished = new Promise<ExitStatus | undefined>((done) => {
            channel.on("close", () => done(status));
          });
          resolve({ channel, finished });
        });
      } catch (error) {
        clearTimeout(timer);
        reject(lostError(this.plan, error instanceof Error ? error.message : String(error)));
      }
    });
  }

  /** Ends the target connection, then the hops from the last to the first. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason ??= "closed by provctl";
    for (const client of [...this.#clients].reverse()) {
      try {
        client.end();
      } catch { /* already gone */ }
    }
    for (const waiter of this.#closeWaiters.splice(0)) waiter();
  }
}

function lostError(plan: ConnectionPlan, reason: string): ProvctlError {
  return new ProvctlError("ConnectionFailed", "ssh.connection_lost", {
    params: { where: whereOf(plan, plan.hops.length), reason },
  });
}

/** "hop 1 of 2 (bastion:22)" or the target's "web1:22" (with "target " when jumping). */
export function whereOf(plan: ConnectionPlan, index: number): string {
  const endpoint = index < plan.hops.length ? plan.hops[index] : plan.target;
  const name = `${
    endpoint.alias.includes(":") ? `[${endpoint.alias}]` : endpoint.alias
  }:${endpoint.port}`;
  if (index < plan.hops.length) return `hop ${index + 1} of ${plan.hops.length} (${name})`;
  return plan.hops.length > 0 ? `target ${name}` : name;
}

/** Connects through every hop to the target and authenticates on each. */
export async function connectSession(
  plan: ConnectionPlan,
  options: ConnectOptions = {},
): Promise<SshSession> {
  // Loaded here, not at module load: node:crypto and ssh2 cost ~25 + ~60 ms of start-up
  // that commands without --host should not pay.
  const [ssh2, { verifyHostKey, knownHostKeyTypes }] = await Promise.all([
    loadSsh2(),
    import("./known_hosts.ts"),
  ]);
  const endpoints = [...plan.hops, plan.target];
  const clients: Ssh2Client[] = [];
  try {
    for (const [i, endpoint] of endpoints.entries()) {
      const where = whereOf(plan, i);
      const previous = clients[i - 1];
      // As OpenSSH: the host key algorithms of the keys recorded for the host come first,
      // so a host known by its ECDSA or RSA key is not asked for its ed25519 one (which
      // would be "another type than recorded", and refused).
      const recorded = await knownHostKeyTypes({
        host: endpoint.host,
        port: endpoint.port,
        knownHostsFiles: [...endpoint.knownHostsFiles],
        globalKnownHostsFiles: [...endpoint.globalKnownHostsFiles ?? []],
        hostKeyAlias: endpoint.hostKeyAlias,
      }).catch(() => []);
      const client = await connectOne(ssh2, verifyHostKey, endpoint, where, previous, {
        ...options,
        preferredHostKeys: hostKeyAlgorithmsFor(recorded),
      });
      clients.push(client);
    }
  } catch (error) {
    for (const client of clients.reverse()) {
      try {
        client.end();
      } catch { /* ignore */ }
    }
    throw error;
  }
  return new SshSession(plan, clients);
}

/** Host key algorithms ssh2 offers (its defaults): the only ones that may be reordered. */
const HOST_KEY_ALGORITHMS = new Set([
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
]);

/** The host key algorithms of recorded key types ("ssh-rsa" keys sign with SHA-2 first). */
function hostKeyAlgorithmsFor(types: readonly string[]): string[] {
  const algorithms = types.flatMap((t) =>
    t === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", t] : [t]
  );
  return [...new Set(algorithms)].filter((a) => HOST_KEY_ALGORITHMS.has(a));
}

async function connectOne(
  ssh2: Ssh2Module,
  verifyHostKey: (check: HostKeyCheck) => Promise<HostKeyVerdict>,
  endpoint: Endpoint,
  where: string,
  via: Ssh2Client | undefined,
  options: ConnectOptions,
): Promise<Ssh2Client> {
  const connectMs = endpoint.connectTimeoutMs ?? options.connectTimeoutMs ?? DEFAULT_CONNECT_MS;
  const authMs = options.authTimeoutMs ?? DEFAULT_AUTH_MS;
  const deadline = new Deadline();
  try {
    deadline.start(timeoutError("connect", where, connectMs), connectMs);
    const abort = abortPromise(options.signal, where);
    const opening = via ? forwardVia(via, endpoint, where) : tcpConnect(endpoint, where);
    let sock: unknown;
    try {
      sock = await Promise.race([opening, deadline.expired, abort]);
    } catch (error) {
      // A socket or channel that opens after the deadline is closed right away.
      opening.then((late) => (late as { destroy(): void }).destroy(), () => {});
      throw error;
    }
    const client = new ssh2.Client();
    let hostKeyError: unknown;
    let phase: "handshake" | "auth" = "handshake";
    // The TCP connection is up: from here the connect timeout bounds the SSH handshake
    // (banner + key exchange + host key check), as OpenSSH's ConnectTimeout does. A port
    // that accepts and never speaks SSH is a handshake timeout, not a command's.
    let banner = false;
    (sock as { once(event: "data", listener: () => void): void }).once("data", () => {
      banner = true;
    });
    deadline.retarget(() =>
      new ProvctlError("Timeout", "ssh.handshake_timeout", {
        params: {
          which: "connect",
          where,
          ms: connectMs,
          stage: messageText(banner ? "ssh.handshake_stage_kex" : "ssh.handshake_stage_banner"),
        },
        hint: "ssh.handshake_timeout_hint",
      })
    );
    const { handler, report } = createAuthHandler(ssh2, endpoint, {
      ...options,
      onPrompt: (active) => {
        if (active) deadline.pause();
        else deadline.resume();
        options.onPrompt?.(active);
      },
    });
    const ready = new Promise<Ssh2Client>((resolve, reject) => {
      client.on("handshake", () => {
        phase = "auth";
        deadline.start(timeoutError("auth", where, authMs), authMs);
      });
      client.once("ready", () => resolve(client));
      client.on("error", (error) => {
        if (hostKeyError !== undefined) return reject(hostKeyError);
        reject(mapClientError(error, where, phase, endpoint, report));
      });
      client.once("close", () => {
        if (hostKeyError !== undefined) return reject(hostKeyError);
        reject(
          new ProvctlError("ConnectionFailed", "ssh.connection_reset", {
            params: {
              where,
              reason: `the server closed the connection during the ${
                phase === "auth" ? "authentication" : "handshake"
              }`,
            },
          }),
        );
      });
    });
    client.connect({
      sock,
      username: endpoint.user,
      readyTimeout: 0, // provctl's own connect/auth deadlines name which one expired
      keepaliveInterval: endpoint.keepaliveIntervalMs ?? options.keepaliveIntervalMs ?? 0,
      keepaliveCountMax: endpoint.keepaliveCountMax ?? options.keepaliveCountMax ?? 3,
      authHandler: handler,
      ...(options.preferredHostKeys && options.preferredHostKeys.length > 0
        // ssh2's "prepend" skips what its list already holds: take them out first.
        ? {
          algorithms: {
            serverHostKey: {
              remove: [...options.preferredHostKeys],
              prepend: [...options.preferredHostKeys],
            },
          },
        }
        : {}),
      hostVerifier: (key, verify) => {
        verifyHostKey({
          host: endpoint.host,
          port: endpoint.port,
          keyBlob: new Uint8Array(key),
          knownHostsFiles: [...endpoint.knownHostsFiles],
          globalKnownHostsFiles: [...endpoint.globalKnownHostsFiles ?? []],
          policy: endpoint.hostKeyPolicy,
          hostKeyAlias: endpoint.hostKeyAlias,
          revokedHostKeys: endpoint.revokedHostKeys,
        }).then((verdict) => {
          (options.onHostKey ?? defaultHostKeyNotice)(where, endpoint, verdict);
          answer(true);
        }, (error) => {
          hostKeyError = error instanceof ProvctlError
            ? error.withContext(`connecting to ${where}`)
            : error;
          answer(false);
        });
        // Answered from a fresh task: a verdict that resolves at once can otherwise reach
        // ssh2 re-entrantly (microtasks run inside Deno's lazy module loads during key
        // exchange), where ssh2 drops it and the handshake hangs.
        function answer(ok: boolean) {
          setTimeout(() => verify(ok), 0);
        }
      },
    });
    try {
      return await Promise.race([ready, deadline.expired, abort]);
    } catch (error) {
      client.destroy();
      throw error;
    }
  } finally {
    deadline.stop();
  }
}

/**
 * A TCP connection with Nagle off (each command is ~15x slower with it on) whose writes
 * of one synchronous burst leave as one send(2).
 */
async function tcpConnect(endpoint: Endpoint, where: string): Promise<unknown> {
  const [net, { Buffer }] = await Promise.all([import("node:net"), import("node:buffer")]);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: endpoint.host, port: endpoint.port });
    const onError = (error: Error & { code?: string }) => {
      socket.destroy();
      reject(mapSocketError(error, where));
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      socket.off("error", onError);
      socket.setNoDelay(true);
      batchWrites(socket, (chunks) => Buffer.concat(chunks));
      resolve(socket);
    });
  });
}

/**
 * ssh2's pure-JS ciphers write every packet in three pieces (length, ciphertext, MAC) and
 * often several packets in a row (a channel close after its EOF): with Nagle off each
 * piece was its own send(2) and TCP segment (through a jump host, its own CHANNEL_DATA
 * packet on the hop), and sshd woke up for each. The first write of a burst corks the
 * stream until the current task's microtasks have run; the corked chunks then go out as
 * one write (end() uncorks first, so nothing written before it is held back). Streams
 * without a vectored write (ssh2 channels) get one that joins the chunks.
 */
export function batchWrites(
  stream: { cork(): void; uncork(): void; readonly writableCorked: number },
  concat: (chunks: Uint8Array[]) => Uint8Array,
): void {
  const inner = stream as unknown as {
    write: (...args: unknown[]) => boolean;
    _write(chunk: Uint8Array, encoding: string, done: (error?: Error | null) => void): void;
    _writev?: (
      chunks: { chunk: Uint8Array }[],
      done: (error?: Error | null) => void,
    ) => void;
  };
  inner._writev ??= (chunks, done) =>
    inner._write(concat(chunks.map((c) => c.chunk)), "buffer", done);
  const write = inner.write;
  let corked = false;
  const uncork = () => {
    corked = false;
    if (stream.writableCorked > 0) stream.uncork();
  };
  inner.write = (...args: unknown[]): boolean => {
    if (!corked) {
      corked = true;
      stream.cork();
      queueMicrotask(uncork);
    }
    return write.apply(stream, args);
  };
}

/** A direct-tcpip channel from the previous hop to this endpoint. */
async function forwardVia(
  via: Ssh2Client,
  endpoint: Endpoint,
  where: string,
): Promise<unknown> {
  const { Buffer } = await import("node:buffer");
  return new Promise((resolve, reject) => {
    try {
      via.forwardOut("127.0.0.1", 0, endpoint.host, endpoint.port, (error, channel) => {
        if (!error) {
          batchWrites(
            channel as unknown as Parameters<typeof batchWrites>[0],
            (chunks) => Buffer.concat(chunks),
          );
          answerEachChunk(channel);
          return resolve(channel);
        }
        const reason = (error as Error & { reason?: number }).reason;
        const detail = error.message.replace(/^\(SSH\) Channel open failure: /, "");
        // Reason 1 is "administratively prohibited": AllowTcpForwarding no on the hop.
        reject(
          new ProvctlError(
            "ConnectionFailed",
            reason === 1 ? "ssh.forwarding_refused" : "ssh.jump_open_failed",
            {
              params: { where, reason: detail },
              cause: error,
            },
          ),
        );
      });
    } catch (error) {
      reject(
        new ProvctlError("ConnectionFailed", "ssh.jump_open_failed", {
          params: { where, reason: error instanceof Error ? error.message : String(error) },
        }),
      );
    }
  });
}

function mapSocketError(error: Error & { code?: string }, where: string): ProvctlError {
  const code = error.code ?? "";
  const params = { where, reason: error.message };
  if (code === "ECONNREFUSED") {
    return new ProvctlError("ConnectionFailed", "ssh.connection_refused", { params, cause: error });
  }
  if (
    code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME" || code === "EAI_FAIL"
  ) {
    return new ProvctlError("ConnectionFailed", "ssh.dns_failed", { params, cause: error });
  }
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "EADDRNOTAVAIL") {
    return new ProvctlError("ConnectionFailed", "ssh.host_unreachable", { params, cause: error });
  }
  if (code === "ETIMEDOUT") {
    return new ProvctlError("ConnectionFailed", "ssh.host_unreachable", { params, cause: error });
  }
  return new ProvctlError("ConnectionFailed", "ssh.connection_reset", { params, cause: error });
}

function mapClientError(
  error: Error & { level?: string; code?: string },
  where: string,
  phase: "handshake" | "auth",
  endpoint: Endpoint,
  report: { tried: string[]; notes: string[] },
): ProvctlError {
  if (error.level === "client-authentication") {
    return new ProvctlError("AuthFailed", "ssh.auth_failed", {
      params: {
        where,
        user: endpoint.user,
        tried: report.tried.length > 0 ? report.tried.join(", ") : "nothing",
        notes: report.notes.length > 0 ? ` (${report.notes.join("; ")})` : "",
      },
      hint: "ssh.auth_hint",
      cause: error,
    });
  }
  if (error.level === "client-socket" && error.code) return mapSocketError(error, where);
  if (phase === "handshake" && error.level !== "client-socket") {
    if (/lost before handshake|ECONNRESET/i.test(error.message)) {
      return new ProvctlError("ConnectionFailed", "ssh.connection_reset", {
        params: { where, reason: error.message },
        cause: error,
      });
    }
    return new ProvctlError("ConnectionFailed", "ssh.handshake_failed", {
      params: { where, reason: error.message },
      cause: error,
    });
  }
  return new ProvctlError("ConnectionFailed", "ssh.connection_reset", {
    params: { where, reason: error.message },
    cause: error,
  });
}

function timeoutError(which: string, where: string, ms: number): ProvctlError {
  return new ProvctlError("Timeout", "ssh.timeout", { params: { which, where, ms } });
}

function abortPromise(signal: AbortSignal | undefined, where: string): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () =>
      reject(new ProvctlError("ConnectionFailed", "ssh.aborted", { params: { where } }));
    if (signal?.aborted) fail();
    else signal?.addEventListener("abort", fail, { once: true });
  });
}

/** A restartable, pausable timer whose expiry rejects `expired`. */
class Deadline {
  expired: Promise<never>;
  #reject!: (error: unknown) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #error: unknown;
  #remaining = 0;
  #startedAt = 0;
  #armed = false;

  constructor() {
    this.expired = new Promise((_, reject) => this.#reject = reject);
    this.expired.catch(() => {});
  }

  /** Changes the error of the running timer (made when it expires). */
  retarget(error: () => unknown): void {
    this.#error = error;
  }

  /** Arms the timer; `ms` <= 0 means no limit. */
  start(error: unknown, ms: number): void {
    this.stop();
    this.#error = error;
    this.#remaining = ms;
    this.#armed = ms > 0;
    this.resume();
  }

  pause(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#remaining -= Date.now() - this.#startedAt;
  }

  resume(): void {
    if (this.#timer !== undefined || !this.#armed) return;
    this.#startedAt = Date.now();
    this.#timer = setTimeout(() => {
      const error = this.#error;
      this.#reject(typeof error === "function" ? error() : error);
    }, Math.max(0, this.#remaining));
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armed = false;
  }
}

let messages: Messages | undefined;
function messageText(key: string, params: Record<string, string> = {}): string {
  messages ??= new Messages(embeddedMessages());
  return messages.format(key, params);
}

function defaultHostKeyNotice(where: string, endpoint: Endpoint, verdict: HostKeyVerdict): void {
  if (verdict.status === "known") return;
  messages ??= new Messages(embeddedMessages());
  const text = verdict.status === "unverified"
    ? messages.format("ssh.host_key_unverified", { where, host: endpoint.host })
    : messages.format("ssh.host_key_added", { where, file: verdict.file });
  console.error(text);
}
