/// <reference lib="dom" />
/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core (no browser
 * download) against `provctl serve` started as a process on loopback, with a fleet of
 * loopback sshd machines, a deployment and PID-file services. Everything the operator
 * sees comes from the API and its event stream; nothing is mocked.
 *
 * Screenshots of the main pages at 1280x800 and 390 px wide go to an artifacts directory
 * (PROVCTL_TEST_ARTIFACTS, else a temp dir; printed). With PROVCTL_UPDATE_SCREENSHOTS=1
 * they are also copied to docs/dashboard-*.png.
 */
import assert from "node:assert/strict";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { fleetUnavailable } from "../helpers/fleet.ts";
import { waitFor } from "../helpers/cli.ts";
import { deploySandbox, siteServices } from "../fleet/fixtures/deploy/sandbox.ts";
import { type RunningServer, startServer } from "../helpers/serve.ts";
import { FileTokenStore } from "../../src/state/file_token_store.ts";
import { newToken } from "../../src/state/tokens.ts";

const CHROMIUM = "/usr/bin/chromium";

function chromiumUnavailable(): string | undefined {
  try {
    Deno.statSync(CHROMIUM);
    return undefined;
  } catch {
    return `${CHROMIUM} is not installed (apt-get install chromium)`;
  }
}

const unavailable = chromiumUnavailable() ?? fleetUnavailable();
if (unavailable) console.error(`dashboard browser tests skipped: ${unavailable}`);

const HOSTILE = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`;

const SERVICES = siteServices(
  `
batch = 2
steps = { before = ["sleep 0.3"] }
`,
  `
[services.ticker]
binary = "/bin/sh"
args = ["-c", 'i=0; while :; do i=$((i+1)); echo "${HOSTILE} tick $i"; sleep 0.3; done']
`,
);

const LABELS = [
  `{ role = "web", env = "prod", "team.example.com/owner" = "ops-1" }`,
  `{ role = "web", env = "staging" }`,
  `{ role = "db", env = "prod" }`,
];

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

interface Relay {
  readonly port: number;
  /** Drops every connection and refuses new ones until restore(). */
  cut(): void;
  restore(): void;
  close(): void;
}

/** A loopback TCP relay to `port`. */
function relay(port: number): Relay {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let down = false;
  const close = (c: Deno.Conn) => {
    open.delete(c);
    try {
      c.close();
    } catch { /* already closed */ }
  };
  (async () => {
    for await (const conn of listener) {
      if (down) {
        close(conn);
        continue;
      }
      let upstream: Deno.Conn;
      try {
        upstream = await Deno.connect({ hostname: "127.0.0.1", port });
      } catch {
        close(conn);
        continue;
      }
      open.add(conn);
      open.add(upstream);
      const pipe = (a: Deno.Conn, b: Deno.Conn) =>
        a.readable.pipeTo(b.writable).catch(() => {}).finally(() => {
          close(a);
          close(b);
        });
      pipe(conn, upstream);
      pipe(upstream, conn);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    cut() {
      down = true;
      for (const c of [...open]) close(c);
    },
    restore() {
      down = false;
    },
    close() {
      this.cut();
      listener.close();
    },
  };
}

interface Operation {
  id: string;
  status: string;
  result: { ok: boolean; version: string } | null;
}

Deno.test({
  name: "dashboard in Chromium: sign-in, machines, services, health, deploy, rollback, read token",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const s = await deploySandbox(3);
    let server: RunningServer | undefined;
    let context: BrowserContext | undefined;
    const profile = await Deno.makeTempDir({ prefix: "provctl-chromium-" });
    const artifacts = Deno.env.get("PROVCTL_TEST_ARTIFACTS") ??
      await Deno.makeTempDir({ prefix: "provctl-dashboard-artifacts-" });
    await Deno.mkdir(artifacts, { recursive: true });
    const problems: string[] = [];
    let offline = false;
    let network: Relay | undefined;
    try {
      // Labels per machine, and a var holding markup (label values cannot: the inventory
      // refuses them, so markup reaches the page through vars and log lines).
      let inventory = await Deno.readTextFile(s.f.inventory);
      for (const [i, labels] of LABELS.entries()) {
        inventory = inventory.replace(
          `[machines.m${i + 1}]\n`,
          `[machines.m${i + 1}]\nlabels = ${labels}\n`,
        );
      }
      inventory = inventory.replace(
        "vars = { ",
        `vars = { note = "${HOSTILE.replaceAll('"', "'")}", `,
      );
      await Deno.writeTextFile(s.f.inventory, inventory);
      await s.writeServices(SERVICES);
      await s.artifact("site", "one");
      const store = new FileTokenStore(s.stateDir);
      const make = async (name: string, scope: "read" | "operate") => {
        const { secret, stored } = await newToken({ name, scope });
        await store.add(stored);
        return secret;
      };
      const operate = await make("alice", "operate");
      const read = await make("watcher", "read");
      server = await startServer((args) => s.spawn(args));
      const url = server.url;
      // The browser goes through a TCP relay the test can cut, like a network outage.
      network = relay(Number(new URL(url).port));
      const web = `http://127.0.0.1:${network.port}`;
      const api = async (method: string, path: string, token: string, body?: unknown) => {
        const res = await fetch(`${url}/api/v1${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await res.text();
        return { status: res.status, body: text ? JSON.parse(text) : null };
      };
      const finished = async (id: string): Promise<Operation> => {
        let op: Operation | undefined;
        await waitFor(`operation ${id}`, async () => {
          op = (await api("GET", `/operations/${id}`, read)).body;
          return op!.status !== "running";
        }, 60_000);
        return op!;
      };

      // The first release goes out over the API, so the UI has something to roll back to.
      const first = await api("POST", "/deployments/site/deploy", operate, {});
      assert.equal(first.status, 202, JSON.stringify(first.body));
      const one = await finished(first.body.id);
      assert.equal(one.status, "succeeded", JSON.stringify(one));

      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ARGS,
        viewport: { width: 1280, height: 800 },
      });
      // Generous: the fleet's machines share this host's CPUs with everything else.
      context.setDefaultTimeout(60_000);
      const watch = (page: Page) => {
        page.on("console", (m) => {
          // Connections fail by design while the test has cut the network.
          if (offline && /Failed to load resource: net::ERR_/.test(m.text())) return;
          if (m.type() === "error" || m.type() === "warning") {
            problems.push(`${m.type()}: ${m.text()}`);
          }
        });
        page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
        return page;
      };
      const page = watch(await context.newPage());
      const shots: string[] = [];
      const shot = async (p: Page, name: string) => {
        await p.waitForTimeout(300);
        const file = `${artifacts}/dashboard-${name}.png`;
        await p.screenshot({ path: file, fullPage: false });
        shots.push(file);
      };
      const go = async (p: Page, hash: string) => {
        await p.evaluate((h) => (location.hash = h), hash);
      };
      const cells = (p: Page, selector: string) =>
        p.$$eval(selector, (els) => els.map((e) => (e.textContent ?? "").trim()));

      await t.step("the page, its headers and assets come from the server alone", async () => {
        const res = await fetch(`${url}/`);
        const csp = res.headers.get("content-security-policy") ?? "";
        await res.body?.cancel();
        assert.match(csp, /script-src 'self'/);
        assert.match(csp, /style-src 'self'/);
        assert.match(csp, /frame-ancestors 'none'/);
        assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
        assert.equal(res.headers.get("x-content-type-options"), "nosniff");
        assert.equal(res.headers.get("referrer-policy"), "no-referrer");
        const requests: string[] = [];
        page.on("request", (r) => requests.push(r.url()));
        await page.goto(`${web}/`);
        await page.waitForSelector("#token");
        assert.deepEqual(requests.filter((r) => !r.startsWith(web)), [], "nothing from elsewhere");
        assert.equal(await page.getAttribute("#token", "type"), "password");
      });

      await t.step("sign in with the keyboard; the token stays out of URLs", async () => {
        await page.focus("#token");
        await page.keyboard.type(operate);
        await page.keyboard.press("Enter");
        await page.waitForSelector("#connection[data-state=live]", { timeout: 45_000 });
        assert.equal(await page.getAttribute("#scope", "data-can-act"), "yes");
        assert.ok(!page.url().includes(operate));
        const stored = await page.evaluate(() => sessionStorage.getItem("provctl.token"));
        assert.equal(stored, operate);
        const cookies = await context!.cookies();
        assert.deepEqual(cookies, []);
        // Tab reaches the navigation.
        await page.keyboard.press("Tab");
        await page.keyboard.press("Tab");
        const focused = await page.evaluate(() => document.activeElement?.tagName);
        assert.equal(focused, "A");
      });

      await t.step("every machine and label; selector filter; sorting; reachability", async () => {
        await go(page, "#/machines");
        await page.waitForSelector("#machines-table tbody tr");
        assert.deepEqual(await cells(page, "#machines-table tbody tr td:first-child"), [
          "m1",
          "m2",
          "m3",
        ]);
        const chips = await cells(page, "#machines-table .chip");
        for (
          const label of [
            "role=web",
            "env=prod",
            "team.example.com/owner=ops-1",
            "env=staging",
            "role=db",
          ]
        ) {
          assert.ok(chips.includes(label), `${label} in ${chips}`);
        }
        await page.click("#check-machines");
        await page.waitForFunction(() =>
          document.querySelectorAll("#machines-table .badge-ok").length === 3
        );
        await shot(page, "machines-1280");
        // Sorting by name, descending.
        await page.click("button[data-sort=name]");
        assert.deepEqual(await cells(page, "#machines-table tbody tr td:first-child"), [
          "m3",
          "m2",
          "m1",
        ]);
        await page.fill("#selector", "role=web,env in (prod)");
        await page.press("#selector", "Enter");
        await page.waitForFunction(() =>
          document.querySelectorAll("#machines-table tbody tr").length === 1
        );
        assert.deepEqual(await cells(page, "#machines-table tbody tr td:first-child"), ["m1"]);
        assert.match(page.url(), /selector=role%3Dweb%2Cenv\+in\+%28prod%29/);
        await page.fill("#selector", "!canary,env!=staging");
        await page.press("#selector", "Enter");
        await page.waitForFunction(() =>
          document.querySelectorAll("#machines-table tbody tr").length === 2
        );
      });

      await t.step("machine page: markup in a var is text", async () => {
        await go(page, "#/machines/m1");
        await page.waitForSelector("#machine-vars .chip");
        const vars = await cells(page, "#machine-vars .chip");
        assert.ok(vars.some((v) => v.includes("<script>window.__pwned=1</script>")), `${vars}`);
        assert.equal(await page.$$eval("#main script, #main img", (e) => e.length), 0);
        assert.equal(
          await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned),
          undefined,
        );
      });

      let tickerPid = 0;
      await t.step(
        "services: start with confirmation, follow logs, restart changes the PID",
        async () => {
          await go(page, "#/services?machine=m1");
          await page.waitForSelector("tr[data-service=site]");
          const marker = await page.evaluate(() => {
            (globalThis as { __marker?: string }).__marker = "no reload";
            return "no reload";
          });
          await page.click("tr[data-service=ticker] button:has-text('Start')");
          await page.waitForSelector("dialog.confirm[open]");
          assert.match(await page.textContent("#confirm-text") ?? "", /ticker on m1/);
          await page.click("#confirm-yes");
          await page.waitForFunction(() =>
            /^\d+$/.test(
              document.querySelector("tr[data-service=ticker] td.pid")?.textContent?.trim() ?? "",
            )
          );
          tickerPid = Number(await page.textContent("tr[data-service=ticker] td.pid"));
          await page.click("tr[data-service=ticker] button:has-text('Logs')");
          await page.waitForFunction(() =>
            (document.querySelector("#log-lines")?.textContent ?? "").includes("tick 3")
          );
          const logText = await page.textContent("#log-lines") ?? "";
          assert.ok(logText.includes("<script>window.__pwned=1</script>"), logText);
          assert.equal(await page.$$eval("#log-lines *:not(span)", (e) => e.length), 0);
          assert.equal(
            await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned),
            undefined,
          );
          await shot(page, "services-1280");

          await page.click("tr[data-service=ticker] button:has-text('Restart')");
          await page.click("#confirm-yes");
          await page.waitForFunction(
            (old) => {
              const text = document.querySelector("tr[data-service=ticker] td.pid")?.textContent;
              return /^\d+$/.test(text?.trim() ?? "") && Number(text) !== old;
            },
            tickerPid,
            { timeout: 45_000 },
          );
          const after = Number(await page.textContent("tr[data-service=ticker] td.pid"));
          assert.notEqual(after, tickerPid);
          tickerPid = after;
          assert.equal(
            await page.evaluate(() => (globalThis as { __marker?: string }).__marker),
            marker,
          );
        },
      );

      await t.step("connection lost: reconnecting, then resumes with Last-Event-ID", async () => {
        const streams: Record<string, string>[] = [];
        const onRequest = async (
          r: { url(): string; allHeaders(): Promise<Record<string, string>> },
        ) => {
          if (r.url().endsWith("/api/v1/events")) streams.push(await r.allHeaders());
        };
        page.on("request", onRequest);
        const before = Number(await page.textContent("tr[data-service=ticker] td.pid"));
        offline = true;
        network!.cut();
        await page.waitForSelector("#connection[data-state=reconnecting]", { timeout: 45_000 });
        // Meanwhile someone restarts the service; the page hears of it after reconnecting.
        const restarted = await api("POST", "/machines/m1/services/ticker/restart", operate);
        assert.equal(restarted.status, 200, JSON.stringify(restarted.body));
        network!.restore();
        await page.waitForSelector("#connection[data-state=live]", { timeout: 45_000 });
        offline = false;
        await page.waitForFunction(
          (old) => {
            const text = document.querySelector("tr[data-service=ticker] td.pid")?.textContent;
            return /^\d+$/.test(text?.trim() ?? "") && Number(text) !== old;
          },
          before,
          { timeout: 45_000 },
        );
        tickerPid = Number(await page.textContent("tr[data-service=ticker] td.pid"));
        page.off("request", onRequest);
        const resumed = streams.filter((h) => h["last-event-id"] !== undefined);
        assert.ok(resumed.length >= 1, JSON.stringify(streams));
        assert.match(resumed[0]["last-event-id"], /^\d+$/);
        assert.equal(resumed[0].authorization, `Bearer ${operate}`);
      });

      await t.step("health: a stopped service's transition arrives live", async () => {
        await go(page, "#/health");
        await page.fill("#htarget", "{host}:{cli_port}");
        await page.fill("#hinterval", "1");
        await page.click("form.filters button[type=submit]");
        await page.waitForFunction(() =>
          document.querySelectorAll("#health-table tr[data-healthy=yes]").length === 3
        );
        // Another operator stops the service (over the API); this page only polls.
        const stopped = await api("POST", "/machines/m2/services/site/stop", operate);
        assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
        await page.waitForSelector("#transitions li[data-machine=m2][data-to=unhealthy]", {
          timeout: 45_000,
        });
        await page.waitForSelector("#health-table tr[data-machine=m2][data-healthy=no]");
        await shot(page, "health-1280");
        // The next deploy starts it again with the new release.
      });

      await t.step("deploy from the UI: plan, then live batches to the end", async () => {
        await s.artifact("site", "two");
        await go(page, "#/deployments");
        await page.waitForSelector("tr[data-deployment=site]");
        await page.click("tr[data-deployment=site] a");
        await page.waitForSelector("#plan-deploy");
        assert.equal(await page.isDisabled("#run-deploy"), true, "deploy comes after a plan");
        await page.click("#plan-deploy");
        await page.waitForSelector("#plan");
        const batches = await cells(page, "#plan .batches li");
        assert.deepEqual(batches.length, 2, `${batches}`);
        assert.match(batches[0], /m1, m2/);
        await page.click("#run-deploy");
        await page.click("#confirm-yes");
        await page.waitForSelector("#progress li[data-batch='1']", { timeout: 45_000 });
        await page.waitForSelector("#progress li[data-batch='2']", { timeout: 60_000 });
        await page.waitForSelector("#progress[data-status=succeeded]", { timeout: 60_000 });
        assert.deepEqual(
          await page.$$eval(
            "#progress li[data-host]",
            (els) =>
              els.map((e) => `${e.getAttribute("data-host")}:${e.getAttribute("data-stage")}`),
          ),
          ["m1:healthy", "m2:healthy", "m3:healthy"],
        );
        await page.waitForFunction(
          (v) => document.querySelector("#live-version")?.textContent !== v,
          one.result!.version,
        );
        for (const i of [0, 1, 2]) {
          assert.deepEqual(await s.get(i, "cli_port", "/version.txt"), {
            status: 200,
            body: "two",
          });
        }
        await shot(page, "deploy-1280");
      });

      await t.step("roll back from the UI", async () => {
        await page.click("#run-rollback");
        await page.click("#confirm-yes");
        await page.waitForSelector("#progress[data-status=succeeded]", { timeout: 60_000 });
        await page.waitForFunction(
          (v) => document.querySelector("#live-version")?.textContent === v,
          one.result!.version,
        );
        for (const i of [0, 1, 2]) {
          assert.deepEqual(await s.get(i, "cli_port", "/version.txt"), {
            status: 200,
            body: "one",
          });
        }
        await page.waitForSelector("#history-table tbody tr");
        const ops = await cells(page, "#history-table tbody tr td:nth-child(2)");
        assert.ok(ops.includes("rollback"), `${ops}`);
        // Every run here succeeded: each row says so (from the run's own outcome).
        const results = await cells(page, "#history-table tbody tr td:nth-child(5)");
        assert.ok(results.length >= 2 && results.every((r) => r === "ok"), `${results}`);
      });

      await t.step("audit and metrics pages", async () => {
        await go(page, "#/audit");
        await page.waitForSelector("table.audit tbody tr");
        const operators = await cells(page, "table.audit tbody tr td:nth-child(2)");
        assert.ok(operators.includes("alice"), `${operators}`);
        await shot(page, "audit-1280");
        // Newest first, 50 a page, older pages by cursor.
        const times = await page.$$eval("table.audit tbody tr", (rows) => rows.length);
        assert.equal(times, 50);
        await page.click("#audit-more");
        await page.waitForFunction(() =>
          document.querySelectorAll("table.audit tbody tr").length > 50
        );
        // Filters go to the API.
        await page.fill("#amachine", "m1");
        await page.selectOption("#aresult", "ok");
        await page.press("#amachine", "Enter");
        await page.waitForFunction(() => {
          const cells = [...document.querySelectorAll("table.audit tbody tr td:nth-child(3)")];
          return cells.length > 0 && cells.every((c) => c.textContent === "m1");
        });
        assert.match(page.url(), /machine=m1&.*result=ok/);
        await go(page, "#/metrics");
        await page.waitForSelector("#chart-latency canvas");
        await page.waitForSelector("#chart-failures canvas");
        await shot(page, "metrics-1280");
      });

      await t.step("390 px wide: no page-wide horizontal scrolling", async () => {
        await page.setViewportSize({ width: 390, height: 844 });
        for (
          const [hash, name] of [
            ["#/machines", "machines"],
            ["#/services?machine=m1", "services"],
            ["#/deployments/site", "deploy"],
            ["#/health", "health"],
          ]
        ) {
          await go(page, hash);
          await page.waitForSelector("#main h1");
          await page.waitForLoadState("networkidle").catch(() => {});
          if (name === "services") await page.waitForSelector("tr[data-service=ticker]");
          await page.waitForTimeout(300);
          const width = await page.evaluate(() => document.documentElement.scrollWidth);
          assert.ok(width <= 390, `${hash} is ${width} px wide`);
          await shot(page, `${name}-390`);
          if (name === "services") {
            // Every action button is on screen, not behind a horizontal scroll.
            const boxes = await page.$$eval(
              "tr[data-service] td.actions button",
              (els) => els.map((e) => e.getBoundingClientRect().right),
            );
            assert.ok(boxes.length >= 8 && boxes.every((r) => r <= 390), `${boxes}`);
          }
          if (name === "machines") {
            await page.selectOption("#sort-by", "name:-1");
            assert.deepEqual(await cells(page, "#machines-table tbody tr td:first-child a"), [
              "m3",
              "m2",
              "m1",
            ]);
          }
        }
        await page.setViewportSize({ width: 1280, height: 800 });
      });

      await t.step("a read token sees everything and cannot act", async () => {
        const viewer = watch(await context!.newPage());
        await viewer.goto(`${web}/`);
        await viewer.fill("#token", read);
        await viewer.click("button[type=submit]");
        await viewer.waitForSelector("#connection[data-state=live]", { timeout: 45_000 });
        assert.equal(await viewer.getAttribute("#scope", "data-can-act"), "no");
        await go(viewer, "#/services?machine=m1");
        await viewer.waitForSelector("tr[data-service=ticker]");
        const buttons = await viewer.$$eval(
          "tr[data-service] td.actions button",
          (els) => els.map((e) => [e.textContent?.trim(), (e as HTMLButtonElement).disabled]),
        );
        for (const [label, disabled] of buttons) {
          assert.equal(disabled, label !== "Logs", `${label} disabled: ${disabled}`);
        }
        await go(viewer, "#/deployments/site");
        await viewer.waitForSelector("#run-rollback");
        for (const id of ["#plan-deploy", "#run-deploy", "#run-rollback"]) {
          assert.equal(await viewer.isDisabled(id), true, id);
        }
        await go(viewer, "#/machines");
        await viewer.waitForSelector("#check-machines");
        assert.equal(await viewer.isDisabled("#check-machines"), true);
        // It still sees the reachability found by the operator's check.
        await viewer.waitForFunction(() =>
          document.querySelectorAll("#machines-table .badge-ok").length === 3
        );
        // The API refuses too, whatever the page shows.
        for (
          const path of [
            "/machines/m1/services/ticker/restart",
            "/deployments/site/rollback",
            "/machines/check",
          ]
        ) {
          const res = await api("POST", path, read, {});
          assert.equal(res.status, 403, `${path}: ${JSON.stringify(res.body)}`);
        }
        const pid = await api("GET", "/machines/m1/services/ticker", read);
        assert.equal(pid.body.pid, tickerPid, "nothing restarted");
        await viewer.close();
      });

      await t.step("no console errors or warnings", () => {
        assert.deepEqual(problems, []);
      });

      console.error(`dashboard screenshots: ${artifacts}`);
      if (Deno.env.get("PROVCTL_UPDATE_SCREENSHOTS") === "1") {
        const docs = new URL("../../docs/", import.meta.url).pathname;
        for (const file of shots) await Deno.copyFile(file, docs + file.split("/").pop());
      }
    } finally {
      await context?.close().catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      network?.close();
      if (server) await server.stop();
      // Stops every service the test started (ticker, site) on each host.
      await s.stop();
    }
  },
});
