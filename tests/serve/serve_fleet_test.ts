/**
 * `provctl serve` on the loopback sshd fleet: machines and checks, exec as an operation,
 * services on a machine, and a deploy + rollback started over the API with their events
 * observed on /events and audit records naming the token. Answers are checked against
 * /openapi.json.
 */
import assert from "node:assert/strict";
import { fleetUnavailable } from "../helpers/fleet.ts";
import { deploySandbox, siteServices } from "../fleet/fixtures/deploy/sandbox.ts";
import { AuditLog } from "../../src/observe/audit_log.ts";
import {
  apiClient,
  OpenApiChecker,
  readEvents,
  type RunningServer,
  type SseEvent,
  startServer,
} from "../helpers/serve.ts";
import { FileTokenStore } from "../../src/state/file_token_store.ts";
import { newToken } from "../../src/state/tokens.ts";

const unavailable = fleetUnavailable();
if (unavailable) console.error(`serve fleet tests skipped: ${unavailable}`);

const SERVICES = siteServices(`
batch = 2
steps = { before = ["sleep 0.5"] }
`);

interface Operation {
  id: string;
  status: string;
  operator: string;
  results: { machine: string; status: string; stdout: string; exit_code: number }[];
  result: { ok: boolean; version: string; machines: { machine: string; status: string }[] };
  error: unknown;
}

Deno.test({
  name: "provctl serve on a loopback fleet: check, exec, machine services, deploy, rollback",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const s = await deploySandbox(3);
    let server: RunningServer | undefined;
    try {
      await s.writeServices(SERVICES);
      await s.artifact("site", "one");
      const store = new FileTokenStore(s.stateDir);
      const make = async (name: string, scope: "read" | "operate") => {
        const { secret, stored } = await newToken({ name, scope });
        await store.add(stored);
        return secret;
      };
      const read = await make("watcher", "read");
      const operate = await make("deployer", "operate");
      server = await startServer((args) => s.spawn(args));
      const checker = await OpenApiChecker.load(server.url);
      const api = apiClient(server.url, checker);
      const poll = async (id: string): Promise<Operation> => {
        for (let i = 0; i < 300; i++) {
          const res = await api("GET", `/operations/${id}`, { token: read });
          assert.equal(res.status, 200);
          const op = res.body as Operation;
          if (op.status !== "running") return op;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`operation ${id} did not finish`);
      };

      // One listener for the whole run: every deploy and operation event.
      const stream = await fetch(`${server.url}/api/v1/events?topics=deploy,operation,audit`, {
        headers: { authorization: `Bearer ${read}` },
      });
      let stopListening = false;
      const events: SseEvent[] = [];
      const listening = readEvents(stream, (e) => {
        events.splice(0, events.length, ...e);
        return stopListening;
      }, 120_000);

      await t.step("machines and a check of each", async () => {
        const list = await api("GET", "/machines", { token: read });
        assert.deepEqual((list.body as { items: { name: string }[] }).items.map((m) => m.name), [
          "m1",
          "m2",
          "m3",
        ]);
        const check = await api("POST", "/machines/check", { token: operate, body: {} });
        assert.equal(check.status, 200, check.text);
        const rows = (check.body as { items: { machine: string; ok: boolean }[] }).items;
        assert.deepEqual(rows.map((r) => [r.machine, r.ok]), [["m1", true], ["m2", true], [
          "m3",
          true,
        ]]);
        // A read token sees the last results.
        const last = await api("GET", "/machines/check", { token: read });
        assert.deepEqual(last.body, check.body);
      });

      await t.step("exec: argv reaches the program as words, shell only when asked", async () => {
        const started = await api("POST", "/exec", {
          token: operate,
          body: { machines: ["m*"], argv: ["echo", "a  b", "$HOME", ";", "id"] },
        });
        assert.equal(started.status, 202, started.text);
        const op = await poll((started.body as { id: string }).id);
        assert.equal(op.status, "succeeded", JSON.stringify(op));
        assert.equal(op.operator, "deployer");
        assert.deepEqual(op.results.map((r) => [r.machine, r.stdout]), [
          ["m1", "a  b $HOME ; id\n"],
          ["m2", "a  b $HOME ; id\n"],
          ["m3", "a  b $HOME ; id\n"],
        ]);
        const shell = await api("POST", "/exec", {
          token: operate,
          body: { machines: ["m2"], shell: "echo $((40 + 2)); exit 3" },
        });
        const shellOp = await poll((shell.body as { id: string }).id);
        assert.equal(shellOp.status, "failed");
        assert.deepEqual(
          shellOp.results.map((r) => [r.stdout, r.exit_code]),
          [["42\n", 3]],
        );
        const audit = await api("GET", "/audit?op=exec&machine=m2", { token: read });
        const records = (audit.body as { records: { operator: string; command: string }[] })
          .records;
        assert.equal(records.length, 2);
        assert.ok(records.every((r) => r.operator === "deployer"), JSON.stringify(records));
      });

      let firstDeploy = "";
      await t.step("deploy over the API: dry run, 409 while running, events, audit", async () => {
        const dry = await api("POST", "/deployments/site/deploy", {
          token: operate,
          body: { dry_run: true },
        });
        assert.equal(dry.status, 200, dry.text);
        const plan = (dry.body as { plan: { batches: { machines: string[] }[] } }).plan;
        assert.deepEqual(plan.batches.map((b) => b.machines), [["m1", "m2"], ["m3"]]);

        const started = await api("POST", "/deployments/site/deploy", {
          token: operate,
          body: { version: "v1" },
        });
        assert.equal(started.status, 202, started.text);
        firstDeploy = (started.body as { id: string }).id;
        const again = await api("POST", "/deployments/site/deploy", {
          token: operate,
          body: { version: "v1" },
        });
        assert.equal(again.status, 409, again.text);
        assert.match((again.body as { detail: string }).detail, /already being deployed/);
        const op = await poll(firstDeploy);
        assert.equal(op.status, "succeeded", JSON.stringify(op));
        assert.equal(op.result.ok, true);
        assert.deepEqual(op.result.machines.map((m) => [m.machine, m.status]), [
          ["m1", "deployed"],
          ["m2", "deployed"],
          ["m3", "deployed"],
        ]);
        for (const [i] of s.hosts.entries()) {
          assert.equal(await s.current(i, "site"), "releases/v1");
        }
      });

      await t.step("the deploy's events arrived on /events, with increasing ids", async () => {
        const deadline = Date.now() + 10_000;
        const finished = () =>
          events.some((e) =>
            e.event === "operation" && JSON.parse(e.data!).type === "finished" &&
            JSON.parse(e.data!).data.id === firstDeploy
          );
        while (!finished() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        assert.ok(finished(), "no operation finished event");
        const ids = events.map((e) => Number(e.id));
        assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
        for (const e of events) checker.validate("Event", JSON.parse(e.data!));
        const ofDeploy = events.filter((e) => e.event === "deploy")
          .map((e) => JSON.parse(e.data!)).filter((e) => e.data.id === firstDeploy);
        const types = ofDeploy.map((e) => e.type);
        assert.ok(types.includes("starting"), types.join(","));
        assert.equal(types.filter((t) => t === "batch_start").length, 2, types.join(","));
        assert.equal(types.filter((t) => t === "host_done").length, 3, types.join(","));
        const audited = events.filter((e) => e.event === "audit").map((e) => JSON.parse(e.data!))
          .filter((e) => e.data.deployment_id?.startsWith("site-"));
        assert.ok(audited.length > 0);
        assert.ok(audited.every((e) => e.data.operator === "deployer"));
      });

      await t.step("a machine's services over the API", async () => {
        const status = await api("GET", "/machines/m1/services/site", { token: read });
        assert.equal(status.status, 200, status.text);
        const before = status.body as { state: string; pid: number; machine: string };
        assert.equal(before.state, "running");
        assert.equal(before.machine, "m1");
        // (restart/start of this service need the deploy's {current_dir}: only deploys run it)
        const stopped = await api("POST", "/machines/m1/services/site/stop", { token: operate });
        assert.equal(stopped.status, 200, stopped.text);
        assert.deepEqual(stopped.body, {
          name: "site",
          machine: "m1",
          backend: "pidfile",
          changed: true,
          killed: false,
        });
        const after = await api("GET", "/machines/m1/services/site", { token: read });
        assert.equal((after.body as { state: string }).state, "not-running");
        const all = await api("GET", "/machines/m2/services", { token: read });
        assert.ok(JSON.stringify(all.body).includes('"site"'));
        assert.equal((await api("GET", "/machines/nope/services", { token: read })).status, 404);
      });

      await t.step("a second version, then a rollback over the API", async () => {
        await s.artifact("site", "two");
        const v2 = await api("POST", "/deployments/site/deploy", {
          token: operate,
          body: { version: "v2" },
        });
        assert.equal((await poll((v2.body as { id: string }).id)).status, "succeeded");
        const list = await api("GET", "/deployments", { token: read });
        const [dep] =
          (list.body as { items: { name: string; version: string; previous: string }[] })
            .items;
        assert.deepEqual([dep.name, dep.version, dep.previous], ["site", "v2", "v1"]);
        const back = await api("POST", "/deployments/site/rollback", { token: operate, body: {} });
        assert.equal(back.status, 202, back.text);
        const op = await poll((back.body as { id: string }).id);
        assert.equal(op.status, "succeeded", JSON.stringify(op));
        assert.equal(op.result.version, "v1");
        for (const [i] of s.hosts.entries()) {
          assert.equal(await s.current(i, "site"), "releases/v1");
        }
        // A step of the v2 run that failed on one machine and then passed (a retried
        // probe): the run's step records are mixed, the run itself succeeded.
        const v2Id = (await poll((v2.body as { id: string }).id)).result as unknown as {
          deployment_id: string;
        };
        const log = await AuditLog.open(`${s.stateDir}/audit.jsonl`);
        await log.append({
          machine: "m2",
          op: "deploy.health",
          result: "failed",
          command: "probe",
          deploymentId: v2Id.deployment_id,
          at: new Date(Date.now() - 1000),
        });
        await log.close();
        const detail = await api("GET", "/deployments/site", { token: read });
        const history = (detail.body as {
          history: { op: string; operator: string; outcome: string; deployment_id: string }[];
        }).history;
        assert.deepEqual(history.map((h) => h.op), ["rollback", "deploy", "deploy"]);
        assert.ok(history.every((h) => h.operator === "deployer"));
        assert.deepEqual(history.map((h) => h.outcome), ["ok", "ok", "ok"]);
        assert.equal(history[1].deployment_id, v2Id.deployment_id);
        assert.equal((await api("GET", "/deployments/nope", { token: read })).status, 404);
      });

      await t.step(
        "metrics count the API's operations; the stored totals are Metrics records",
        async () => {
          const metrics = await api("GET", "/metrics", { token: read });
          assert.match(metrics.text, /provctl_operations_total\{[^}]*op="exec"/);
          checker.validate(
            "Metrics",
            JSON.parse(await Deno.readTextFile(`${s.stateDir}/metrics.json`)),
          );
        },
      );

      stopListening = true;
      const last = await api("POST", "/exec", {
        token: operate,
        body: { machines: ["m1"], argv: ["true"] },
      });
      await listening;
      await poll((last.body as { id: string }).id);

      await t.step("SIGTERM lets a running operation finish, audits it, exits 0", async () => {
        const slow = await api("POST", "/exec", {
          token: operate,
          body: { machines: ["m3"], argv: ["sleep", "1.5"] },
        });
        assert.equal(slow.status, 202);
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(await server!.stop("SIGTERM"), 0, server!.stderr());
        assert.match(server!.stderr(), /SIGTERM received, finishing 1 running operation/);
        server = undefined;
        const audit = (await Deno.readTextFile(`${s.stateDir}/audit.jsonl`)).trim().split("\n")
          .map((l) => JSON.parse(l));
        const record = audit.find((r) => r.command === "sleep 1.5");
        assert.ok(record, "the operation's audit record");
        assert.deepEqual([record.machine, record.result, record.operator], [
          "m3",
          "ok",
          "deployer",
        ]);
      });
    } finally {
      await server?.stop("SIGKILL");
      await s.stop();
    }
  },
});
