/**
 * `provctl serve` as a real process on loopback, driven with fetch and curl: tokens and
 * scopes, limits and problem documents, local services, logs, audit paging, metrics,
 * the event stream with resume, shutdown. Every answer is checked against /openapi.json.
 */
import assert from "node:assert/strict";
import { cliSandbox } from "../helpers/cli.ts";
import {
  apiClient,
  curl,
  OpenApiChecker,
  readEvents,
  type RunningServer,
  startServer,
} from "../helpers/serve.ts";
import { FileTokenStore } from "../../src/state/file_token_store.ts";
import { newToken } from "../../src/state/tokens.ts";
import { AuditLog } from "../../src/observe/audit_log.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

const SERVICES = `
[services.web]
binary = "/bin/sh"
args = ["-c", "echo hello-from-web; exec sleep 300"]
`;

const MACHINES = `
[machines.m1]
host = "127.0.0.1"
port = 1
labels = { role = "web", env = "prod" }

[machines.m2]
host = "127.0.0.2"
port = 1
labels = { role = "db", env = "prod" }
`;

Deno.test({
  name: "provctl serve: tokens, scopes, limits, services, logs, audit, metrics, events, shutdown",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const cli = await cliSandbox();
    const spawn = (args: string[], env: Record<string, string> = {}) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", "--quiet", MAIN, ...args],
        env: { ...cli.env, ...env },
        clearEnv: true,
        cwd: cli.dir,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    let server: RunningServer | undefined;
    try {
      await Deno.writeTextFile(`${cli.dir}/provctl.toml`, SERVICES);
      await Deno.writeTextFile(`${cli.dir}/machines.toml`, MACHINES);
      await Deno.mkdir(`${cli.dir}/config/provctl`, { recursive: true });
      await Deno.writeTextFile(
        `${cli.dir}/config/provctl/defaults.toml`,
        "[serve]\nevent_ring_size = 6\nheartbeat_ms = 200\n",
      );
      // Five audit records to page through (m1 oldest ... m5 newest).
      const audit = await AuditLog.open(`${cli.stateDir}/audit.jsonl`);
      for (let i = 1; i <= 5; i++) {
        await audit.append({ machine: `m${i}`, op: "exec", result: "ok", command: "true" });
      }
      await audit.close();

      const token = async (name: string, scope: string) => {
        const out = await cli.run(["token", "create", name, "--scope", scope]);
        assert.equal(out.code, 0, out.stderr);
        return out.stdout.trim();
      };
      const read = await token("reader", "read");
      const operate = await token("operator", "operate");
      const admin = await token("boss", "admin");
      // An expired token, written as `token create --expires` would have an hour ago.
      const expired = await newToken({
        name: "old",
        scope: "admin",
        expiresInMs: 60_000,
        now: new Date(Date.now() - 3_600_000),
      });
      await new FileTokenStore(cli.stateDir).add(expired.stored);

      server = await startServer((args) => spawn(args));
      const url = server.url;
      const checker = await OpenApiChecker.load(url);
      const api = apiClient(url, checker);

      await t.step("healthz and openapi need no token", async () => {
        const h = await api("GET", "/healthz");
        assert.equal(h.status, 200);
        const root = await fetch(`${url}/healthz`);
        assert.deepEqual(await root.json(), h.body);
        const doc = checker.doc as { paths: Record<string, unknown> };
        assert.ok(doc.paths["/events"]);
        assert.ok(doc.paths["/machines/{name}/services/{svc}/logs"]);
      });

      await t.step("every documented route exists (no 404/405 from the router)", async () => {
        const paths = (checker.doc as { paths: Record<string, Record<string, unknown>> }).paths;
        for (const [template, methods] of Object.entries(paths)) {
          for (const method of Object.keys(methods)) {
            const path = template.replace("{name}", "m1").replace("{svc}", "web")
              .replace("{id}", "op-x");
            const res = await fetch(`${url}/api/v1${path}`, { method: method.toUpperCase() });
            const body = await res.text();
            assert.ok(
              !body.includes("serve.not_found") && !body.includes("serve.method_not_allowed"),
              `${method} ${template}: ${body}`,
            );
          }
        }
      });

      await t.step("401 and 403 on every mutating route, before the body is read", async () => {
        const paths =
          (checker.doc as { paths: Record<string, Record<string, { "x-provctl-scope": string }>> })
            .paths;
        let count = 0;
        for (const [template, methods] of Object.entries(paths)) {
          for (const [method, operation] of Object.entries(methods)) {
            if (method === "get") continue;
            count++;
            const path = template.replace("{name}", "m1").replace("{svc}", "web");
            const none = await api(method.toUpperCase(), path, { body: {} });
            assert.equal(none.status, 401, `${method} ${path}`);
            assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="provctl"');
            const wrong = await api(method.toUpperCase(), path, { body: {}, token: "pvt_nope" });
            assert.equal(wrong.status, 401);
            const byReader = await api(method.toUpperCase(), path, { body: {}, token: read });
            assert.equal(byReader.status, 403, `${method} ${path}`);
            assert.match(
              (byReader.body as { detail: string }).detail,
              /API token reader has scope read; this needs scope (operate|admin)/,
            );
            if (operation["x-provctl-scope"] === "admin") {
              const byOperator = await api(method.toUpperCase(), path, {
                body: {},
                token: operate,
              });
              assert.equal(byOperator.status, 403);
            }
          }
        }
        assert.ok(count >= 13, `only ${count} mutating routes`);
        const old = await api("GET", "/machines", { token: expired.secret });
        assert.equal(old.status, 401);
        assert.match((old.body as { detail: string }).detail, /API token old has expired/);
      });

      await t.step("tokens: admin creates and revokes; a revoked token stops working", async () => {
        const made = await api("POST", "/tokens", {
          token: admin,
          body: { name: "ci", scope: "read", expires: "1h" },
        });
        assert.equal(made.status, 201);
        const secret = (made.body as { secret: string }).secret;
        assert.equal((await api("GET", "/machines", { token: secret })).status, 200);
        const list = await api("GET", "/tokens", { token: admin });
        assert.ok(JSON.stringify(list.body).includes('"ci"'));
        assert.ok(!list.text.includes(secret));
        assert.equal(
          (await api("POST", "/tokens", {
            token: admin,
            body: { name: "ci", scope: "read" },
          })).status,
          409,
        );
        // Revoked by the CLI while the server runs.
        assert.equal((await cli.run(["token", "revoke", "ci"])).code, 0);
        assert.equal((await api("GET", "/machines", { token: secret })).status, 401);
        assert.equal((await api("DELETE", "/tokens/ci", { token: admin })).status, 404);
      });

      await t.step("machines with selectors; bad selectors and queries are 400", async () => {
        const all = await api("GET", "/machines", { token: read });
        assert.deepEqual((all.body as { items: { name: string }[] }).items.map((m) => m.name), [
          "m1",
          "m2",
        ]);
        const web = await api("GET", "/machines?selector=role%3Dweb,env%20in%20(prod)", {
          token: read,
        });
        assert.deepEqual((web.body as { items: { name: string }[] }).items.map((m) => m.name), [
          "m1",
        ]);
        const one = await api("GET", "/machines/m2", { token: read });
        assert.equal((one.body as { address: string }).address, "127.0.0.2");
        assert.equal((await api("GET", "/machines/nope", { token: read })).status, 404);
        const bad = await api("GET", "/machines?selector=role%20in%20(", { token: read });
        assert.equal(bad.status, 400);
        assert.equal((bad.body as { code: string }).code.startsWith("inventory."), true);
        assert.equal((await api("GET", "/audit?limit=abc", { token: read })).status, 400);
        assert.equal((await api("GET", "/events?topics=nope", { token: read })).status, 400);
      });

      await t.step("an edited inventory is the next answer; ETag and If-None-Match", async () => {
        const names = (r: { body: unknown }) =>
          (r.body as { items: { name: string; address: string }[] }).items.map((m) =>
            `${m.name}@${m.address}`
          );
        const first = await api("GET", "/machines", { token: read });
        const etag = first.headers.get("etag")!;
        assert.match(etag, /^".+"$/);
        const again = await fetch(`${url}/api/v1/machines`, {
          headers: { authorization: `Bearer ${read}`, "if-none-match": `W/${etag}, "x"` },
        });
        assert.equal(again.status, 304);
        assert.equal(await again.text(), "");
        checker.check("GET", "/machines", 304, again.headers.get("content-type"), null);
        // Edited in place between two requests, twice at once with the same size: the
        // second edit falls within the file time's resolution and must still be seen.
        await Deno.writeTextFile(
          `${cli.dir}/machines.toml`,
          MACHINES.replace("127.0.0.2", "127.0.0.3"),
        );
        assert.deepEqual(names(await api("GET", "/machines", { token: read })), [
          "m1@127.0.0.1",
          "m2@127.0.0.3",
        ]);
        await Deno.writeTextFile(
          `${cli.dir}/machines.toml`,
          MACHINES.replace("127.0.0.2", "127.0.0.4"),
        );
        const edited = await api("GET", "/machines", { token: read });
        assert.deepEqual(names(edited), ["m1@127.0.0.1", "m2@127.0.0.4"]);
        assert.notEqual(edited.headers.get("etag"), etag);
        const stale = await fetch(`${url}/api/v1/machines`, {
          headers: { authorization: `Bearer ${read}`, "if-none-match": etag },
        });
        assert.equal(stale.status, 200);
        assert.deepEqual(names({ body: await stale.json() }), ["m1@127.0.0.1", "m2@127.0.0.4"]);
        // Replaced by a new file (as editors save), with another machine.
        await Deno.writeTextFile(
          `${cli.dir}/machines.toml.new`,
          MACHINES + MACHINES.replaceAll("m2", "m3").replace(/\[machines.m1\][^[]*/, ""),
        );
        await Deno.rename(`${cli.dir}/machines.toml.new`, `${cli.dir}/machines.toml`);
        assert.deepEqual(names(await api("GET", "/machines", { token: read })), [
          "m1@127.0.0.1",
          "m2@127.0.0.2",
          "m3@127.0.0.2",
        ]);
        await Deno.writeTextFile(`${cli.dir}/machines.toml`, MACHINES);
      });

      await t.step(
        "404, 405, 413, 415, malformed JSON and bad bodies are problem documents",
        async () => {
          const missing = await fetch(`${url}/api/v1/nope`, {
            headers: { authorization: `Bearer ${read}` },
          });
          assert.equal(missing.status, 404);
          assert.equal(missing.headers.get("content-type"), "application/problem+json");
          checker.validate("Problem", await missing.json());
          const put = await api("PUT", "/machines", { token: read });
          assert.equal(put.status, 405);
          assert.equal(put.headers.get("allow"), "GET, HEAD");
          const big = await api("POST", "/exec", {
            token: operate,
            raw: JSON.stringify({ argv: ["x".repeat(1024 * 1024 + 10)] }),
          });
          assert.equal(big.status, 413);
          const text = await api("POST", "/exec", {
            token: operate,
            raw: "{}",
            type: "text/plain",
          });
          assert.equal(text.status, 415);
          const broken = await api("POST", "/exec", { token: operate, raw: '{"argv": [' });
          assert.equal(broken.status, 400);
          assert.equal((broken.body as { code: string }).code, "serve.malformed_json");
          const shellString = await api("POST", "/exec", {
            token: operate,
            body: { machines: ["m1"], argv: "rm -rf /" },
          });
          assert.equal(shellString.status, 400);
          const nothing = await api("POST", "/exec", { token: operate, body: { argv: ["true"] } });
          assert.equal(nothing.status, 400);
          const unknown = await api("POST", "/exec", {
            token: operate,
            body: { machines: ["zz"], argv: ["true"] },
          });
          assert.equal(unknown.status, 404);
          assert.equal((await api("GET", "/operations/op-nope", { token: read })).status, 404);
        },
      );

      await t.step(
        "local services: start, status, logs, restart, stop; events resume",
        async () => {
          // A listener from the start, to learn the event ids.
          const first = await fetch(`${url}/api/v1/events?topics=service`, {
            headers: { authorization: `Bearer ${read}` },
          });
          assert.equal(first.headers.get("content-type"), "text/event-stream");
          const started = await api("POST", "/services/web/start", { token: operate });
          assert.equal(started.status, 200, started.text);
          const pid = (started.body as { pid: number }).pid;
          assert.equal((started.body as { state: string }).state, "running");
          const seen = await readEvents(first, (e) => e.length >= 1);
          assert.equal(seen[0].event, "service");
          const firstEvent = JSON.parse(seen[0].data!);
          checker.validate("Event", firstEvent);
          assert.equal(firstEvent.type, "started");
          assert.equal(firstEvent.data.operator, "operator");
          const lastId = Number(seen[0].id);

          // Disconnected: two more changes happen.
          const restarted = await api("POST", "/services/web/restart", { token: operate });
          assert.notEqual((restarted.body as { pid: number }).pid, pid);
          const status = await api("GET", "/services/web", { token: read });
          assert.equal((status.body as { state: string }).state, "running");
          const listed = await api("GET", "/services", { token: read });
          assert.deepEqual(
            (listed.body as { items: { name: string }[] }).items.map((s) => s.name),
            [
              "web",
            ],
          );
          const logs = await fetch(`${url}/api/v1/services/web/logs?lines=5`, {
            headers: { authorization: `Bearer ${read}` },
          });
          assert.match(await logs.text(), /hello-from-web/);
          const follow = await fetch(`${url}/api/v1/services/web/logs?follow=1`, {
            headers: { authorization: `Bearer ${read}` },
          });
          const followed = follow.body!.getReader();
          const chunk = await followed.read();
          assert.match(new TextDecoder().decode(chunk.value), /hello-from-web/);
          // Through the reader: the body itself is locked to it, and cancelling that fails.
          await followed.cancel();
          const stopped = await api("POST", "/services/web/stop", { token: operate });
          assert.equal((stopped.body as { changed: boolean }).changed, true);

          // Resume: exactly the missed events, in order, nothing lost.
          const resumed = await fetch(`${url}/api/v1/events?topics=service`, {
            headers: { authorization: `Bearer ${read}`, "last-event-id": String(lastId) },
          });
          const missed = await readEvents(resumed, (e) => e.length >= 2);
          // (Other topics, such as the audit records of these requests, take ids in between.)
          const ids = missed.map((e) => Number(e.id));
          assert.ok(ids[0] > lastId && ids[1] > ids[0], ids.join(","));
          assert.deepEqual(missed.map((e) => JSON.parse(e.data!).type), ["restarted", "stopped"]);

          // Events beyond the ring (6 kept): an old id gets a reset event first.
          for (let i = 0; i < 6; i++) {
            await api("POST", "/services/web/stop", { token: operate });
          }
          const old = await fetch(`${url}/api/v1/events`, {
            headers: { authorization: `Bearer ${read}`, "last-event-id": String(lastId) },
          });
          const afterReset = await readEvents(old, (e) => e.length >= 2);
          assert.equal(afterReset[0].event, "reset");
          assert.ok(afterReset[0].id !== undefined);
          assert.ok(Number(afterReset[1].id) > lastId + 1);
          // curl sees ids and heartbeats too.
          const sse = await new Deno.Command("curl", {
            args: [
              "-sN",
              "--max-time",
              "1",
              "-H",
              `Authorization: Bearer ${read}`,
              "-H",
              `Last-Event-ID: ${lastId}`,
              `${url}/api/v1/events?topics=service`,
            ],
            stdout: "piped",
          }).output();
          const sseText = new TextDecoder().decode(sse.stdout);
          assert.match(sseText, /^id: \d+\nevent: service\ndata: \{/m);
          assert.match(sseText, /^: heartbeat /m);
        },
      );

      await t.step("audit pages newest first with next_cursor; metrics", async () => {
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page: { body: unknown } = await api(
            "GET",
            `/audit?op=exec&limit=2${cursor ? `&cursor=${cursor}` : ""}`,
            { token: read },
          );
          const body = page.body as { records: { machine: string }[]; next_cursor: string | null };
          seen.push(...body.records.map((r) => r.machine));
          cursor = body.next_cursor;
        } while (cursor !== null);
        assert.deepEqual(seen, ["m5", "m4", "m3", "m2", "m1"]);
        // Requests that changed something here are audited with the token's name.
        const local = await api("GET", "/audit?machine=local", { token: read });
        const ops = (local.body as { records: { op: string; operator: string }[] }).records
          .map((r) => `${r.op} ${r.operator}`);
        assert.ok(ops.includes("token.create boss"), ops.join(","));
        assert.ok(ops.includes("start operator") && ops.includes("restart operator"));
        assert.equal(ops.filter((o) => o === "stop operator").length, 7, ops.join(","));
        const metrics = await api("GET", "/metrics", { token: read });
        assert.equal(metrics.status, 200);
        assert.equal((await api("GET", "/metrics")).status, 401);
      });

      await t.step("the CLI's -o json prints the API's records (one schema each)", async () => {
        const lines = (text: string) => text.trim().split("\n").map((l) => JSON.parse(l));
        const machines = await cli.run(["machines", "list", "-o", "json"]);
        const api_ = await api("GET", "/machines", { token: read });
        assert.deepEqual(lines(machines.stdout), (api_.body as { items: unknown[] }).items);
        for (const r of lines((await cli.run(["audit", "-o", "json"])).stdout)) {
          checker.validate("AuditRecord", r);
        }
        for (const r of lines((await cli.run(["token", "list", "-o", "json"])).stdout)) {
          checker.validate("Token", r);
        }
        const status = lines((await cli.run(["status", "web", "-o", "json"])).stdout);
        checker.validate("ServiceStatus", status[0]);
        assert.deepEqual(status[0], (await api("GET", "/services/web", { token: read })).body);
        checker.validate("Metrics", JSON.parse((await cli.run(["metrics", "-o", "json"])).stdout));
      });

      await t.step("curl: healthz, a problem document, an action", async () => {
        const h = await curl([`${url}/healthz`]);
        assert.equal(h.status, 200);
        const denied = await curl(["-X", "POST", `${url}/api/v1/services/web/start`]);
        assert.equal(denied.status, 401);
        checker.validate("Problem", JSON.parse(denied.body));
        const start = await curl([
          "-X",
          "POST",
          "-H",
          `Authorization: Bearer ${operate}`,
          `${url}/api/v1/services/web/start`,
        ]);
        assert.equal(start.status, 200, start.body);
        checker.validate("ServiceStatus", JSON.parse(start.body));
        await api("POST", "/services/web/stop", { token: operate });
      });

      await t.step("SIGTERM: the server stops cleanly with exit 0", async () => {
        const code = await server!.stop("SIGTERM");
        assert.equal(code, 0, server!.stderr());
        assert.match(server!.stderr(), /provctl serve: stopped/);
        server = undefined;
      });

      await t.step("rate limit 429, slow clients 504, public metrics", async () => {
        await Deno.mkdir(`${cli.dir}/limited`, { recursive: true });
        await Deno.writeTextFile(
          `${cli.dir}/limited/defaults.toml`,
          "[serve]\nrate_limit_per_minute = 3\nrequest_timeout_ms = 800\nmetrics_public = true\n",
        );
        server = await startServer((args) =>
          spawn([...args, "--config-dir", `${cli.dir}/limited`])
        );
        const limited = apiClient(server.url, checker);
        for (let i = 0; i < 3; i++) {
          assert.equal((await limited("GET", "/machines", { token: read })).status, 200);
        }
        const over = await limited("GET", "/machines", { token: read });
        assert.equal(over.status, 429);
        assert.ok(Number(over.headers.get("retry-after")) >= 1);
        // Other tokens have their own budget.
        assert.equal((await limited("GET", "/machines", { token: operate })).status, 200);
        // A client that announces a body and then stalls gets 504 and is let go.
        const port = Number(new URL(server.url).port);
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        const t0 = Date.now();
        await conn.write(new TextEncoder().encode(
          `POST /api/v1/exec HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${operate}\r\n` +
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        ));
        const buffer = new Uint8Array(4096);
        const n = await conn.read(buffer);
        conn.close();
        const answer = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
        assert.match(answer, /^HTTP\/1\.1 504 /);
        assert.match(answer, /did not finish within 800 ms/);
        assert.ok(Date.now() - t0 < 5000);
        // metrics_public: no token needed.
        assert.equal(
          await fetch(`${server.url}/api/v1/metrics`).then(async (r) => {
            await r.body?.cancel();
            return r.status;
          }),
          200,
        );
        assert.equal(await server.stop("SIGINT"), 0);
        server = undefined;
      });

      await t.step("TLS: --tls-cert/--tls-key serve HTTPS", async () => {
        const made = await new Deno.Command("openssl", {
          args: [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            `${cli.dir}/key.pem`,
            "-out",
            `${cli.dir}/cert.pem`,
          ],
          stdout: "null",
          stderr: "piped",
        }).output();
        assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
        server = await startServer((args) =>
          spawn([...args, "--tls-cert", `${cli.dir}/cert.pem`, "--tls-key", `${cli.dir}/key.pem`])
        );
        assert.match(server.url, /^https:/);
        // (a self-signed certificate: curl takes it as its own CA, Deno's client does not)
        const secure = await curl([
          "--cacert",
          `${cli.dir}/cert.pem`,
          "-H",
          `Authorization: Bearer ${read}`,
          `${server.url}/api/v1/machines`,
        ]);
        assert.equal(secure.status, 200, secure.body);
        checker.validate("Machine", JSON.parse(secure.body).items[0]);
        const plain = await curl([`${server.url.replace("https:", "http:")}/healthz`]);
        assert.notEqual(plain.status, 200);
        assert.equal(await server.stop("SIGTERM"), 0);
        server = undefined;
        const half = await cli.run(["serve", "--listen", "127.0.0.1:0", "--tls-cert", "x.pem"]);
        assert.equal(half.code, 2);
        assert.match(half.stderr, /give both --tls-cert and --tls-key/);
      });

      await t.step("plain HTTP off loopback is refused without --insecure-http", async () => {
        const out = await cli.run(["serve", "--listen", "0.0.0.0:0"]);
        assert.equal(out.code, 2);
        assert.match(out.stderr, /^provctl: error: refusing to listen on 0\.0\.0\.0:0 without TLS/);
        assert.match(out.stderr, /hint: give --tls-cert FILE --tls-key FILE/);
        const bad = await cli.run(["serve", "--listen", "nonsense"]);
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /invalid listen address nonsense/);
      });
    } finally {
      await server?.stop("SIGKILL");
      await cli.cleanup();
    }
  },
});
