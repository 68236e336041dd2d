/**
 * Renders a ServiceDefinition as a systemd service unit. Quoting follows
 * systemd.syntax(7) and systemd.service(5): every ExecStart= argument is double-quoted
 * with C-style escapes, `$` is written `$$` (no variable expansion) and `%` is written
 * `%%` (no specifier expansion), so the program receives each argument byte for byte.
 * Values a unit file cannot hold (NUL, line breaks in paths) are refused with a
 * ProvctlError before anything is written.
 */
import { ProvctlError } from "../core/errors.ts";
import type { ServiceDefinition } from "../core/service_definition.ts";
import { parseServiceName, type ServiceName } from "../core/service_name.ts";

/** First line of every unit provctl writes; units without it are never overwritten. */
export const MANAGED_MARKER = "# Managed by provctl";

export type SystemdScope = "system" | "user";

export interface RenderUnitOptions {
  readonly scope: SystemdScope;
  /** Absolute path of the program (the definition's binary resolved on the target). */
  readonly execPath?: string;
}

/** True when the unit text carries provctl's marker comment. */
export function isManagedUnit(text: string): boolean {
  return text.split("\n", 5).some((line) => line.trimEnd().startsWith(MANAGED_MARKER));
}

/**
 * The unit name for a service, refusing names systemd would read differently: at most
 * one '@' (template instance), not at the start or end.
 */
export function unitNameOf(name: ServiceName): string {
  parseServiceName(name); // a cast string must not slip through to a path
  const ats = name.split("@").length - 1;
  if (ats > 1 || name.startsWith("@") || name.endsWith("@")) {
    throw new ProvctlError("InvalidName", "systemd.name_template", {
      params: { name },
      hint: "systemd.hint_name_template",
    });
  }
  return `${name}.service`;
}

const C_ESCAPES: Record<string, string> = {
  "\\": "\\\\",
  '"': '\\"',
  "\n": "\\n",
  "\t": "\\t",
  "\r": "\\r",
  "\x07": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\v": "\\v",
};

function cEscape(value: string): string {
  let out = "";
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (C_ESCAPES[ch]) out += C_ESCAPES[ch];
    else if (ch === "%") out += "%%";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return out;
}

function hasControl(text: string): boolean {
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function refuseNul(value: string, field: string, service: string): void {
  if (value.includes("\0")) {
    throw new ProvctlError("InvalidArgument", "systemd.value_nul", { params: { service, field } });
  }
}

/** One ExecStart= word: double-quoted, C-escaped, `$` → `$$`, `%` → `%%`. */
export function quoteExecArg(value: string): string {
  return `"${cEscape(value).replaceAll("$", "$$$$")}"`;
}

/** One Environment= assignment, quoted as a whole ("KEY=value"); `$` is literal there. */
export function quoteEnvironment(key: string, value: string): string {
  return `"${cEscape(`${key}=${value}`)}"`;
}

/** A path setting (WorkingDirectory=, EnvironmentFile=): absolute, one line, `%` escaped. */
function pathValue(path: string, field: string, service: string): string {
  refuseNul(path, field, service);
  if (!path.startsWith("/")) {
    throw new ProvctlError("InvalidArgument", "systemd.path_not_absolute", {
      params: { service, field, path },
    });
  }
  if (hasControl(path) || path !== path.trim()) {
    throw new ProvctlError("InvalidArgument", "systemd.value_bad_char", {
      params: { service, field, value: path },
    });
  }
  return path.replaceAll("%", "%%");
}

const USER_NAME = /^(?:[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?|[0-9]{1,10})$/;

function timeoutValue(ms: number): string {
  // TimeoutStopSec=0 would mean "no timeout"; provctl's 0 means "kill at once".
  return `${Math.max(1, Math.round(ms))}ms`;
}

function oneLine(text: string): string {
  return [...text].map((ch) => (hasControl(ch) ? " " : ch)).join("").replace(/ {2,}/g, " ").trim()
    .replaceAll("%", "%%");
}

/** The unit file text for `def`. Throws InvalidArgument for values a unit cannot hold. */
export function renderUnit(def: ServiceDefinition, options: RenderUnitOptions): string {
  const service = def.name;
  unitNameOf(def.name);
  const execPath = options.execPath ?? def.binary;
  refuseNul(execPath, "binary", service);
  if (!execPath.startsWith("/")) {
    throw new ProvctlError("InvalidArgument", "systemd.path_not_absolute", {
      params: { service, field: "binary", path: execPath },
    });
  }
  def.args.forEach((arg, index) => refuseNul(arg, `argument ${index + 1}`, service));
  for (const [key, value] of Object.entries(def.env)) {
    refuseNul(value, `environment ${key}`, service);
  }
  if (def.user !== undefined && !USER_NAME.test(def.user)) {
    throw new ProvctlError("InvalidArgument", "systemd.user_invalid", {
      params: { service, user: def.user },
    });
  }

  const lines = [
    `${MANAGED_MARKER}: written by \`provctl start\`; edits are replaced on the next start.`,
    "[Unit]",
    `Description=${oneLine(def.description ?? `provctl service ${service}`)}`,
    "",
    "[Service]",
    // exec: `systemctl start` fails when the program cannot be executed at all.
    "Type=exec",
    `ExecStart=${[execPath, ...def.args].map(quoteExecArg).join(" ")}`,
  ];
  for (const [key, value] of Object.entries(def.env)) {
    lines.push(`Environment=${quoteEnvironment(key, value)}`);
  }
  if (def.envFile !== undefined) {
    lines.push(`EnvironmentFile=${pathValue(def.envFile, "env file", service)}`);
  }
  if (def.workingDir !== undefined) {
    lines.push(`WorkingDirectory=${pathValue(def.workingDir, "working directory", service)}`);
  }
  if (def.user !== undefined) lines.push(`User=${def.user}`);
  lines.push(
    `Restart=${def.restartPolicy}`,
    `KillSignal=${def.stopSignal}`,
    `TimeoutStopSec=${timeoutValue(def.stopTimeoutMs)}`,
    "",
    "[Install]",
    `WantedBy=${options.scope === "user" ? "default.target" : "multi-user.target"}`,
    "",
  );
  return lines.join("\n");
}
