/**
 * Works around ssh2 + Deno's node:crypto for OpenSSH-format ECDSA private keys. ssh2
 * converts them to a SEC1 PEM copying the private scalar as OpenSSH stores it (an mpint:
 * a leading 0x00 when the high bit is set, leading zero bytes dropped). OpenSSL accepts
 * that; Deno's implementation rejects it ("invalid SEC1 private key") and signing fails
 * for about half of all keys. This rewrites the PEM with the scalar at the curve's size.
 */
import type { Ssh2ParsedKey } from "./_ssh2.ts";

const SCALAR_BYTES: Record<string, number> = {
  "ecdsa-sha2-nistp256": 32,
  "ecdsa-sha2-nistp384": 48,
  "ecdsa-sha2-nistp521": 66,
};

/** Fixes `key` in place when it is an ECDSA private key with a mis-sized scalar. */
export function fixEcdsaPrivateKey(key: Ssh2ParsedKey): void {
  const size = SCALAR_BYTES[key.type];
  const inner = key as unknown as Record<symbol, unknown> & { getPrivatePEM?: () => string | null };
  const pem = inner.getPrivatePEM?.();
  if (size === undefined || typeof pem !== "string" || !pem.includes("EC PRIVATE KEY")) return;
  const fixed = fixSec1Pem(pem, size);
  if (fixed === pem) return;
  for (const symbol of Object.getOwnPropertySymbols(key)) {
    if (inner[symbol] === pem) inner[symbol] = fixed;
  }
}

/** The SEC1 PEM with its privateKey OCTET STRING resized to `size` bytes. */
export function fixSec1Pem(pem: string, size: number): string {
  const body = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const der = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
  const outer = readTlv(der, 0);
  if (outer.tag !== 0x30) return pem;
  const parts: Uint8Array[] = [];
  let offset = outer.contentStart;
  let changed = false;
  while (offset < outer.end) {
    const tlv = readTlv(der, offset);
    let value = der.subarray(tlv.contentStart, tlv.end);
    if (tlv.tag === 0x04 && value.length !== size) {
      let start = 0;
      while (value.length - start > size && value[start] === 0) start++;
      const resized = new Uint8Array(size);
      resized.set(value.subarray(start), size - (value.length - start));
      value = resized;
      changed = true;
    }
    parts.push(encodeTlv(tlv.tag, value));
    offset = tlv.end;
  }
  if (!changed) return pem;
  const encoded = encodeTlv(0x30, concat(parts));
  let base64 = "";
  for (const byte of encoded) base64 += String.fromCharCode(byte);
  base64 = btoa(base64);
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN EC PRIVATE KEY-----\n${lines.join("\n")}\n-----END EC PRIVATE KEY-----`;
}

function readTlv(
  der: Uint8Array,
  offset: number,
): { tag: number; contentStart: number; end: number } {
  const tag = der[offset];
  let length = der[offset + 1];
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[offset + 2 + i];
    contentStart += count;
  }
  return { tag, contentStart, end: contentStart + length };
}

function encodeTlv(tag: number, value: Uint8Array): Uint8Array {
  const length: number[] = [];
  if (value.length < 0x80) length.push(value.length);
  else {
    const bytes: number[] = [];
    for (let n = value.length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
    length.push(0x80 | bytes.length, ...bytes);
  }
  return concat([new Uint8Array([tag, ...length]), value]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
