/**
 * The slice of npm:ssh2 provctl uses, typed structurally (the package ships no types and
 * @types/ssh2 is not a dependency), and its lazy loader: importing ssh2 costs ~60 ms of
 * start-up, so only connect paths call loadSsh2().
 */

export interface Ssh2Readable {
  on(event: "data", listener: (chunk: Uint8Array) => void): this;
  on(event: "end" | "close", listener: () => void): this;
  on(event: "error", listener: (error: Error) => void): this;
  pause(): this;
  resume(): this;
}

/** A session channel (exec) or a direct-tcpip channel (forwardOut). */
export interface Ssh2Channel extends Ssh2Readable {
  readonly stderr: Ssh2Readable;
  on(event: "data", listener: (chunk: Uint8Array) => void): this;
  on(event: "end" | "close", listener: () => void): this;
  on(event: "error", listener: (error: Error) => void): this;
  on(
    event: "exit",
    listener: (code: number | null, signal?: string, coreDumped?: boolean, desc?: string) => void,
  ): this;
  write(data: Uint8Array | string, callback?: (error?: Error | null) => void): boolean;
  end(data?: Uint8Array | string): this;
  close(): void;
  signal(name: string): void;
  destroy(): void;
}

export type Ssh2AuthMethod =
  | { type: "publickey"; username: string; key: unknown }
  | { type: "password"; username: string; password: string }
  | { type: "agent"; username: string; agent: unknown }
  | { type: "none"; username: string };

export interface Ssh2ConnectConfig {
  sock: unknown;
  username: string;
  hostVerifier: (key: Uint8Array, verify: (ok: boolean) => void) => void;
  authHandler: (
    methodsLeft: string[] | null,
    partialSuccess: boolean | null,
    next: (method: Ssh2AuthMethod | false) => void,
  ) => void;
  readyTimeout: number;
  keepaliveInterval?: number;
  keepaliveCountMax?: number;
}

export interface Ssh2Client {
  on(event: "ready" | "close" | "end", listener: () => void): this;
  on(event: "handshake", listener: (negotiated: unknown) => void): this;
  on(event: "error", listener: (error: Error & { level?: string; code?: string }) => void): this;
  once(event: "ready" | "close" | "end", listener: () => void): this;
  connect(config: Ssh2ConnectConfig): this;
  exec(
    command: string,
    options: Record<string, never>,
    callback: (error: Error | undefined, channel: Ssh2Channel) => void,
  ): boolean;
  forwardOut(
    srcIP: string,
    srcPort: number,
    dstIP: string,
    dstPort: number,
    callback: (error: Error | undefined, channel: Ssh2Channel) => void,
  ): boolean;
  setNoDelay(noDelay: boolean): this;
  end(): this;
  destroy(): this;
}

export interface Ssh2ParsedKey {
  readonly type: string;
  readonly comment: string;
  isPrivateKey(): boolean;
  getPublicSSH(): Uint8Array;
}

export interface Ssh2AgentIdentity {
  getPublicSSH(): Uint8Array;
}

export interface Ssh2Module {
  Client: new () => Ssh2Client;
  OpenSSHAgent: new (socketPath: string) => {
    getIdentities(cb: (error: Error | undefined, keys?: Ssh2AgentIdentity[]) => void): void;
  };
  utils: {
    parseKey(data: Uint8Array | string, passphrase?: string): Ssh2ParsedKey | Error;
  };
}

let loaded: Promise<Ssh2Module> | undefined;

/** Loads npm:ssh2 once, on first use. */
export function loadSsh2(): Promise<Ssh2Module> {
  // In the single-file bundle ssh2's CommonJS code loses the __dirname/__filename that
  // Deno's npm loader gives each module; its emscripten poly1305 module reads them when it
  // sees `process` (it then uses its inlined wasm, so any directory will do).
  const g = globalThis as { __dirname?: string; __filename?: string };
  g.__dirname ??= "/";
  g.__filename ??= "/provctl.js";
  loaded ??= import("ssh2").then((m) => (m.default ?? m) as unknown as Ssh2Module);
  return loaded;
}

/**
 * Sends a "signal" channel request. Channel.signal() of ssh2 silently does nothing once
 * stdin was ended (it checks `writable`), and provctl always ends stdin, so this goes to
 * the protocol object directly while the channel is still open.
 */
export function sendSignal(channel: Ssh2Channel, name: string): void {
  const inner = channel as unknown as {
    type?: string;
    outgoing?: { id: number; state: string };
    _client?: { _protocol?: { signal(id: number, name: string): void } };
  };
  if (
    inner.type !== "session" ||
    (inner.outgoing?.state !== "open" && inner.outgoing?.state !== "eof")
  ) return;
  inner._client?._protocol?.signal(inner.outgoing.id, name);
}

/**
 * ssh2's Channel.destroy() always calls end() before close(). Node streams call destroy()
 * themselves once both sides of a channel are done (autoDestroy), and end() on a finished
 * stream builds an ERR_STREAM_ALREADY_FINISHED that nobody sees: in Deno its stack trace
 * cost ~0.15 ms of every command. This skips end() when stdin already ended (where it
 * does nothing else); close() still runs.
 */
export function skipRedundantEnd(channel: Ssh2Channel): void {
  const inner = channel as unknown as { writableEnded: boolean; destroy(): unknown };
  const destroy = inner.destroy;
  inner.destroy = function (this: Ssh2Channel) {
    if (!inner.writableEnded) return destroy.call(this);
    this.close();
    return this;
  };
}

/**
 * Answers each chunk that arrives on a channel with a window adjust (restoring at once the
 * window that ssh2 restores when half of it is used). A jump host's sshd forwards the
 * target's packets with Nagle's algorithm on: it holds the next packet (the exit status)
 * until this machine ACKs the previous one, and the kernel delays that ACK (40 ms) while
 * the client has nothing to send. The adjust carries the ACK right away; it is queued after
 * whatever the client answers in the same task, so both leave in one segment.
 */
export function answerEachChunk(channel: Ssh2Channel): void {
  const inner = channel as unknown as {
    incoming: { window: number };
    outgoing: { id: number; state: string };
    _client: { _protocol: { channelWindowAdjust(id: number, amount: number): void } };
  };
  const full = inner.incoming.window;
  let queued = false;
  const adjust = () => {
    queued = false;
    const amount = full - inner.incoming.window;
    const state = inner.outgoing.state;
    if (amount <= 0 || (state !== "open" && state !== "eof")) return;
    inner.incoming.window = full;
    inner._client._protocol.channelWindowAdjust(inner.outgoing.id, amount);
  };
  channel.on("data", () => {
    if (queued) return;
    queued = true;
    queueMicrotask(adjust);
  });
}
