/** Classifies launchctl's terse failures ("Bootstrap failed: 5: Input/output error"). */
import type { RunResult } from "../exec/runner.ts";

export type LaunchctlFailure =
  | "not-loaded" // no such job in the domain
  | "already-loaded"
  | "denied" // wrong domain for this session, or needs root
  | "ambiguous-io" // error 5: already loaded, invalid plist or permissions; diagnose further
  | "other";

export function classifyLaunchctl(result: RunResult): LaunchctlFailure {
  const text = `${result.stderr}\n${result.stdout}`;
  if (
    result.code === 113 ||
    /Could not find service|No such process|not find specified service/i.test(text)
  ) {
    return "not-loaded";
  }
  if (/: 17: File exists|service already loaded|already bootstrapped/i.test(text)) {
    return "already-loaded";
  }
  if (
    /Operation not permitted|Not privileged|Permission denied|: 125: Domain does not support|: 1: |requires root/i
      .test(text)
  ) return "denied";
  if (/: 5: Input\/output error/i.test(text)) return "ambiguous-io";
  return "other";
}

/** The most useful line of launchctl's output for a message. */
export function launchctlReason(result: RunResult): string {
  const lines = `${result.stderr}\n${result.stdout}`.split("\n").map((l) => l.trim()).filter(
    Boolean,
  );
  return lines.find((l) => /failed|error|could not|not permitted/i.test(l)) ?? lines.at(-1) ??
    `exit code ${result.code}`;
}
