/**
 * The JSON form of metrics (`provctl metrics -o json`, and <state_dir>/metrics.json) and
 * how two snapshots add up: counters and histograms are summed, gauges take the newer value.
 */

export type MetricType = "counter" | "gauge" | "histogram";

export interface SeriesSnapshot {
  labels: Record<string, string>;
  /** Counter or gauge value. */
  value?: number;
  /** Histogram: observations per bucket (NOT cumulative), the last one is +Inf. */
  buckets?: number[];
  sum?: number;
  count?: number;
}

export interface FamilySnapshot {
  type: MetricType;
  help: string;
  /** Histogram upper bounds in seconds (without +Inf). */
  buckets?: number[];
  series: SeriesSnapshot[];
}

export interface MetricsSnapshot {
  version: 1;
  /** When these numbers were last merged (ISO). */
  updated?: string;
  families: Record<string, FamilySnapshot>;
}

export function emptySnapshot(): MetricsSnapshot {
  return { version: 1, families: {} };
}

export function seriesKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels).sort().map((k) => `${k}\u0001${labels[k]}`).join("\u0002");
}

function sameBounds(a: readonly number[] | undefined, b: readonly number[] | undefined): boolean {
  return (a ?? []).length === (b ?? []).length && (a ?? []).every((v, i) => v === b![i]);
}

function addSeries(type: MetricType, into: SeriesSnapshot, add: SeriesSnapshot): void {
  if (type === "gauge") {
    into.value = add.value;
    return;
  }
  if (type === "counter") {
    into.value = (into.value ?? 0) + (add.value ?? 0);
    return;
  }
  const counts = into.buckets ?? [];
  (add.buckets ?? []).forEach((n, i) => counts[i] = (counts[i] ?? 0) + n);
  into.buckets = counts;
  into.sum = (into.sum ?? 0) + (add.sum ?? 0);
  into.count = (into.count ?? 0) + (add.count ?? 0);
}

function cloneSeries(series: SeriesSnapshot): SeriesSnapshot {
  const copy: SeriesSnapshot = { ...series, labels: { ...series.labels } };
  if (series.buckets) copy.buckets = [...series.buckets];
  return copy;
}

/**
 * `base` + `add` as a new snapshot. A family whose type or histogram buckets changed
 * (a newer provctl) starts over from `add`: such numbers cannot be added up.
 */
export function mergeSnapshots(base: MetricsSnapshot, add: MetricsSnapshot): MetricsSnapshot {
  const out: MetricsSnapshot = { version: 1, families: {} };
  for (const [name, family] of Object.entries(base.families)) {
    out.families[name] = { ...family, series: family.series.map(cloneSeries) };
  }
  for (const [name, family] of Object.entries(add.families)) {
    const existing = out.families[name];
    if (
      !existing || existing.type !== family.type ||
      (family.type === "histogram" && !sameBounds(existing.buckets, family.buckets))
    ) {
      out.families[name] = { ...family, series: family.series.map(cloneSeries) };
      continue;
    }
    existing.help = family.help;
    const byKey = new Map(existing.series.map((s) => [seriesKey(s.labels), s]));
    for (const series of family.series) {
      const found = byKey.get(seriesKey(series.labels));
      if (found) addSeries(family.type, found, series);
      else {
        const copy = cloneSeries(series);
        existing.series.push(copy);
        byKey.set(seriesKey(copy.labels), copy);
      }
    }
  }
  out.updated = add.updated ?? base.updated;
  return out;
}

const TYPES: ReadonlySet<string> = new Set(["counter", "gauge", "histogram"]);
const isNumber = (v: unknown) => typeof v === "number";

/** The reason `value` is not a snapshot, or undefined when it is one. */
export function snapshotProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "not a JSON object";
  const v = value as Record<string, unknown>;
  if (v.version !== 1) return `unknown version ${JSON.stringify(v.version)}`;
  if (typeof v.families !== "object" || v.families === null) return "no families";
  for (const [name, f] of Object.entries(v.families as Record<string, unknown>)) {
    const family = f as Record<string, unknown>;
    if (typeof family !== "object" || family === null || !TYPES.has(family.type as string)) {
      return `metric ${name}: bad type`;
    }
    if (!Array.isArray(family.series)) return `metric ${name}: no series`;
    for (const s of family.series as Record<string, unknown>[]) {
      if (typeof s !== "object" || s === null || typeof s.labels !== "object") {
        return `metric ${name}: bad series`;
      }
      const numeric = family.type === "histogram"
        ? Array.isArray(s.buckets) && s.buckets.every(isNumber) && isNumber(s.sum) &&
          isNumber(s.count)
        : isNumber(s.value);
      if (!numeric) return `metric ${name}: bad values`;
    }
  }
  return undefined;
}
