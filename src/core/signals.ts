/** Signal names and numbers (POSIX numbering shared by Linux and macOS for these). */
import { ProvctlError } from "./errors.ts";

export const SIGNALS = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
} as const;
export type SignalName = keyof typeof SIGNALS;

/** Linux numbers for names shown when a process died of a signal. */
const LINUX_SIGNAL_NAMES: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  5: "SIGTRAP",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  10: "SIGUSR1",
  11: "SIGSEGV",
  12: "SIGUSR2",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
};

/** Accepts "TERM", "SIGTERM", "sigterm" or "15". */
export function parseSignal(raw: string): SignalName {
  const upper = raw.trim().toUpperCase();
  const name = (upper.startsWith("SIG") ? upper : `SIG${upper}`) as SignalName;
  if (name in SIGNALS) return name;
  const byNumber = Object.entries(SIGNALS).find(([, n]) => String(n) === upper);
  if (byNumber) return byNumber[0] as SignalName;
  throw new ProvctlError("InvalidArgument", "errors.signal_invalid", {
    params: { value: raw, allowed: Object.keys(SIGNALS).join(", ") },
  });
}

export function signalNameOf(num: number): string {
  return LINUX_SIGNAL_NAMES[num] ?? `signal ${num}`;
}

/** The Linux number of a signal name ("SIGTERM" -> 15); 0 for a name not in the table. */
export function signalNumberOf(name: string): number {
  for (const [n, known] of Object.entries(LINUX_SIGNAL_NAMES)) if (known === name) return Number(n);
  return 0;
}
