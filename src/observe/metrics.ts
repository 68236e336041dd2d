/**
 * MetricsCollector: counters, gauges and latency histograms of one provctl process, plus
 * external sources (the SSH pool's statistics) read when a snapshot is taken.
 *
 * Overhead: recording is synchronous and does no I/O and no allocation beyond the first
 * sample of a label set: a counter increment is one Map lookup by a joined label string;
 * a histogram observation adds a binary search over its bounds (11 by default). Memory
 * grows with distinct label sets, never with the number of observations. Everything else
 * (rendering, the state-dir file) happens once, at the end of a command.
 *
 * Each provctl invocation is a short process, so totals live in a state-dir file
 * (`persistMetrics`): under an exclusive lock on `<file>.lock` (flock, released by the
 * kernel even if the process dies) the file is read, the process's numbers added, and
 * the result written to a temp file that is renamed over it. Readers never see half a
 * file, and concurrent processes never lose each other's updates.
 */
import { ProvctlError } from "../core/errors.ts";
import { openTrusted, readTrusted, trustDir, writeTrustedAtomic } from "../core/state_trust.ts";
import { renderPrometheus } from "./_prometheus.ts";
import {
  emptySnapshot,
  type FamilySnapshot,
  mergeSnapshots,
  type MetricsSnapshot,
  type MetricType,
  type SeriesSnapshot,
  snapshotProblem,
} from "./_snapshot.ts";

export type { FamilySnapshot, MetricsSnapshot, MetricType, SeriesSnapshot };
export { mergeSnapshots, renderPrometheus };

/** Prometheus client defaults, in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

export type Labels = Readonly<Record<string, string>>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface Cell {
  labels: Labels;
  value: number;
  counts?: number[];
  sum: number;
}

abstract class Family {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly cells = new Map<string, Cell>();

  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  abstract readonly type: MetricType;

  protected cell(labels: Labels | undefined): Cell {
    const names = this.labelNames;
    // Fast path for the usual 0-2 labels: no array, no sort.
    const key = names.length === 0
      ? ""
      : names.length === 1
      ? labels?.[names[0]] ?? ""
      : names.map((n) => labels?.[n] ?? "").join("\u0001");
    let cell = this.cells.get(key);
    if (!cell) {
      const own: Record<string, string> = {};
      for (const n of names) own[n] = labels?.[n] ?? "";
      cell = { labels: own, value: 0, sum: 0 };
      this.cells.set(key, cell);
    }
    return cell;
  }

  snapshot(): FamilySnapshot {
    return {
      type: this.type,
      help: this.help,
      series: [...this.cells.values()].map((c) => ({ labels: { ...c.labels }, value: c.value })),
    };
  }
}

export class Counter extends Family {
  readonly type = "counter";
  /** Adds `by` (>= 0; default 1) to the series of `labels`. */
  inc(labels?: Labels, by = 1): void {
    if (!(by >= 0)) return; // a counter never goes down; NaN is ignored too
    this.cell(labels).value += by;
  }
  get(labels?: Labels): number {
    return this.cell(labels).value;
  }
}

export class Gauge extends Family {
  readonly type = "gauge";
  set(labels: Labels | undefined, value: number): void {
    this.cell(labels).value = value;
  }
  inc(labels?: Labels, by = 1): void {
    this.cell(labels).value += by;
  }
  get(labels?: Labels): number {
    return this.cell(labels).value;
  }
}

export class Histogram extends Family {
  readonly type = "histogram";
  readonly buckets: readonly number[];

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
  ) {
    super(name, help, labelNames);
    this.buckets = buckets;
  }

  /** Records one observation (seconds for latency histograms). */
  observe(labels: Labels | undefined, value: number): void {
    if (Number.isNaN(value)) return;
    const cell = this.cell(labels);
    cell.counts ??= new Array(this.buckets.length + 1).fill(0);
    // First bound >= value (Prometheus buckets are "less than or equal").
    let lo = 0;
    let hi = this.buckets.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.buckets[mid] < value) lo = mid + 1;
      else hi = mid;
    }
    cell.counts[lo]++;
    cell.value++;
    cell.sum += value;
  }

  override snapshot(): FamilySnapshot {
    return {
      type: "histogram",
      help: this.help,
      buckets: [...this.buckets],
      series: [...this.cells.values()].map((c) => ({
        labels: { ...c.labels },
        buckets: c.counts ? [...c.counts] : new Array(this.buckets.length + 1).fill(0),
        sum: c.sum,
        count: c.value,
      })),
    };
  }
}

/** Numbers read from elsewhere (e.g. the SSH pool) each time a snapshot is taken. */
export interface MetricSource {
  readonly name: string;
  readonly help: string;
  /** Counters are summed across invocations when persisted; gauges keep the last value. */
  readonly type: "counter" | "gauge";
  collect(): readonly { readonly labels?: Labels; readonly value: number }[];
}

/** What SshPool.stats().total returns (any subset of it). */
export interface PoolStatsLike {
  readonly created?: number;
  readonly reused?: number;
  readonly idleClosed?: number;
  readonly failed?: number;
  readonly waitMs?: number;
}

/** An operation as recorded by recordOperation(). */
export interface OperationSample {
  readonly op: string;
  /** "ok", "failed", "unreachable", "timeout", ... */
  readonly result: string;
  readonly durationMs: number;
}

export const OPERATIONS_TOTAL = "provctl_operations_total";
export const OPERATION_FAILURES_TOTAL = "provctl_operation_failures_total";
export const OPERATION_DURATION_SECONDS = "provctl_operation_duration_seconds";

export class MetricsCollector {
  readonly #families = new Map<string, Family>();
  readonly #sources = new Map<string, MetricSource>();
  #operations?: Counter;
  #failures?: Counter;
  #durations?: Histogram;

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#register("counter", name, labelNames, () => new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.#register("gauge", name, labelNames, () => new Gauge(name, help, labelNames));
  }

  histogram(
    name: string,
    help: string,
    options: { labelNames?: readonly string[]; buckets?: readonly number[] } = {},
  ): Histogram {
    const labelNames = options.labelNames ?? [];
    const buckets = options.buckets ?? DEFAULT_BUCKETS;
    if (
      buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]))
    ) {
      throw new ProvctlError("Internal", "observe.buckets_invalid", { params: { name } });
    }
    if (labelNames.includes("le")) {
      throw new ProvctlError("Internal", "observe.metric_label_invalid", {
        params: { name, label: "le" },
      });
    }
    return this.#register(
      "histogram",
      name,
      labelNames,
      () => new Histogram(name, help, labelNames, [...buckets]),
    );
  }

  #register<T extends Family>(
    type: MetricType,
    name: string,
    labelNames: readonly string[],
    make: () => T,
  ): T {
    const existing = this.#families.get(name) ?? this.#sources.get(name);
    if (existing) {
      if (existing.type !== type || !(existing instanceof Family)) {
        throw new ProvctlError("Internal", "observe.metric_conflict", {
          params: { name, existing: existing.type, requested: type },
        });
      }
      return existing as T;
    }
    checkNames(name, labelNames);
    const family = make();
    this.#families.set(name, family);
    return family;
  }

  /** Adds a source read at snapshot time; registering a name again replaces the source. */
  registerSource(source: MetricSource): void {
    checkNames(source.name, []);
    const family = this.#families.get(source.name);
    if (family) {
      throw new ProvctlError("Internal", "observe.metric_conflict", {
        params: { name: source.name, existing: family.type, requested: source.type },
      });
    }
    this.#sources.set(source.name, source);
  }

  /**
   * The SSH pool's statistics as counters (connections created, reused, closed idle,
   * failed; seconds spent waiting for a connection). Pass `() => pool.stats().total`.
   */
  registerPoolStats(stats: () => PoolStatsLike): void {
    const field = (name: string, help: string, read: (s: PoolStatsLike) => number | undefined) =>
      this.registerSource({
        name,
        help,
        type: "counter",
        collect: () => [{ value: read(stats()) ?? 0 }],
      });
    field("provctl_ssh_connections_created_total", "SSH connections opened.", (s) => s.created);
    field(
      "provctl_ssh_connections_reused_total",
      "Commands that reused an open pooled SSH connection.",
      (s) => s.reused,
    );
    field(
      "provctl_ssh_connections_idle_closed_total",
      "Pooled SSH connections closed after being idle.",
      (s) => s.idleClosed,
    );
    field(
      "provctl_ssh_connections_failed_total",
      "SSH connection attempts that failed (after retries).",
      (s) => s.failed,
    );
    field(
      "provctl_ssh_pool_wait_seconds_total",
      "Time commands waited for a free pooled SSH connection.",
      (s) => s.waitMs === undefined ? undefined : s.waitMs / 1000,
    );
  }

  /** One finished operation: counted by type and result, failures, latency histogram. */
  recordOperation(sample: OperationSample): void {
    this.#operations ??= this.counter(
      OPERATIONS_TOTAL,
      "Operations performed, by operation type and result.",
      ["op", "result"],
    );
    this.#failures ??= this.counter(
      OPERATION_FAILURES_TOTAL,
      "Operations that did not succeed, by operation type.",
      ["op"],
    );
    this.#durations ??= this.histogram(
      OPERATION_DURATION_SECONDS,
      "Duration of operations in seconds, by operation type.",
      { labelNames: ["op"] },
    );
    const op = { op: sample.op };
    this.#operations.inc({ op: sample.op, result: sample.result });
    if (sample.result !== "ok") this.#failures.inc(op);
    this.#durations.observe(op, Math.max(0, sample.durationMs) / 1000);
  }

  /** Every family and source with its current numbers. */
  snapshot(): MetricsSnapshot {
    const out = emptySnapshot();
    out.updated = new Date().toISOString();
    for (const [name, family] of this.#families) out.families[name] = family.snapshot();
    for (const [name, source] of this.#sources) {
      out.families[name] = {
        type: source.type,
        help: source.help,
        series: source.collect().map((s) => ({ labels: { ...s.labels }, value: s.value })),
      };
    }
    return out;
  }

  /** Prometheus text of this process's numbers. */
  toPrometheus(): string {
    return renderPrometheus(this.snapshot());
  }
}

function checkNames(name: string, labelNames: readonly string[]): void {
  if (!METRIC_NAME.test(name)) {
    throw new ProvctlError("Internal", "observe.metric_name_invalid", { params: { name } });
  }
  for (const label of labelNames) {
    if (!LABEL_NAME.test(label) || label.startsWith("__")) {
      throw new ProvctlError("Internal", "observe.metric_label_invalid", {
        params: { name, label },
      });
    }
  }
}

// ---------------------------------------------------------------------------------------
// The state-dir file

function fileError(key: string, path: string, error: unknown): ProvctlError {
  return new ProvctlError(
    error instanceof Deno.errors.PermissionDenied ? "PermissionDenied" : "CommandFailed",
    key,
    {
      params: { path, reason: error instanceof Error ? error.message : String(error) },
      cause: error,
    },
  );
}

/** The totals in `path` (an empty snapshot when there is no file yet). */
export async function loadMetrics(path: string): Promise<MetricsSnapshot> {
  let text: string;
  try {
    await trustDir(dirOf(path));
    const read = await readTrusted(path);
    if (read === undefined) return emptySnapshot();
    text = read;
  } catch (error) {
    if (error instanceof ProvctlError) throw error;
    throw fileError("observe.metrics_file_invalid", path, error);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw fileError("observe.metrics_file_invalid", path, error);
  }
  const problem = snapshotProblem(value);
  if (problem) {
    throw new ProvctlError("CommandFailed", "observe.metrics_file_invalid", {
      params: { path, reason: problem },
    });
  }
  return value as MetricsSnapshot;
}

function dirOf(path: string): string {
  return path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
}

async function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  let lock: Deno.FsFile;
  try {
    await trustDir(dirOf(path), { create: true });
    lock = (await openTrusted(`${path}.lock`, { write: true, create: true }))!.file;
    await lock.lock(true);
  } catch (error) {
    if (error instanceof ProvctlError) throw error;
    throw fileError("observe.metrics_write_failed", path, error);
  }
  try {
    return await fn();
  } finally {
    lock.close(); // releases the flock
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  try {
    await writeTrustedAtomic(path, text);
  } catch (error) {
    throw fileError("observe.metrics_write_failed", path, error);
  }
}

/**
 * Adds `snapshot` (one process's numbers) to the totals in `path`, atomically and safely
 * against concurrent provctl processes; returns the new totals.
 */
export function persistMetrics(path: string, snapshot: MetricsSnapshot): Promise<MetricsSnapshot> {
  return withFileLock(path, async () => {
    const merged = mergeSnapshots(await loadMetrics(path), snapshot);
    merged.updated = new Date().toISOString();
    await writeAtomic(path, JSON.stringify(merged) + "\n");
    return merged;
  });
}

/** Forgets all totals (`provctl metrics --reset`), also a corrupt file. */
export function resetMetrics(path: string): Promise<void> {
  return withFileLock(path, async () => {
    try {
      await Deno.remove(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw fileError("observe.metrics_write_failed", path, error);
      }
    }
  });
}
