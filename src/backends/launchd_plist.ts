/**
 * Renders a ServiceDefinition as a launchd job property list (XML plist 1.0):
 * Label (configurable reverse-DNS prefix + service name), ProgramArguments,
 * EnvironmentVariables, WorkingDirectory, StandardOutPath/StandardErrorPath, RunAtLoad,
 * KeepAlive from the restart policy, UserName and ExitTimeOut. Text is XML-escaped;
 * values XML cannot carry are refused before anything is written.
 */
import { ProvctlError } from "../core/errors.ts";
import type { ServiceDefinition } from "../core/service_definition.ts";
import { parseServiceName, type ServiceName } from "../core/service_name.ts";

/** Text of the XML comment in every plist provctl writes; others are never overwritten. */
export const PLIST_MARKER = "Managed by provctl";

const LABEL_PREFIX = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/;

export function labelOf(prefix: string, name: ServiceName): string {
  if (!LABEL_PREFIX.test(prefix)) {
    throw new ProvctlError("InvalidConfig", "launchd.label_prefix_invalid", { params: { prefix } });
  }
  parseServiceName(name); // a cast string must not slip into a path
  return `${prefix}.${name}`;
}

export function isManagedPlist(text: string): boolean {
  return text.slice(0, 600).includes(`<!-- ${PLIST_MARKER}`);
}

export interface RenderPlistOptions {
  readonly label: string;
  /** File receiving stdout and stderr (launchd appends; it must be in an existing directory). */
  readonly logPath: string;
  /** The program's absolute path (the definition's binary resolved on the target). */
  readonly execPath?: string;
  /** System daemon (UserName allowed) rather than a per-user agent. */
  readonly system: boolean;
  /** Start at boot/login (provctl enable); false for a job only started by provctl start. */
  readonly runAtLoad?: boolean;
}

const RUN_AT_LOAD = /<key>RunAtLoad<\/key>(\s*)<(true|false)\/>/;

/** Whether a plist starts its job at load (boot or login). */
export function runAtLoadOf(text: string): boolean {
  return RUN_AT_LOAD.exec(text)?.[2] === "true";
}

/** Whether a plist keeps its job alive, which makes launchd start it at load too. */
export function keepsAlive(text: string): boolean {
  const at = text.indexOf("<key>KeepAlive</key>");
  return at >= 0 && !/^\s*<false\/>/.test(text.slice(at + "<key>KeepAlive</key>".length));
}

/** The plist with RunAtLoad set to `on` (added when missing). */
export function withRunAtLoad(text: string, on: boolean): string {
  const value = on ? "<true/>" : "<false/>";
  if (RUN_AT_LOAD.test(text)) return text.replace(RUN_AT_LOAD, `<key>RunAtLoad</key>$1${value}`);
  return text.replace(
    /<\/dict>\s*<\/plist>\s*$/,
    `\t<key>RunAtLoad</key>\n\t${value}\n</dict>\n</plist>\n`,
  );
}

/** XML 1.0 allows tab, LF, CR and characters from U+0020 (minus U+FFFE/U+FFFF). */
function xmlText(value: string, field: string, service: string): string {
  let out = "";
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (code === 0) {
      throw new ProvctlError("InvalidArgument", "launchd.value_nul", {
        params: { service, field },
      });
    }
    if (
      (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) || code === 0xfffe ||
      code === 0xffff
    ) {
      throw new ProvctlError("InvalidArgument", "launchd.value_bad_char", {
        params: { service, field },
      });
    }
    if (ch === "&") out += "&amp;";
    else if (ch === "<") out += "&lt;";
    else if (ch === ">") out += "&gt;";
    else if (ch === '"') out += "&quot;";
    // A literal CR would be read back as LF (XML end-of-line normalisation).
    else if (ch === "\r") out += "&#13;";
    else out += ch;
  }
  return out;
}

function absolute(path: string, field: string, service: string): string {
  if (!path.startsWith("/")) {
    throw new ProvctlError("InvalidArgument", "launchd.path_not_absolute", {
      params: { service, field, path },
    });
  }
  return path;
}

const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,254}$/;

/** The plist text for `def`. Throws InvalidArgument for what launchd cannot express. */
export function renderPlist(def: ServiceDefinition, options: RenderPlistOptions): string {
  const service = def.name;
  const text = (value: string, field: string) => xmlText(value, field, service);
  const execPath = absolute(options.execPath ?? def.binary, "binary", service);
  if (def.envFile !== undefined) {
    throw new ProvctlError("InvalidArgument", "launchd.env_file_unsupported", {
      params: { service, path: def.envFile },
    });
  }
  if (def.user !== undefined && !USER_NAME.test(def.user)) {
    throw new ProvctlError("InvalidArgument", "launchd.user_invalid", {
      params: { service, user: def.user },
    });
  }
  if (def.user !== undefined && !options.system) {
    throw new ProvctlError("InvalidArgument", "launchd.user_needs_system", { params: { service } });
  }

  const t = "\t";
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">`,
    `<!-- ${PLIST_MARKER}: written by provctl start; edits are replaced on the next start. -->`,
    `<plist version="1.0">`,
    `<dict>`,
    `${t}<key>Label</key>`,
    `${t}<string>${text(options.label, "label")}</string>`,
  ];
  if (def.description !== undefined) {
    // launchd ignores unknown keys; this one keeps the description next to the job.
    lines.push(
      `${t}<key>ProvctlDescription</key>`,
      `${t}<string>${text(def.description, "description")}</string>`,
    );
  }
  lines.push(`${t}<key>ProgramArguments</key>`, `${t}<array>`);
  lines.push(`${t}${t}<string>${text(execPath, "binary")}</string>`);
  def.args.forEach((arg, i) =>
    lines.push(`${t}${t}<string>${text(arg, `argument ${i + 1}`)}</string>`)
  );
  lines.push(`${t}</array>`);
  const env = Object.entries(def.env);
  if (env.length > 0) {
    lines.push(`${t}<key>EnvironmentVariables</key>`, `${t}<dict>`);
    for (const [key, value] of env) {
      lines.push(`${t}${t}<key>${text(key, "environment")}</key>`);
      lines.push(`${t}${t}<string>${text(value, `environment ${key}`)}</string>`);
    }
    lines.push(`${t}</dict>`);
  }
  if (def.workingDir !== undefined) {
    const dir = absolute(def.workingDir, "working directory", service);
    lines.push(
      `${t}<key>WorkingDirectory</key>`,
      `${t}<string>${text(dir, "working directory")}</string>`,
    );
  }
  const log = text(absolute(options.logPath, "log file", service), "log file");
  lines.push(
    `${t}<key>StandardOutPath</key>`,
    `${t}<string>${log}</string>`,
    `${t}<key>StandardErrorPath</key>`,
    `${t}<string>${log}</string>`,
    `${t}<key>RunAtLoad</key>`,
    options.runAtLoad ? `${t}<true/>` : `${t}<false/>`,
    `${t}<key>KeepAlive</key>`,
  );
  if (def.restartPolicy === "always") lines.push(`${t}<true/>`);
  else if (def.restartPolicy === "on-failure") {
    // Restart only after an unsuccessful exit (non-zero or a signal).
    lines.push(
      `${t}<dict>`,
      `${t}${t}<key>SuccessfulExit</key>`,
      `${t}${t}<false/>`,
      `${t}</dict>`,
    );
  } else lines.push(`${t}<false/>`);
  if (def.user !== undefined) {
    lines.push(`${t}<key>UserName</key>`, `${t}<string>${text(def.user, "user")}</string>`);
  }
  // ExitTimeOut is whole seconds between the stop signal (SIGTERM) and SIGKILL.
  lines.push(
    `${t}<key>ExitTimeOut</key>`,
    `${t}<integer>${Math.max(1, Math.ceil(def.stopTimeoutMs / 1000))}</integer>`,
  );
  lines.push(`</dict>`, `</plist>`, ``);
  return lines.join("\n");
}
