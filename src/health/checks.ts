/**
 * Health checks: one definition type per strategy (command, http, tcp, custom) and
 * `runCheck`, which carries one out and says whether the target is healthy.
 *
 * Commands and scripts always run through the runner (locally or over SSH). HTTP and
 * TCP checks run `from = "controller"` (provctl's machine: fetch, Deno.connect) or
 * `from = "remote"` (on the runner's machine, with the curl/wget/python3 or
 * bash/python3/nc it has), e.g. for an endpoint bound to the remote's 127.0.0.1.
 */
import { isProvctlError, type MessageParams } from "../core/errors.ts";
import { embeddedMessages, Messages } from "../config/messages.ts";
import { LocalRunner } from "../exec/local_runner.ts";
import type { CommandRunner, RunResult } from "../exec/runner.ts";
import { controllerHttp, controllerTcp } from "./_controller.ts";
import {
  HTTP_TOOLS,
  httpInvocation,
  type HttpOutcome,
  pickTool,
  probeTools,
  readHttpOutcome,
  readTcpOutcome,
  TCP_TOOLS,
  tcpInvocation,
  type TcpOutcome,
} from "./_remote.ts";
import type {
  CheckResult,
  CheckStatus,
  CommandCheck,
  CustomCheck,
  HealthCheck,
  HttpCheck,
  TcpCheck,
} from "./_types.ts";

export type {
  CheckOrigin,
  CheckResult,
  CheckStatus,
  CommandCheck,
  CustomCheck,
  HealthCheck,
  HealthScript,
  HttpCheck,
  StatusRange,
  TcpCheck,
} from "./_types.ts";
export { parseHealthCheck, type ParseHealthCheckOptions, parseHealthScripts } from "./_parse.ts";

/** Time limit of a check when neither the check nor the caller sets one. */
export const DEFAULT_CHECK_TIMEOUT_MS = 5000;

export interface RunCheckOptions {
  /** The machine commands (and `from = "remote"` requests) run on; default: this machine. */
  readonly runner?: CommandRunner;
  /** Time limit when the check sets no timeout_ms (defaults.toml health.timeout_ms). */
  readonly timeoutMs?: number;
  /** Aborting stops the check; runCheck then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

let catalog: Messages | undefined;
function render(key: string, params: MessageParams): string {
  catalog ??= new Messages(embeddedMessages());
  return catalog.format(key, params);
}

/** A one-line description of the check for humans ("HTTP GET http://... from remote"). */
export function describeCheck(check: HealthCheck): string {
  switch (check.type) {
    case "command":
      return render("health.describe_command", {
        command: [check.program, ...check.args].join(" "),
      });
    case "http":
      return render("health.describe_http", {
        method: check.method,
        url: check.url,
        from: check.from,
      });
    case "tcp":
      return render("health.describe_tcp", {
        host: check.host,
        port: check.port,
        from: check.from,
      });
    case "custom":
      return render("health.describe_custom", { script: check.script });
  }
}

/** Carries out one check. Never throws for an unhealthy target or a broken check (see CheckResult.status). */
export async function runCheck(
  check: HealthCheck,
  options: RunCheckOptions = {},
): Promise<CheckResult> {
  const runner = options.runner ?? new LocalRunner();
  const timeoutMs = check.timeoutMs ?? options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const startedAt = Date.now();
  const started = performance.now();
  const onController = (check.type === "http" || check.type === "tcp") &&
    check.from === "controller";
  let verdict: Verdict;
  switch (check.type) {
    case "command":
    case "custom":
      verdict = await programCheck(check, runner, timeoutMs, options.signal);
      break;
    case "http":
      verdict = judgeHttp(
        check,
        timeoutMs,
        check.from === "controller"
          ? await controllerHttp(check, timeoutMs, options.signal)
          : await remoteHttp(check, runner, timeoutMs, options.signal),
        onController ? "controller" : runner.target,
      );
      break;
    case "tcp":
      verdict = judgeTcp(
        check,
        timeoutMs,
        check.from === "controller"
          ? await controllerTcp(check, timeoutMs, options.signal)
          : await remoteTcp(check, runner, timeoutMs, options.signal),
        onController ? "controller" : runner.target,
      );
      break;
  }
  if (options.signal?.aborted) throw options.signal.reason;
  const { status, key, params, ...extra } = verdict;
  return {
    ok: status === "pass",
    status,
    detail: render(key, params),
    message: { key, params },
    latencyMs: Math.round(performance.now() - started),
    startedAt,
    ranOn: onController ? "controller" : runner.target,
    ...extra,
  };
}

interface Verdict {
  status: CheckStatus;
  key: string;
  params: MessageParams;
  via?: string;
  httpStatus?: number;
  exitCode?: number;
  error?: CheckResult["error"];
}

/** The runner's own failure (spawn failed, connection lost) as a check error. */
function runnerError(error: unknown, program: string, target: string): Verdict {
  if (!isProvctlError(error)) throw error;
  return {
    status: "error",
    key: "health.run_failed",
    params: { program, target, reason: render(error.key, error.params) },
    error,
  };
}

/** The last lines of a program's output, short enough for one line of a table. */
export function outputTail(result: Pick<RunResult, "stdout" | "stderr">, max = 200): string {
  const text = [result.stderr, result.stdout].map((t) => t.trim()).filter(Boolean).join("\n");
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean).slice(-3).join(" | ");
  return lines.length > max ? "…" + lines.slice(lines.length - max + 1) : lines;
}

async function programCheck(
  check: CommandCheck | CustomCheck,
  runner: CommandRunner,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<Verdict> {
  let result: RunResult;
  try {
    result = await runner.run(check.program, check.args, {
      env: check.env,
      cwd: check.cwd,
      timeoutMs,
      signal,
    });
  } catch (error) {
    return runnerError(error, check.program, runner.target);
  }
  const name = check.type === "custom" ? check.script : check.program;
  const base = { via: check.program, exitCode: result.code };
  const output = outputTail(result);
  const prefix = check.type === "custom" ? "health.custom" : "health.command";
  if (result.timedOut) {
    // A hung health program usually means what it probes hangs: unhealthy, not an error.
    return { ...base, status: "fail", key: `${prefix}_timeout`, params: { name, ms: timeoutMs } };
  }
  if (result.code === 0) return { ...base, status: "pass", key: `${prefix}_ok`, params: { name } };
  if (check.type === "command" || result.code === 1) {
    const params = { name, code: result.code, signal: result.signal ?? "", output: output || "-" };
    return {
      ...base,
      status: "fail",
      key: result.signal ? `${prefix}_killed` : `${prefix}_failed`,
      params,
    };
  }
  return {
    ...base,
    status: "error",
    key: "health.custom_error",
    params: { name, code: result.code, output: output || "-" },
  };
}

async function remoteHttp(
  check: HttpCheck,
  runner: CommandRunner,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<HttpOutcome | Verdict> {
  let tool: { name: string; path: string } | undefined;
  try {
    tool = pickTool(await probeTools(runner), HTTP_TOOLS);
  } catch (error) {
    return runnerError(error, "/bin/sh", runner.target);
  }
  if (!tool) {
    return {
      status: "error",
      key: "health.http_no_tool",
      params: { url: check.url, target: runner.target, tools: HTTP_TOOLS.join(", ") },
    };
  }
  const invocation = httpInvocation(tool.name, check, timeoutMs);
  try {
    // The tool has its own time limit; the runner's is the backstop for a stuck tool.
    const result = await runner.run(tool.path, invocation.args, {
      env: invocation.env,
      timeoutMs: timeoutMs + 2000,
      signal,
    });
    return readHttpOutcome(tool.name, result);
  } catch (error) {
    return runnerError(error, tool.path, runner.target);
  }
}

async function remoteTcp(
  check: TcpCheck,
  runner: CommandRunner,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<TcpOutcome | Verdict> {
  let tool: { name: string; path: string } | undefined;
  try {
    tool = pickTool(await probeTools(runner), TCP_TOOLS);
  } catch (error) {
    return runnerError(error, "/bin/sh", runner.target);
  }
  if (!tool) {
    return {
      status: "error",
      key: "health.tcp_no_tool",
      params: {
        host: check.host,
        port: check.port,
        target: runner.target,
        tools: TCP_TOOLS.join(", "),
      },
    };
  }
  const invocation = tcpInvocation(tool.name, check, timeoutMs);
  try {
    // bash's /dev/tcp has no connect timeout of its own: the runner's limit is it.
    const result = await runner.run(tool.path, invocation.args, {
      env: invocation.env,
      timeoutMs: tool.name === "bash" ? timeoutMs : timeoutMs + 2000,
      signal,
    });
    return readTcpOutcome(tool.name, result);
  } catch (error) {
    return runnerError(error, tool.path, runner.target);
  }
}

function formatRange(check: HttpCheck): string {
  const { min, max } = check.status;
  return min === max ? String(min) : `${min}-${max}`;
}

function judgeHttp(
  check: HttpCheck,
  timeoutMs: number,
  outcome: HttpOutcome | Verdict,
  target: string,
): Verdict {
  if ("status" in outcome && "key" in outcome) return outcome;
  const url = check.url;
  if (outcome.kind === "failed") {
    const via = outcome.via;
    if (outcome.timedOut) {
      return { status: "fail", key: "health.http_timeout", params: { url, ms: timeoutMs }, via };
    }
    if (outcome.tls) {
      return {
        status: "fail",
        key: "health.http_tls",
        params: { url, reason: outcome.reason },
        via,
      };
    }
    return {
      status: "fail",
      key: "health.http_failed",
      params: { url, reason: outcome.reason, target },
      via,
    };
  }
  const base = { via: outcome.via, httpStatus: outcome.status };
  const code = outcome.status;
  if (code < check.status.min || code > check.status.max) {
    return {
      ...base,
      status: "fail",
      key: "health.http_bad_status",
      params: { code, expected: formatRange(check), body: snippet(outcome.body) },
    };
  }
  if (check.bodyContains !== undefined && !outcome.body.includes(check.bodyContains)) {
    return {
      ...base,
      status: "fail",
      key: "health.http_body_missing",
      params: { code, expected: check.bodyContains, body: snippet(outcome.body) },
    };
  }
  if (check.bodyRegex !== undefined && !new RegExp(check.bodyRegex).test(outcome.body)) {
    return {
      ...base,
      status: "fail",
      key: "health.http_body_mismatch",
      params: { code, pattern: check.bodyRegex, body: snippet(outcome.body) },
    };
  }
  return {
    ...base,
    status: "pass",
    key: check.tlsInsecure ? "health.http_ok_insecure" : "health.http_ok",
    params: { code },
  };
}

/** The start of a body, on one line, for failure details. */
function snippet(body: string, max = 80): string {
  const line = body.replace(/\s+/g, " ").trim();
  if (line === "") return "(empty)";
  return line.length > max ? line.slice(0, max - 1) + "…" : line;
}

function judgeTcp(
  check: TcpCheck,
  timeoutMs: number,
  outcome: TcpOutcome | Verdict,
  target: string,
): Verdict {
  if ("status" in outcome && "key" in outcome) return outcome;
  const params = { host: check.host, port: check.port };
  if (outcome.kind === "connected") {
    return { status: "pass", key: "health.tcp_ok", params, via: outcome.via };
  }
  if (outcome.timedOut) {
    return {
      status: "fail",
      key: "health.tcp_timeout",
      params: { ...params, ms: timeoutMs },
      via: outcome.via,
    };
  }
  return {
    status: "fail",
    key: "health.tcp_failed",
    params: { ...params, reason: outcome.reason, target },
    via: outcome.via,
  };
}
