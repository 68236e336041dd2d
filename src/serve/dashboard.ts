/**
 * The web dashboard at `/`: a static single-page app that calls /api/v1 with the
 * operator's token and follows /events. Every asset is a module import (the app's own
 * files and the pinned npm packages' dist files), so the bundled or compiled program
 * serves it from an empty directory; nothing is fetched from elsewhere at run time.
 */
import type { Hono } from "hono";
import type { Messages } from "../config/messages.ts";
import indexHtml from "./assets/index.html" with { type: "text" };
import styleCss from "./assets/style.css" with { type: "text" };
import appJs from "./assets/app.js" with { type: "text" };
import apiJs from "./assets/api.js" with { type: "text" };
import pagesJs from "./assets/pages.js" with { type: "text" };
import chartsJs from "./assets/charts.js" with { type: "text" };
import vendorJs from "./assets/vendor.js" with { type: "text" };
import iconSvg from "./assets/icon.svg" with { type: "text" };
// Preact (rendering that escapes every value), its hooks, and htm (tagged templates
// instead of JSX, so there is no build step): the ES module builds of the npm packages.
import preactJs from "preact" with { type: "text" };
import hooksJs from "preact/hooks" with { type: "text" };
import htmJs from "htm" with { type: "text" };
import uplotIife from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };

/**
 * No inline script or style anywhere, nothing from another origin, no framing: an
 * injected value cannot run, and the token never leaves this origin.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

const JS = "text/javascript; charset=utf-8";

interface Asset {
  readonly type: string;
  readonly body: string;
}

/** The files under /assets/ (name -> content). */
export function dashboardAssets(messages: Messages): ReadonlyMap<string, Asset> {
  // The dashboard's texts are messages like the CLI's (operators may override them).
  const texts = Object.fromEntries(
    messages.keys().filter((k) => k.startsWith("dashboard.")).sort().map((k) => [
      k.slice("dashboard.".length),
      messages.template(k),
    ]),
  );
  return new Map<string, Asset>([
    ["style.css", { type: "text/css; charset=utf-8", body: styleCss }],
    ["uplot.css", { type: "text/css; charset=utf-8", body: uplotCss }],
    ["app.js", { type: JS, body: appJs }],
    ["api.js", { type: JS, body: apiJs }],
    ["pages.js", { type: JS, body: pagesJs }],
    ["charts.js", { type: JS, body: chartsJs }],
    ["vendor.js", { type: JS, body: vendorJs }],
    ["preact.js", { type: JS, body: preactJs }],
    ["hooks.js", { type: JS, body: browserImports(hooksJs, { preact: "./preact.js" }) }],
    ["htm.js", { type: JS, body: htmJs }],
    // uPlot's IIFE build declares `var uPlot`; exporting it makes it an ES module.
    ["uplot.js", { type: JS, body: `${uplotIife}\nexport default uPlot;\n` }],
    ["messages.json", { type: "application/json", body: JSON.stringify(texts) }],
    ["icon.svg", { type: "image/svg+xml", body: iconSvg }],
  ]);
}

/**
 * Points a module's bare imports (`from "preact"`) at the files served next to it, as
 * an import map would (an inline one would need a CSP exception). Throws when the
 * module imports anything else, so a package upgrade cannot ship a broken page.
 */
export function browserImports(code: string, map: Readonly<Record<string, string>>): string {
  return code.replace(
    /(\bfrom\s*|\bimport\s*\(?\s*)(["'])([^"'./][^"']*)\2/g,
    (_whole, head: string, quote: string, name: string) => {
      const target = map[name];
      if (target === undefined) throw new Error(`dashboard asset imports unknown module ${name}`);
      return `${head}${quote}${target}${quote}`;
    },
  );
}

/** Serves the dashboard on `app`: `/` and `/assets/NAME`. */
export function mountDashboard(app: Hono, messages: Messages): void {
  const assets = dashboardAssets(messages);
  const etags = new Map<string, string>();
  const respond = async (name: string, asset: Asset, request: Request): Promise<Response> => {
    let etag = etags.get(name);
    if (etag === undefined) {
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(asset.body));
      etag = `"${
        Array.from(new Uint8Array(digest).slice(0, 12), (b) => b.toString(16).padStart(2, "0"))
          .join("")
      }"`;
      etags.set(name, etag);
    }
    const headers = {
      ...SECURITY_HEADERS,
      "content-type": asset.type,
      // Revalidated on every load, so an upgraded server never runs an old app.
      "cache-control": "no-cache",
      etag,
    };
    if (request.headers.get("if-none-match") === etag) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(request.method === "HEAD" ? null : asset.body, { headers });
  };
  const page: Asset = { type: "text/html; charset=utf-8", body: indexHtml };
  app.get("/", (c) => respond("index.html", page, c.req.raw));
  app.get("/favicon.ico", (c) => respond("icon.svg", assets.get("icon.svg")!, c.req.raw));
  app.get("/assets/:name", (c) => {
    const name = c.req.param("name");
    const asset = assets.get(name);
    return asset ? respond(name, asset, c.req.raw) : c.notFound();
  });
}
