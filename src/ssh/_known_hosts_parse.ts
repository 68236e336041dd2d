/**
 * Parsing of known_hosts lines as OpenSSH writes and reads them (sshd(8) "SSH_KNOWN_HOSTS
 * FILE FORMAT"): [marker] hostpatterns keytype base64-key [comment].
 */
import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";
import { keyTypeOf } from "./fingerprint.ts";
import { matchPatternList } from "./_known_hosts_pattern.ts";

export type Marker = "none" | "revoked" | "cert-authority";

export interface KnownHostsLine {
  line: number;
  marker: Marker;
  /** The host field as written (pattern list or |1|salt|hash). */
  hosts: string;
  /** Parsed key, or why it could not be parsed (the line is then garbled). */
  key: { type: string; blob: Uint8Array } | { error: string };
}

const HASH_MAGIC = "|1|";
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The name looked up in known_hosts: `host` for port 22, else `[host]:port` (lowercased). */
export function lookupName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 || port === 0 ? name : `[${name}]:${port}`;
}

/**
 * Every non-blank, non-comment line of a known_hosts file. Lines whose host field is
 * missing are dropped here (they can never match); lines with an unknown marker or a
 * bad key are returned with `key.error` so the caller can decide.
 */
export function parseKnownHosts(text: string): KnownHostsLine[] {
  const out: KnownHostsLine[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i].replace(/\r$/, "").trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const fields = trimmed.split(/[ \t]+/);
    let marker: Marker = "none";
    let markerError: string | undefined;
    if (fields[0].startsWith("@")) {
      const word = fields.shift()!;
      if (word === "@revoked") marker = "revoked";
      else if (word === "@cert-authority") marker = "cert-authority";
      else markerError = `unknown marker ${word}`;
    }
    const hosts = fields[0];
    if (hosts === undefined) continue;
    out.push({
      line: i + 1,
      marker,
      hosts,
      key: markerError ? { error: markerError } : parseKey(fields[1], fields[2]),
    });
  }
  return out;
}

function parseKey(type: string | undefined, base64: string | undefined): KnownHostsLine["key"] {
  if (type === undefined) return { error: "no key type after the host names" };
  if (base64 === undefined) return { error: `no key data after the key type ${type}` };
  if (!BASE64.test(base64)) return { error: "the key data is not base64" };
  const blob = new Uint8Array(Buffer.from(base64, "base64"));
  let blobType: string;
  try {
    blobType = keyTypeOf(blob);
  } catch {
    return { error: "the key data is not an SSH public key" };
  }
  if (blobType !== type) {
    return { error: `the key type says ${type} but the key data is ${blobType}` };
  }
  return { type, blob };
}

/** Whether the host field of a line matches `name` (already lowercased / [host]:port). */
export function hostsMatch(hosts: string, name: string): boolean {
  if (hosts.startsWith(HASH_MAGIC)) {
    const parts = hosts.slice(HASH_MAGIC.length).split("|");
    if (parts.length !== 2 || !BASE64.test(parts[0]) || !BASE64.test(parts[1])) return false;
    const salt = Buffer.from(parts[0], "base64");
    const expected = Buffer.from(parts[1], "base64");
    // OpenSSH only writes SHA-1-sized salts and hashes; anything else is not its format.
    if (salt.length !== 20 || expected.length !== 20) return false;
    return timingSafeEqual(hashHostRaw(name, salt), expected);
  }
  // "|2|..." etc.: hashed with a scheme we (and OpenSSH) do not know.
  if (hosts.startsWith("|")) return false;
  return matchPatternList(name, hosts.split(","), true) === 1;
}

function hashHostRaw(name: string, salt: Uint8Array): Buffer {
  return createHmac("sha1", salt).update(name).digest();
}

/** The `|1|salt|hash` host field for `name`, with a fresh random salt. */
export function hashHost(name: string): string {
  const salt = crypto.getRandomValues(new Uint8Array(20));
  return `${HASH_MAGIC}${Buffer.from(salt).toString("base64")}|${
    hashHostRaw(name, salt).toString("base64")
  }`;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
