/**
 * Host key verification against known_hosts files exactly as OpenSSH writes them:
 * plain and hashed (`|1|salt|hmac`) host fields, `[host]:port` for ports other than 22,
 * `*`/`?` wildcards with `!` negation, `@revoked` and `@cert-authority` markers.
 *
 * Decisions (see also the tests):
 * - A host known only with OTHER key types than the presented one is HostKeyUnknown
 *   (message "only X keys are recorded"), under strict AND accept-new, and nothing is
 *   written. OpenSSH 9.2 (checked with its client) even reports such a key as CHANGED
 *   and refuses, so auto-adding would be weaker than OpenSSH (an attacker could
 *   present a new key type); calling it "changed" would be a false alarm, because ssh2
 *   does not prefer the recorded types the way OpenSSH does. Callers avoid the case by
 *   offering the types from knownHostKeyTypes() first.
 * - Key types are compared as full names, so ecdsa-sha2-nistp256 and -nistp384 are
 *   different types (refused as above either way).
 * - A garbled line is skipped like OpenSSH does, unless its host field matches the host
 *   being checked and no valid line already vouches for the key: then it is an
 *   InvalidConfig error naming file:line, because silently ignoring it could mean
 *   ignoring a pinned key (and, under accept-new, adding a different one).
 * - `@revoked` applies to lines whose host field matches, as in OpenSSH; it wins over
 *   a plain line listing the same key.
 * - `@cert-authority` lines are not supported: if one matches the host and the key is
 *   not otherwise known, verification fails with Unsupported (never a silent accept or
 *   an accept-new append that would sidestep the CA).
 * - With hostKeyAlias the alias is looked up without a port, as OpenSSH does.
 * - RevokedHostKeys (a text list of public keys) refuses a listed key under every policy
 *   and an unreadable list refuses all, as in OpenSSH; a binary KRL is Unsupported.
 * - The global files (GlobalKnownHostsFile) are read after the user's for every decision
 *   (their keys, changed keys and @revoked lines count, as in OpenSSH) but never written.
 */
import { Buffer } from "node:buffer";
import { dirname, isAbsolute, join } from "node:path";
import { ProvctlError } from "../core/errors.ts";
import { fingerprintSha256, keyTypeOf } from "./fingerprint.ts";
import {
  hashHost,
  hostsMatch,
  type KnownHostsLine,
  lookupName,
  parseKnownHosts,
  sameBytes,
} from "./_known_hosts_parse.ts";
import { readAll } from "./_read_all.ts";

export type HostKeyPolicy = "strict" | "accept-new" | "off";

export interface HostKeyCheck {
  /** The name the user connects to (after HostName resolution), or IP. */
  host: string;
  /** 22 => plain "host" entries; other => "[host]:port" entries. */
  port: number;
  /** Raw SSH wire-format public key, as ssh2's hostVerifier receives it. */
  keyBlob: Uint8Array;
  /** Read in order; the first is the one new keys are appended to. */
  knownHostsFiles: string[];
  /**
   * Read after knownHostsFiles and never written (GlobalKnownHostsFile, where admins
   * pin and @revoke keys for everyone).
   */
  globalKnownHostsFiles?: string[];
  policy: HostKeyPolicy;
  /** Optional name to look up instead of host. */
  hostKeyAlias?: string;
  /** RevokedHostKeys: a file of public keys refused for every host and policy. */
  revokedHostKeys?: string;
}

export type HostKeyVerdict =
  | { status: "known"; file: string; line: number }
  | { status: "added"; file: string }
  | { status: "unverified" };

interface Match {
  file: string;
  entry: KnownHostsLine;
}

/**
 * The verdict on a presented host key. Every policy refuses a revoked or CHANGED key
 * (OpenSSH's StrictHostKeyChecking=no would go on with a changed key; provctl keeps the
 * simpler promise that a changed key is always a hard error). The policies differ only
 * for an unknown host: strict refuses, accept-new records, off goes on unverified.
 */
export async function verifyHostKey(check: HostKeyCheck): Promise<HostKeyVerdict> {
  const keyType = keyTypeOf(check.keyBlob);
  const name = check.hostKeyAlias
    ? check.hostKeyAlias.toLowerCase()
    : lookupName(check.host, check.port);
  const fingerprint = fingerprintSha256(check.keyBlob);
  const files = check.knownHostsFiles.map(expandHome);
  const read = [...files, ...(check.globalKnownHostsFiles ?? [])];
  const params = {
    host: name,
    key_type: keyType,
    fingerprint,
    files: read.join(", ") || "(none)",
  };
  const off = check.policy === "off";
  if (keyType.endsWith("-cert-v01@openssh.com")) {
    if (off) return { status: "unverified" };
    throw new ProvctlError("Unsupported", "known_hosts.host_certificate", { params });
  }

  if (check.revokedHostKeys !== undefined) {
    await checkRevokedList(expandHome(check.revokedHostKeys), check.keyBlob, params);
  }

  const matches: Match[] = [];
  for (const file of read) {
    const text = await readIfExists(file);
    if (text === undefined) continue;
    for (const entry of parseKnownHosts(text)) {
      if (hostsMatch(entry.hosts, name)) matches.push({ file, entry });
    }
  }
  const parsed = (m: Match) => "blob" in m.entry.key ? m.entry.key : undefined;
  const sameKey = (m: Match) => {
    const key = parsed(m);
    return key !== undefined && sameBytes(key.blob, check.keyBlob);
  };

  const revoked = matches.find((m) => m.entry.marker === "revoked" && sameKey(m));
  if (revoked) {
    throw new ProvctlError("HostKeyRevoked", "known_hosts.revoked", {
      params: { ...params, file: revoked.file, line: revoked.entry.line },
    });
  }
  const known = matches.find((m) => m.entry.marker === "none" && sameKey(m));
  if (known) return { status: "known", file: known.file, line: known.entry.line };

  const changed = matches.find((m) => m.entry.marker === "none" && parsed(m)?.type === keyType);
  if (changed) {
    throw new ProvctlError("HostKeyMismatch", "known_hosts.mismatch", {
      params: {
        host: name,
        expected: fingerprintSha256(parsed(changed)!.blob),
        presented: fingerprint,
        file: changed.file,
        line: changed.entry.line,
      },
      hint: "known_hosts.hint_mismatch",
    });
  }
  const garbled = matches.find((m) =>
    "error" in m.entry.key && m.entry.marker !== "cert-authority"
  );
  if (garbled) {
    throw new ProvctlError("InvalidConfig", "known_hosts.garbled", {
      params: {
        host: name,
        file: garbled.file,
        line: garbled.entry.line,
        reason: (garbled.entry.key as { error: string }).error,
      },
    });
  }
  const ca = matches.find((m) => m.entry.marker === "cert-authority");
  if (ca && !off) {
    throw new ProvctlError("Unsupported", "known_hosts.cert_authority", {
      params: { ...params, file: ca.file, line: ca.entry.line },
    });
  }

  if (off) return { status: "unverified" };
  const otherTypes = [
    ...new Set(matches.flatMap((m) => m.entry.marker === "none" ? parsed(m)?.type ?? [] : [])),
  ];
  if (check.policy === "accept-new" && otherTypes.length === 0) {
    const target = files[0];
    if (target === undefined) {
      throw new ProvctlError("InvalidConfig", "known_hosts.no_file", { params });
    }
    // With an alias OpenSSH records the alias itself, without a port.
    await appendKnownHost(
      target,
      check.hostKeyAlias ?? check.host,
      check.hostKeyAlias ? 22 : check.port,
      check.keyBlob,
    );
    return { status: "added", file: target };
  }
  const keyscan = check.hostKeyAlias
    ? `ssh-keyscan -H ${check.host}${check.port === 22 ? "" : ` -p ${check.port}`}`
    : `ssh-keyscan -H${check.port === 22 ? "" : ` -p ${check.port}`} ${check.host}`;
  throw new ProvctlError(
    "HostKeyUnknown",
    otherTypes.length > 0 ? "known_hosts.unknown_other_types" : "known_hosts.unknown",
    {
      params: {
        ...params,
        known_types: otherTypes.join(", "),
        trust_host: check.hostKeyAlias ??
          (check.port === 22 ? check.host : `${check.host}:${check.port}`),
        keyscan,
        file: files[0] ?? "~/.ssh/known_hosts",
      },
      hint: otherTypes.length > 0 ? "known_hosts.hint_other_types" : "known_hosts.hint_unknown",
    },
  );
}

/**
 * OpenSSH's RevokedHostKeys check, which comes before known_hosts and applies with every
 * StrictHostKeyChecking value: the key listed in the file (one public key per line,
 * `type base64 [comment]`, optionally after authorized_keys options) is refused; a file
 * that cannot be read refuses every key, as in ssh. A binary KRL is refused as
 * unsupported rather than skipped.
 */
async function checkRevokedList(
  file: string,
  keyBlob: Uint8Array,
  params: Record<string, string>,
): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (e) {
    throw new ProvctlError("InvalidConfig", "known_hosts.revoked_list_unreadable", {
      params: { ...params, file, reason: e instanceof Error ? e.message : String(e) },
      cause: e,
    });
  }
  const KRL_MAGIC = "SSHKRL\n\0";
  if (new TextDecoder().decode(bytes.subarray(0, KRL_MAGIC.length)) === KRL_MAGIC) {
    throw new ProvctlError("Unsupported", "known_hosts.revoked_list_krl", {
      params: { ...params, file },
    });
  }
  const lines = new TextDecoder().decode(bytes).split("\n");
  for (const [index, raw] of lines.entries()) {
    const fields = raw.trim().split(/[ \t]+/);
    if (fields[0] === "" || fields[0].startsWith("#")) continue;
    for (let i = 0; i + 1 < fields.length; i++) {
      const blob = publicKeyField(fields[i], fields[i + 1]);
      if (blob !== undefined && sameBytes(blob, keyBlob)) {
        throw new ProvctlError("HostKeyRevoked", "known_hosts.revoked", {
          params: { ...params, file, line: index + 1 },
        });
      }
    }
  }
}

/** The key of a `type base64` pair whose blob names that type, else undefined. */
function publicKeyField(type: string, base64: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  const blob = new Uint8Array(Buffer.from(base64, "base64"));
  try {
    return keyTypeOf(blob) === type ? blob : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The key types recorded for a host (plain, non-revoked lines), in file order, so a
 * client can offer them first during key exchange as OpenSSH does; [] when unknown.
 */
export async function knownHostKeyTypes(
  options: {
    host: string;
    port: number;
    knownHostsFiles: string[];
    globalKnownHostsFiles?: string[];
    hostKeyAlias?: string;
  },
): Promise<string[]> {
  const name = options.hostKeyAlias
    ? options.hostKeyAlias.toLowerCase()
    : lookupName(options.host, options.port);
  const types: string[] = [];
  const files = [
    ...options.knownHostsFiles.map(expandHome),
    ...(options.globalKnownHostsFiles ?? []),
  ];
  for (const file of files) {
    const text = await readIfExists(file);
    if (text === undefined) continue;
    for (const entry of parseKnownHosts(text)) {
      if (entry.marker === "none" && "blob" in entry.key && hostsMatch(entry.hosts, name)) {
        types.push(entry.key.type);
      }
    }
  }
  return [...new Set(types)];
}

/**
 * Appends a hashed `|1|salt|hmac keytype base64` line for host (and port) to `file` the
 * way OpenSSH does: the file (a symlink's target, created 0600 if missing, its directory
 * 0700) is opened for appending and the line goes out in ONE write (after a "\n" when the
 * file does not end in one), then fsync. So a line ssh or ssh-keyscan >> (they take no
 * lock) appends meanwhile is never lost, and the inode, its hard links, owner and mode
 * stay; a read-only directory is no obstacle, a read-only file is PermissionDenied.
 * provctl writers are serialized (in-process and with an advisory lock on the file), so
 * a key already recorded for the host is not appended twice.
 */
export async function appendKnownHost(
  file: string,
  host: string,
  port: number,
  keyBlob: Uint8Array,
): Promise<void> {
  const keyType = keyTypeOf(keyBlob);
  const name = lookupName(host, port);
  const path = await resolveSymlink(expandHome(file));
  const fail = (e: unknown) =>
    new ProvctlError(
      e instanceof Deno.errors.PermissionDenied ? "PermissionDenied" : "CommandFailed",
      "known_hosts.write_failed",
      {
        params: { file: path, reason: e instanceof Error ? e.message : String(e) },
        cause: e,
      },
    );
  try {
    await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  } catch (e) {
    throw fail(e);
  }
  const previous = writers.get(path) ?? Promise.resolve();
  const mine = previous.catch(() => {}).then(() =>
    withLockedFile(path, async (handle, writable) => {
      const existing = await readText(handle);
      const already = parseKnownHosts(existing).some((e) =>
        e.marker === "none" && "blob" in e.key && sameBytes(e.key.blob, keyBlob) &&
        hostsMatch(e.hosts, name)
      );
      if (already) return;
      if (writable !== true) throw writable;
      const separator = existing === "" || existing.endsWith("\n") ? "" : "\n";
      const data = new TextEncoder().encode(
        `${separator}${hashHost(name)} ${keyType} ${Buffer.from(keyBlob).toString("base64")}\n`,
      );
      // One write with O_APPEND lands whole at the end, never amid another appender's
      // line; a second write for a short remainder could, so a short write is an error.
      const written = await handle.write(data);
      if (written !== data.length) {
        throw new Error(`short write (${written} of ${data.length} bytes)`);
      }
      await handle.sync();
    })
  );
  writers.set(path, mine);
  try {
    await mine;
  } catch (e) {
    throw e instanceof ProvctlError ? e : fail(e);
  } finally {
    if (writers.get(path) === mine) writers.delete(path);
  }
}

const writers = new Map<string, Promise<void>>();

/**
 * Runs `fn` with `path` open for reading and appending (created 0600 if missing) and
 * exclusively locked. A file that exists but cannot be opened for writing is opened
 * read-only and `fn` gets the error as `writable`, so that finding the key already
 * recorded is still no error.
 */
async function withLockedFile(
  path: string,
  fn: (handle: Deno.FsFile, writable: true | Error) => Promise<void>,
): Promise<void> {
  for (let attempt = 1;; attempt++) {
    let handle: Deno.FsFile;
    let writable: true | Error = true;
    try {
      handle = await Deno.open(path, { read: true, append: true, create: true, mode: 0o600 });
    } catch (e) {
      if (!(e instanceof Deno.errors.PermissionDenied)) throw e;
      handle = await Deno.open(path, { read: true }).catch(() => Promise.reject(e));
      writable = e;
    }
    try {
      await handle.lock(true);
      // ssh-keygen -R (or an older provctl) may have renamed a new file over the one we
      // opened, or removed it: a line appended to that one would be lost, so retry on
      // what the path names now (a few times, rather than spin against a loop of renames).
      const held = await handle.stat();
      const current = await Deno.stat(path).catch(() => undefined);
      const same = current !== undefined && current.ino === held.ino && current.dev === held.dev;
      if (!same && attempt < 5) continue;
      if (!same) throw new Error("the file kept being replaced or removed while it was written");
      return await fn(handle, writable);
    } finally {
      handle.close();
    }
  }
}

/** The whole text of an open file, read from its start. */
async function readText(handle: Deno.FsFile): Promise<string> {
  await handle.seek(0, Deno.SeekMode.Start);
  return new TextDecoder().decode(await readAll(handle));
}

/**
 * The file a symlink chain ends at, even when that file does not exist yet (a dangling
 * link, e.g. a dotfiles link to a file not written so far; OpenSSH's append creates it
 * there, and so does ours): writers through different links then queue on one key, its
 * directory is the one created, and errors name the real file.
 */
async function resolveSymlink(path: string): Promise<string> {
  let current = path;
  for (let hops = 0; hops < MAX_SYMLINKS; hops++) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(current);
    } catch {
      return current;
    }
    if (!info.isSymlink) return current;
    const target = await Deno.readLink(current);
    current = isAbsolute(target) ? target : join(dirname(current), target);
  }
  throw new Deno.errors.FilesystemLoop(`too many levels of symbolic links: ${path}`);
}

/** Linux's limit (MAXSYMLINKS) on links followed while resolving one path. */
const MAX_SYMLINKS = 40;

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new ProvctlError("InvalidConfig", "known_hosts.unreadable", {
      params: { file, reason: e instanceof Error ? e.message : String(e) },
      cause: e,
    });
  }
}

function expandHome(path: string): string {
  if (path !== "~" && !path.startsWith("~/")) return path;
  const home = Deno.env.get("HOME");
  return home ? home + path.slice(1) : path;
}
