// Metrics charts with uPlot (loaded only by the metrics page): operation latency and
// failures over time, from the audit records the API returns.
import { loadUplot } from "./vendor.js";

const COLORS = ["#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2"];

function width(el) {
  return Math.max(260, el.clientWidth || el.parentElement?.clientWidth || 600);
}

function observe(el, chart) {
  const ro = new ResizeObserver(() => chart.setSize({ width: width(el), height: 220 }));
  ro.observe(el);
  return {
    destroy() {
      ro.disconnect();
      chart.destroy();
    },
  };
}

/** Draws both charts into `latency` and `failures`; returns handles with destroy(). */
export async function drawAuditCharts({ latency, failures, records, t }) {
  const uPlot = await loadUplot();
  for (const el of [latency, failures]) el.replaceChildren();
  const rows = records
    .map((r) => ({ ...r, x: Date.parse(r.ts) / 1000 }))
    .filter((r) => Number.isFinite(r.x))
    .sort((a, b) => a.x - b.x);

  // Latency: one point series per operation kind (the most frequent six).
  const counts = new Map();
  for (const r of rows) counts.set(r.op, (counts.get(r.op) ?? 0) + 1);
  const ops = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, COLORS.length).map((
    [op],
  ) => op);
  const xs = rows.map((r) => r.x);
  const latencyData = [
    xs,
    ...ops.map((op) =>
      rows.map((r) => (r.op === op && typeof r.duration_ms === "number" ? r.duration_ms : null))
    ),
  ];
  const points = () => null;
  const latencyChart = new uPlot(
    {
      width: width(latency),
      height: 220,
      scales: { x: { time: true } },
      axes: [{}, { label: t("chart_ms"), size: 60 }],
      series: [
        {},
        ...ops.map((op, i) => ({
          label: op,
          stroke: COLORS[i],
          fill: COLORS[i],
          paths: points,
          points: { show: true, size: 6, fill: COLORS[i] },
        })),
      ],
    },
    latencyData,
    latency,
  );

  // Failures: records per minute, failed vs ok, as bars.
  const buckets = new Map();
  for (const r of rows) {
    const minute = Math.floor(r.x / 60) * 60;
    const b = buckets.get(minute) ?? { ok: 0, failed: 0 };
    if (r.result === "ok") b.ok++;
    else b.failed++;
    buckets.set(minute, b);
  }
  const minutes = [...buckets.keys()].sort((a, b) => a - b);
  const bars = uPlot.paths.bars({ size: [0.6, 40] });
  const failuresChart = new uPlot(
    {
      width: width(failures),
      height: 220,
      // A minute either side, so one bucket is not stretched over years.
      scales: { x: { time: true, range: (_u, min, max) => [min - 60, max + 60] } },
      axes: [{}, { label: t("chart_per_minute"), size: 50 }],
      series: [
        {},
        { label: t("chart_failed"), stroke: "#dc2626", fill: "rgba(220,38,38,0.5)", paths: bars },
        { label: t("chart_ok"), stroke: "#16a34a", fill: "rgba(22,163,74,0.3)", paths: bars },
      ],
    },
    [minutes, minutes.map((m) => buckets.get(m).failed), minutes.map((m) => buckets.get(m).ok)],
    failures,
  );

  return [observe(latency, latencyChart), observe(failures, failuresChart)];
}
