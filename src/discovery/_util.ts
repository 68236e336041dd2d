/** Small helpers the provider files share. */
import { ProvctlError } from "../core/errors.ts";
import type { Credentials } from "./provider.ts";

/** The Authorization header for a token or Basic credential. */
export function authorization(credentials: Credentials): string {
  switch (credentials.kind) {
    case "token":
      return `Bearer ${credentials.token}`;
    case "basic":
      return `Basic ${btoa(`${credentials.user}:${credentials.password}`)}`;
    case "aws":
      throw new Error("AWS requests are signed, not given a bearer token");
  }
}

/** `base` + `path` with exactly one slash between them. */
export function joinUrl(base: string, path: string): URL {
  return new URL(`${base.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`);
}

/** A string field of untrusted JSON, or "" when absent or not a string/number. */
export function str(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return "";
}

/** An array field of untrusted JSON, or []. */
export function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** An object field of untrusted JSON, or {}. */
export function obj(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}

/** True for RFC 1918 / unique-local addresses (providers that list all IPs in one array). */
export function isPrivateAddress(ip: string): boolean {
  if (ip.includes(":")) return /^f[cd]/i.test(ip);
  const [a, b] = ip.split(".").map(Number);
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

/** Bare tags ("web", "env:prod" stays one string; the label mapping splits it). */
export function bareTags(values: unknown): { key: string }[] {
  return arr(values).map(str).filter((t) => t !== "").map((key) => ({ key }));
}

/**
 * A next-page URL given by the provider, accepted only on the API's own origin so that a
 * hostile or broken answer cannot send the token elsewhere.
 */
export function sameOrigin(next: string, apiUrl: string): string | undefined {
  try {
    const url = new URL(next, apiUrl);
    return url.origin === new URL(apiUrl).origin ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** The error of a provider that keeps announcing another page (broken or hostile). */
export function tooManyPages(source: string, provider: string, pages: number): ProvctlError {
  return new ProvctlError("CommandFailed", "discovery.too_many_pages", {
    params: { source, provider, pages },
  });
}
