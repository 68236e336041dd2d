/**
 * The dashboard's assets as the server sends them (no browser): security headers, the
 * embedded npm modules with their imports pointed at served files, no inline script or
 * style for the CSP to allow, every text the page asks for present in messages.toml.
 * The real page in Chromium: dashboard_browser_test.ts.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  browserImports,
  CONTENT_SECURITY_POLICY,
  dashboardAssets,
  mountDashboard,
} from "../../src/serve/dashboard.ts";
import { Messages } from "../../src/config/messages.ts";
import { embeddedMessages } from "../../src/config/messages.ts";
import indexHtml from "../../src/serve/assets/index.html" with { type: "text" };

const messages = new Messages(embeddedMessages());

function app(): Hono {
  const a = new Hono();
  mountDashboard(a, messages);
  a.notFound(() => new Response("nope", { status: 404 }));
  return a;
}

Deno.test("/ and /assets/* carry a strict CSP and the other security headers", async () => {
  const a = app();
  for (const path of ["/", "/assets/app.js", "/assets/preact.js", "/assets/style.css"]) {
    const res = await a.request(path);
    assert.equal(res.status, 200, path);
    await res.body?.cancel();
    assert.equal(res.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("x-frame-options"), "DENY");
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  }
  assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'/);
  assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
  assert.match(CONTENT_SECURITY_POLICY, /style-src 'self'(;|$)/);
  assert.match(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'/);
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe|\*|http/);

  const js = await a.request("/assets/app.js");
  assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
  const etag = js.headers.get("etag")!;
  await js.body?.cancel();
  const again = await a.request("/assets/app.js", { headers: { "if-none-match": etag } });
  assert.equal(again.status, 304);
  const missing = await a.request("/assets/../deno.json");
  assert.equal(missing.status, 404);
  assert.equal((await a.request("/assets/nothing.js")).status, 404);
});

Deno.test("the page has no inline script, style or handler and loads only its own assets", () => {
  assert.doesNotMatch(indexHtml, /<script(?![^>]*\bsrc=)[^>]*>/);
  assert.doesNotMatch(indexHtml, /<style|\sstyle=|\son[a-z]+=/i);
  const refs = [...indexHtml.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  assert.ok(refs.length >= 3);
  const assets = dashboardAssets(messages);
  for (const ref of refs) {
    assert.match(ref, /^\/assets\//, ref);
    assert.ok(assets.has(ref.slice("/assets/".length)), ref);
  }
});

Deno.test("served modules import only served files (vendored packages rewired)", () => {
  const assets = dashboardAssets(messages);
  for (const [name, asset] of assets) {
    if (!name.endsWith(".js")) continue;
    for (const m of asset.body.matchAll(/\b(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) {
      const target = m[1];
      assert.match(target, /^\.\/[a-z-]+\.js$/, `${name} imports ${target}`);
      assert.ok(assets.has(target.slice(2)), `${name} imports missing ${target}`);
    }
  }
  // The computed imports of vendor.js name served files too.
  for (const m of assets.get("vendor.js")!.body.matchAll(/at\("\.\/([a-z-]+\.js)"\)/g)) {
    assert.ok(assets.has(m[1]), m[1]);
  }
  assert.match(assets.get("hooks.js")!.body, /from\s*"\.\/preact\.js"/);
  assert.match(assets.get("uplot.js")!.body, /export default uPlot;\s*$/);
});

Deno.test("browserImports maps bare imports and refuses unknown ones", () => {
  assert.equal(
    browserImports(`import{a as b}from"preact";import("preact")`, { preact: "./preact.js" }),
    `import{a as b}from"./preact.js";import("./preact.js")`,
  );
  assert.equal(browserImports(`import x from "./y.js"`, {}), `import x from "./y.js"`);
  assert.throws(() => browserImports(`import x from "left-pad"`, {}), /left-pad/);
});

Deno.test("every text the dashboard shows is a [dashboard] message", () => {
  const assets = dashboardAssets(messages);
  const texts = JSON.parse(assets.get("messages.json")!.body) as Record<string, string>;
  const code = ["app.js", "pages.js", "charts.js"].map((n) => assets.get(n)!.body).join("\n");
  const used = new Set([...code.matchAll(/\bt\("([a-z_]+)"/g)].map((m) => m[1]));
  assert.ok(used.size > 50, `${used.size}`);
  for (const key of used) assert.ok(key in texts, `dashboard.${key} is missing`);
  // Keys built from a prefix: each variant the code can produce.
  const variants: Record<string, string[]> = {
    nav_: ["machines", "services", "health", "deployments", "audit", "metrics"],
    connection_: ["connecting", "live", "reconnecting"],
    action_: ["start", "stop", "restart", "plan", "deploy", "rollback"],
    logs_: ["following", "ended"],
    progress_: ["deploy", "rollback"],
    stage_: ["pending", "deploying", "healthy", "failed", "rolled_back"],
    op_: ["running", "succeeded", "failed", "cancelled"],
    sort_: ["name", "address", "profile", "reachable", "latency"],
  };
  for (const m of code.matchAll(/\bt\(`([a-z_]+)\$\{/g)) {
    assert.ok(variants[m[1]], `t(\`${m[1]}...\`) has no listed variants`);
  }
  for (const [prefix, names] of Object.entries(variants)) {
    for (const n of names) assert.ok(`${prefix}${n}` in texts, `dashboard.${prefix}${n}`);
  }
});
