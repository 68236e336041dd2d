// The vendored libraries exist only as the server's /assets/ (embedded from their pinned
// npm packages by dashboard.ts), not next to this file in the repository; they are
// imported by computed URL so that `deno check src/` does not look for them here.
const at = (name) => new URL(name, import.meta.url).href;

export const { html, render, useEffect, useRef, useState } = await import(at("./preact-htm.js"));

/** uPlot, loaded when a chart is first drawn. */
export async function loadUplot() {
  return (await import(at("./uplot.js"))).default;
}
