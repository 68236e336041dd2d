/** ServiceName: a validated service identifier, safe as a file name, unit name and argv. */
import { ProvctlError } from "./errors.ts";

export const SERVICE_NAME_MAX_LENGTH = 64;
const ALLOWED = /^[A-Za-z0-9_.@-]$/;

declare const brand: unique symbol;
/** A string that passed `parseServiceName`. */
export type ServiceName = string & { readonly [brand]: "ServiceName" };

/** Describes a character for an error message (visible form for whitespace/control). */
function describeChar(ch: string): string {
  const code = ch.codePointAt(0)!;
  if (ch === " ") return "space";
  if (code < 0x20 || code === 0x7f) {
    return `control character U+${code.toString(16).padStart(4, "0")}`;
  }
  if (/\s/u.test(ch)) return `whitespace U+${code.toString(16).padStart(4, "0")}`;
  return `'${ch}'`;
}

/**
 * Validates a service name: letters, digits, '-', '_', '.', '@'; 1..64 characters;
 * not starting with '-' or '.', no '..'. Throws InvalidName naming the offending
 * character and the rule.
 */
export function parseServiceName(raw: string): ServiceName {
  const fail = (key: string, params: Record<string, string | number> = {}) => {
    throw new ProvctlError("InvalidName", key, {
      params: { name: raw, max: SERVICE_NAME_MAX_LENGTH, ...params },
      hint: "hints.service_name_rule",
    });
  };
  if (raw.length === 0) fail("errors.name_empty");
  if (raw.length > SERVICE_NAME_MAX_LENGTH) fail("errors.name_too_long", { length: raw.length });
  for (const [index, ch] of [...raw].entries()) {
    if (!ALLOWED.test(ch)) {
      fail("errors.name_bad_char", { char: describeChar(ch), position: index + 1 });
    }
  }
  if (raw.startsWith("-") || raw.startsWith(".")) fail("errors.name_bad_start", { char: raw[0] });
  if (raw.includes("..")) fail("errors.name_dotdot");
  return raw as ServiceName;
}

export function isValidServiceName(raw: string): boolean {
  try {
    parseServiceName(raw);
    return true;
  } catch {
    return false;
  }
}
