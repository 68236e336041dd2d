/**
 * Prometheus text exposition format (version 0.0.4) of a metrics snapshot:
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */
import type { FamilySnapshot, MetricsSnapshot, SeriesSnapshot } from "./_snapshot.ts";

/** HELP text: backslash and newline escaped. */
function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

/** Label values: backslash, double quote and newline escaped. */
function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function labelText(labels: Readonly<Record<string, string>>, extra?: [string, string]): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

function seriesLines(name: string, family: FamilySnapshot, series: SeriesSnapshot): string[] {
  if (family.type !== "histogram") {
    return [`${name}${labelText(series.labels)} ${formatValue(series.value ?? 0)}`];
  }
  const bounds = family.buckets ?? [];
  const counts = series.buckets ?? [];
  const lines: string[] = [];
  let cumulative = 0;
  for (let i = 0; i <= bounds.length; i++) {
    cumulative += counts[i] ?? 0;
    const le = i < bounds.length ? formatValue(bounds[i]) : "+Inf";
    lines.push(`${name}_bucket${labelText(series.labels, ["le", le])} ${cumulative}`);
  }
  lines.push(`${name}_sum${labelText(series.labels)} ${formatValue(series.sum ?? 0)}`);
  lines.push(`${name}_count${labelText(series.labels)} ${series.count ?? cumulative}`);
  return lines;
}

/** The whole snapshot as exposition text; families sorted by name, empty ones left out. */
export function renderPrometheus(snapshot: MetricsSnapshot): string {
  const out: string[] = [];
  for (const name of Object.keys(snapshot.families).sort()) {
    const family = snapshot.families[name];
    if (family.series.length === 0) continue;
    out.push(`# HELP ${name} ${escapeHelp(family.help)}`);
    out.push(`# TYPE ${name} ${family.type}`);
    for (const series of family.series) out.push(...seriesLines(name, family, series));
  }
  return out.length === 0 ? "" : out.join("\n") + "\n";
}
