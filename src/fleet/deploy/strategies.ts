/**
 * How a strategy cuts the machines into batches. Rolling: batches of N machines or P% of
 * them (rounded up, at least 1). Canary: the first N or P% alone, then the rest as
 * rolling. Blue-green: the idle group, in batches (default: all at once).
 */
import type { FailureBudget } from "../executor.ts";
import type { Amount, Strategy } from "./config.ts";

export interface BatchSpec<T> {
  readonly kind: "canary" | "batch";
  readonly items: readonly T[];
}

/** N, or P% of `total` rounded up; at least 1, at most `total`. */
export function resolveAmount(amount: Amount | undefined, total: number, fallback: number): number {
  let n = fallback;
  if (amount?.count !== undefined) n = amount.count;
  else if (amount?.percent !== undefined) n = Math.ceil((amount.percent * total) / 100);
  return Math.max(1, Math.min(total, n));
}

/** How many failures a budget allows among `total` machines (P% rounded down). */
export function allowedFailures(budget: FailureBudget, total: number): number {
  if (budget.count !== undefined) return budget.count;
  return Math.floor(((budget.percent ?? 0) * total) / 100);
}

function chunk<T>(items: readonly T[], size: number, kind: "canary" | "batch"): BatchSpec<T>[] {
  const out: BatchSpec<T>[] = [];
  for (let i = 0; i < items.length; i += size) out.push({ kind, items: items.slice(i, i + size) });
  return out;
}

export function batchesFor<T>(
  strategy: Strategy,
  items: readonly T[],
  options: { batch?: Amount; canary?: Amount },
): BatchSpec<T>[] {
  if (items.length === 0) return [];
  switch (strategy) {
    case "rolling":
      return chunk(items, resolveAmount(options.batch, items.length, 1), "batch");
    case "canary": {
      const first = resolveAmount(options.canary, items.length, 1);
      const rest = items.slice(first);
      return [
        { kind: "canary", items: items.slice(0, first) },
        ...chunk(rest, resolveAmount(options.batch, items.length, 1), "batch"),
      ];
    }
    case "blue-green":
      return chunk(items, resolveAmount(options.batch, items.length, items.length), "batch");
  }
}
