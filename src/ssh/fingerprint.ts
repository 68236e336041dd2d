/**
 * Fingerprints and key type of an SSH public key in wire format (RFC 4253 §6.6: the
 * key type as an SSH string, then type-specific fields), printed the way
 * `ssh-keygen -lf` prints them.
 */
import { createHash } from "node:crypto";
import { ProvctlError } from "../core/errors.ts";

/** "SHA256:" + base64 of the SHA-256 digest without "=" padding, like `ssh-keygen -lf`. */
export function fingerprintSha256(keyBlob: Uint8Array): string {
  const digest = createHash("sha256").update(keyBlob).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

/** "MD5:" + colon-separated lowercase hex, like `ssh-keygen -E md5 -lf`. */
export function fingerprintMd5(keyBlob: Uint8Array): string {
  const hex = createHash("md5").update(keyBlob).digest("hex");
  return `MD5:${hex.match(/../g)!.join(":")}`;
}

/** The key type named in the blob: "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", ... */
export function keyTypeOf(keyBlob: Uint8Array): string {
  const invalid = (reason: string) =>
    new ProvctlError("InvalidArgument", "known_hosts.key_blob_invalid", { params: { reason } });
  if (keyBlob.length < 4) throw invalid(`${keyBlob.length} bytes, too short`);
  const view = new DataView(keyBlob.buffer, keyBlob.byteOffset, keyBlob.byteLength);
  const length = view.getUint32(0);
  if (length === 0 || length > 64 || 4 + length > keyBlob.length) {
    throw invalid(`bad key type length ${length}`);
  }
  const type = new TextDecoder().decode(keyBlob.subarray(4, 4 + length));
  // Key type names are printable ASCII (RFC 4250 §4.6.1); anything else is not a key.
  if (!/^[\x21-\x7e]+$/.test(type)) throw invalid("the key type is not printable ASCII");
  return type;
}
