/**
 * Flags that select machines from the inventory (kept apart from fleet.ts so that
 * declaring them costs nothing at start-up; the selection code loads only when used).
 */
import type { TypedFlagParameter } from "@stricli/core";
import { switchFlag, valueFlag } from "./_flag_specs.ts";
import type { ProvctlContext } from "./context.ts";
import { brief } from "./help_text.ts";

/** Which machines of the inventory. */
export interface SelectFlags {
  readonly inventory?: string;
  readonly all?: boolean;
  readonly selector?: string;
  readonly profile?: string;
  readonly limit?: number;
  readonly machine?: readonly string[];
  /** Cloud sources: fetch now, no cache read or written. */
  readonly noCache?: boolean;
  /** Cloud sources: fetch now (cache as fallback). */
  readonly refresh?: boolean;
}

/** How work runs across them (commands that connect to machines). */
export interface RunFlags {
  readonly forks?: number;
  readonly maxFailures?: string;
  /** Act on machines of failed cloud sources (cached data). */
  readonly allowStale?: boolean;
}

export interface FleetFlags extends SelectFlags, RunFlags {}

type FlagSpec<T> = { readonly [K in keyof T]-?: TypedFlagParameter<T[K], ProvctlContext> };

const count = (value: string): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new Error(brief("count_invalid"));
  }
  return n;
};

export const selectFlagSpecs: FlagSpec<SelectFlags> = {
  inventory: valueFlag("flag_inventory", "FILE"),
  all: switchFlag("flag_all"),
  selector: valueFlag("flag_selector", "LABELS"),
  profile: valueFlag("flag_profile", "NAME"),
  limit: valueFlag("flag_limit", "N", count),
  machine: {
    kind: "parsed",
    parse: String,
    optional: true,
    variadic: true,
    placeholder: "NAME|GLOB",
    get brief() {
      return brief("flag_machine");
    },
  },
  noCache: switchFlag("flag_no_cache"),
  refresh: switchFlag("flag_refresh"),
};

export const runFlagSpecs: FlagSpec<RunFlags> = {
  forks: valueFlag("flag_forks", "N", count),
  maxFailures: valueFlag("flag_max_failures", "N|P%"),
  allowStale: switchFlag("flag_allow_stale"),
};

export const fleetAliases = { l: "selector", m: "machine" } as const;

/** True when the flags (or names) ask for machines from the inventory. */
export function fleetRequested(flags: FleetFlags, names: readonly string[] = []): boolean {
  return Boolean(
    flags.all || flags.selector !== undefined || flags.profile !== undefined ||
      (flags.machine && flags.machine.length > 0) || names.length > 0,
  );
}
