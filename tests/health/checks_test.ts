import assert from "node:assert/strict";
import { isProvctlError } from "../../src/core/errors.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import {
  describeCheck,
  type HealthCheck,
  parseHealthCheck,
  parseHealthScripts,
  runCheck,
} from "../../src/health/checks.ts";
import {
  closedPort,
  makeSelfSignedCert,
  SECRET_HEADER,
  startHttpServer,
  startHttpsServer,
  startTcpListener,
} from "./fixtures/servers.ts";

const runner = new LocalRunner();
const check = (table: Record<string, unknown>) => parseHealthCheck(table, "test");

Deno.test("command check: exit 0 passes, other codes fail with the output tail", async () => {
  const ok = await runCheck(check({ type: "command", program: "sh", args: ["-c", "exit 0"] }), {
    runner,
  });
  assert.equal(ok.ok, true);
  assert.equal(ok.status, "pass");
  assert.equal(ok.exitCode, 0);
  assert.equal(ok.detail, "sh exited 0");
  assert.equal(ok.ranOn, "local");
  assert.ok(ok.latencyMs >= 0 && ok.latencyMs < 5000);

  const bad = await runCheck(
    check({
      type: "command",
      program: "sh",
      args: ["-c", "echo starting; echo 'db: connection refused' >&2; exit 3"],
    }),
    { runner },
  );
  assert.equal(bad.ok, false);
  assert.equal(bad.status, "fail");
  assert.equal(bad.exitCode, 3);
  assert.match(bad.detail, /^sh exited 3: db: connection refused \| starting$/);
  assert.equal(bad.message.key, "health.command_failed");
});

Deno.test("command check: env and cwd reach the program; a time limit kills it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const withEnv = await runCheck(
      check({
        type: "command",
        program: "sh",
        args: ["-c", 'test "$MODE" = ready && test "$(pwd)" = "$EXPECT"'],
        env: { MODE: "ready", EXPECT: await Deno.realPath(dir) },
        cwd: dir,
      }),
      { runner },
    );
    assert.equal(withEnv.ok, true, withEnv.detail);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const started = performance.now();
  const slow = await runCheck(
    check({ type: "command", program: "sleep", args: ["10"], timeout_ms: 300 }),
    { runner },
  );
  assert.ok(performance.now() - started < 3000);
  assert.equal(slow.status, "fail");
  assert.equal(slow.detail, "sleep did not finish within 300 ms");
});

Deno.test("command check: a program that does not exist is a check error, not a throw", async () => {
  const result = await runCheck(
    check({ type: "command", program: "/nonexistent/provctl-health-probe" }),
    { runner },
  );
  assert.equal(result.status, "error");
  assert.equal(result.ok, false);
  assert.ok(isProvctlError(result.error, "SpawnFailed"));
  assert.match(result.detail, /^cannot run \/nonexistent\/provctl-health-probe on local: /);
});

Deno.test("custom check: exit 0 healthy, 1 unhealthy, other codes are check errors", async () => {
  const scripts = parseHealthScripts({
    up: { program: "sh", args: ["-c", "echo fine; exit 0"] },
    down: { program: "sh", args: ["-c", "echo 'queue depth 9000' >&2; exit 1"] },
    broken: { program: "sh", args: ["-c", 'echo "usage: probe HOST" >&2; exit 64'] },
    echo: { program: "sh", args: ["-c", 'test "$1" = extra', "probe"] },
  }, "test [health.scripts]");
  const custom = (script: string, args?: string[]) =>
    parseHealthCheck({ type: "custom", script, ...(args ? { args } : {}) }, "test", { scripts });

  const up = await runCheck(custom("up"), { runner });
  assert.equal(up.status, "pass");
  assert.equal(up.detail, "script up exited 0 (healthy)");

  const down = await runCheck(custom("down"), { runner });
  assert.equal(down.status, "fail");
  assert.equal(down.detail, "script down exited 1 (unhealthy): queue depth 9000");

  const broken = await runCheck(custom("broken"), { runner });
  assert.equal(broken.status, "error");
  assert.equal(broken.exitCode, 64);
  assert.equal(
    broken.detail,
    "script broken exited 64, expected 0 (healthy) or 1 (unhealthy): usage: probe HOST",
  );

  // Extra args of the check are appended to the script's.
  assert.equal((await runCheck(custom("echo", ["extra"]), { runner })).status, "pass");
  assert.equal((await runCheck(custom("echo", ["other"]), { runner })).status, "fail");
});

Deno.test("http check from the controller: status ranges, body matches, headers, HEAD", async () => {
  await using server = startHttpServer();
  const http = (extra: Record<string, unknown>) => check({ type: "http", ...extra });

  const ok = await runCheck(http({ url: server.url("/ok") }), { runner });
  assert.deepEqual([ok.status, ok.httpStatus, ok.detail, ok.via, ok.ranOn], [
    "pass",
    200,
    "HTTP 200",
    "fetch",
    "controller",
  ]);

  const fail = await runCheck(http({ url: server.url("/fail") }), { runner });
  assert.equal(fail.status, "fail");
  assert.equal(fail.httpStatus, 500);
  assert.equal(fail.detail, "HTTP 500, expected 200-399: database unreachable");
  // 500 is healthy when asked for.
  assert.equal((await runCheck(http({ url: server.url("/fail"), status: "5xx" }))).ok, true);

  // Redirects are not followed: 302 is in the default range, not in 200.
  assert.equal((await runCheck(http({ url: server.url("/redirect") }))).httpStatus, 302);
  const strict = await runCheck(http({ url: server.url("/redirect"), status: 200 }));
  assert.equal(strict.detail, "HTTP 302, expected 200: (empty)");

  const missing = await runCheck(
    http({ url: server.url("/json"), body_contains: '"status":"down"' }),
  );
  assert.equal(missing.status, "fail");
  assert.match(missing.detail, /does not contain '"status":"down"'/);
  assert.equal(
    (await runCheck(http({ url: server.url("/json"), body_contains: '"status":"ok"' }))).ok,
    true,
  );
  assert.equal(
    (await runCheck(http({ url: server.url("/json"), body_regex: '"version":"1\\.4\\.\\d+"' }))).ok,
    true,
  );
  const mismatch = await runCheck(
    http({ url: server.url("/json"), body_regex: '"version":"2\\.' }),
  );
  assert.equal(mismatch.status, "fail");
  assert.match(mismatch.detail, /does not match/);

  assert.equal((await runCheck(http({ url: server.url("/secret") }))).httpStatus, 401);
  const secret = await runCheck(http({
    url: server.url("/secret"),
    headers: { [SECRET_HEADER]: "s3cret; x=1" },
  }));
  assert.equal(secret.ok, true, secret.detail);

  const head = await runCheck(http({ url: server.url("/ok"), method: "HEAD" }));
  assert.equal(head.ok, true);

  // A body match looks at the first 64 KiB only.
  const big = await runCheck(http({ url: server.url("/big"), body_contains: "NEEDLE" }));
  assert.equal(big.status, "fail");
});

Deno.test("http check from the controller: slow answers time out, closed ports fail", async () => {
  await using server = startHttpServer();
  const started = performance.now();
  const slow = await runCheck(
    check({ type: "http", url: server.url("/slow?ms=5000"), timeout_ms: 300 }),
  );
  assert.ok(performance.now() - started < 2500);
  assert.equal(slow.status, "fail");
  assert.equal(slow.detail, `no answer from ${server.url("/slow?ms=5000")} within 300 ms`);
  // Within the limit, slow is fine.
  const patient = await runCheck(
    check({ type: "http", url: server.url("/slow?ms=200"), timeout_ms: 3000 }),
  );
  assert.equal(patient.ok, true);
  assert.ok(patient.latencyMs >= 190, String(patient.latencyMs));

  const port = closedPort();
  const refused = await runCheck(check({ type: "http", url: `http://127.0.0.1:${port}/ok` }));
  assert.equal(refused.status, "fail");
  assert.match(
    refused.detail,
    /^request to http:\/\/127\.0\.0\.1:\d+\/ok from controller failed: .*refused/i,
  );
});

Deno.test("https check: a self-signed certificate fails unless trusted or explicitly accepted", async () => {
  const cert = await makeSelfSignedCert();
  try {
    await using server = startHttpsServer(cert);
    const url = server.url("/ok");
    const strict = await runCheck(check({ type: "http", url }));
    assert.equal(strict.status, "fail");
    assert.equal(strict.message.key, "health.http_tls");
    assert.match(
      strict.detail,
      /^TLS failure for https:\/\/127\.0\.0\.1:\d+\/ok: .*(UnknownIssuer|certificate)/i,
    );

    const trusted = await runCheck(check({ type: "http", url, ca_file: cert.certFile }));
    assert.equal(trusted.ok, true, trusted.detail);
    assert.equal(trusted.detail, "HTTP 200");

    const insecure = await runCheck(
      check({ type: "http", url: server.url("/json"), tls_insecure: true, body_contains: "1.4.2" }),
    );
    assert.equal(insecure.ok, true, insecure.detail);
    assert.equal(insecure.detail, "HTTP 200 (TLS certificate not verified: tls_insecure)");
    const insecureFail = await runCheck(
      check({ type: "http", url: server.url("/fail"), tls_insecure: true }),
    );
    assert.equal(insecureFail.httpStatus, 500);
    assert.equal(insecureFail.status, "fail");

    const slow = await runCheck(
      check({
        type: "http",
        url: server.url("/slow?ms=5000"),
        tls_insecure: true,
        timeout_ms: 300,
      }),
    );
    assert.equal(slow.message.key, "health.http_timeout");

    const noCa = await runCheck(check({ type: "http", url, ca_file: `${cert.dir}/missing.pem` }));
    assert.equal(noCa.status, "fail");
    assert.match(noCa.detail, /missing\.pem/);
  } finally {
    await Deno.remove(cert.dir, { recursive: true });
  }
});

Deno.test("tcp check from the controller: a listener passes, a closed port fails", async () => {
  await using listener = startTcpListener();
  const ok = await runCheck(check({ type: "tcp", host: "127.0.0.1", port: listener.port }));
  assert.equal(ok.ok, true, ok.detail);
  assert.equal(ok.detail, `connected to 127.0.0.1:${listener.port}`);
  // The connection really reached the listener.
  for (let i = 0; i < 50 && listener.accepted === 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(listener.accepted, 1);

  const port = closedPort();
  const closed = await runCheck(check({ type: "tcp", address: `127.0.0.1:${port}` }));
  assert.equal(closed.status, "fail");
  assert.match(
    closed.detail,
    new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${port} from controller: .*refused`, "i"),
  );
});

Deno.test("a check aborted by the caller rejects with the abort reason", async () => {
  await using server = startHttpServer();
  const controller = new AbortController();
  const pending = runCheck(check({ type: "http", url: server.url("/slow?ms=5000") }), {
    signal: controller.signal,
  });
  setTimeout(() => controller.abort(new Error("stop watching")), 100);
  await assert.rejects(pending, /stop watching/);

  const aborted = new AbortController();
  const command = runCheck(check({ type: "command", program: "sleep", args: ["10"] }), {
    runner,
    signal: aborted.signal,
  });
  setTimeout(() => aborted.abort(new Error("stopped")), 100);
  await assert.rejects(command, /stopped/);
});

Deno.test("describeCheck names the strategy and target", () => {
  const cases: [HealthCheck, string][] = [
    [check({ type: "command", program: "pg_isready", args: ["-q"] }), "command pg_isready -q"],
    [
      check({ type: "http", url: "http://127.0.0.1:8080/health", from: "remote" }),
      "HTTP GET http://127.0.0.1:8080/health (from remote)",
    ],
    [check({ type: "tcp", address: "127.0.0.1:5432" }), "TCP 127.0.0.1:5432 (from controller)"],
  ];
  for (const [c, text] of cases) assert.equal(describeCheck(c), text);
});
