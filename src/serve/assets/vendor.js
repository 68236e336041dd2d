// The vendored libraries exist only as the server's /assets/ (embedded from their pinned
// npm packages by dashboard.ts), not next to this file in the repository; they are
// imported by computed URL so that `deno check src/` does not look for them here.
const at = (name) => new URL(name, import.meta.url).href;

const [preact, hooks, htm] = await Promise.all([
  import(at("./preact.js")),
  import(at("./hooks.js")),
  import(at("./htm.js")),
]);

export const render = preact.render;
export const { useEffect, useRef, useState } = hooks;
/** html`<p>${value}</p>`: Preact elements; values become text or properties, never markup. */
export const html = htm.default.bind(preact.h);

/** uPlot, loaded when a chart is first drawn. */
export async function loadUplot() {
  return (await import(at("./uplot.js"))).default;
}
