/**
 * `from = "remote"` checks run on the machine behind the runner with the tools it has.
 * A LocalRunner with PATH holding only the chosen tool stands for a remote host with
 * just that tool (the CommandRunner seam is the same over SSH), so each fallback is run
 * for real against real loopback servers.
 */
import assert from "node:assert/strict";
import { type HealthCheck, parseHealthCheck, runCheck } from "../../src/health/checks.ts";
import {
  closedPort,
  makeSelfSignedCert,
  RestrictedPathRunner,
  SECRET_HEADER,
  startHttpServer,
  startHttpsServer,
  startTcpListener,
} from "./fixtures/servers.ts";

const remote = (table: Record<string, unknown>): HealthCheck =>
  parseHealthCheck({ from: "remote", ...table }, "test");

/** The argv run for the check itself (the last call; the first was the tool probe). */
function lastCall(runner: RestrictedPathRunner) {
  return runner.calls[runner.calls.length - 1];
}

for (const tool of ["curl", "wget", "python3"]) {
  Deno.test(`remote http check with only ${tool}: statuses, bodies, headers, HEAD, no redirects`, async () => {
    await using runner = await RestrictedPathRunner.create([tool]);
    await using server = startHttpServer();

    const ok = await runCheck(remote({ type: "http", url: server.url("/ok") }), { runner });
    assert.equal(ok.ok, true, ok.detail);
    assert.equal(ok.via, tool);
    assert.equal(ok.ranOn, runner.target);
    assert.equal(ok.httpStatus, 200);
    // The probe ran once; the request went to the tool by its path on the "remote".
    assert.equal(runner.calls[0].program, "/bin/sh");
    assert.equal(lastCall(runner).program, `${runner.pathDir}/${tool}`);
    assert.ok(lastCall(runner).args.includes(server.url("/ok")));

    const fail = await runCheck(remote({ type: "http", url: server.url("/fail") }), { runner });
    assert.equal(fail.status, "fail");
    assert.equal(fail.detail, "HTTP 500, expected 200-399: database unreachable");

    const body = await runCheck(
      remote({ type: "http", url: server.url("/json"), body_regex: '"version":"1\\.4\\.2"' }),
      { runner },
    );
    assert.equal(body.ok, true, body.detail);
    const wrongBody = await runCheck(
      remote({ type: "http", url: server.url("/json"), body_contains: "2.0.0" }),
      { runner },
    );
    assert.equal(wrongBody.message.key, "health.http_body_missing");

    assert.equal(
      (await runCheck(remote({ type: "http", url: server.url("/secret") }), { runner })).httpStatus,
      401,
    );
    const secret = await runCheck(
      remote({
        type: "http",
        url: server.url("/secret"),
        headers: { [SECRET_HEADER]: "s3cret; x=1" },
      }),
      { runner },
    );
    assert.equal(secret.ok, true, secret.detail);

    const head = await runCheck(
      remote({ type: "http", url: server.url("/echo"), method: "HEAD" }),
      { runner },
    );
    assert.equal(head.ok, true, head.detail);
    assert.equal(head.httpStatus, 200);

    const redirect = await runCheck(
      remote({ type: "http", url: server.url("/redirect"), status: 200 }),
      { runner },
    );
    assert.equal(redirect.httpStatus, 302, redirect.detail);
    assert.equal(redirect.status, "fail");
    assert.equal(runner.calls.filter((c) => c.program === "/bin/sh").length, 1, "probed once");
  });

  Deno.test(`remote http check with only ${tool}: URL words go as argv, never through a shell`, async () => {
    await using runner = await RestrictedPathRunner.create([tool]);
    await using server = startHttpServer();
    const marker = await Deno.makeTempFile();
    await Deno.remove(marker);
    const url = new URL(server.url(`/echo?q=$(touch ${marker});x=\`id\`&y={a}[b]&z='1'`)).href;
    // wget re-encodes ` { } [ ] on its own; either spelling proves the word arrived whole.
    const bodyRegex = "target=/echo\\?q=\\$\\(touch%20" + marker.replace(/[.]/g, "\\.") +
      "\\);x=(`|%60)id(`|%60)&y=(\\{|%7B)a(\\}|%7D)(\\[|%5B)b(\\]|%5D)&z=%271%27\\n";
    const result = await runCheck(
      remote({ type: "http", url, body_regex: bodyRegex }),
      { runner },
    );
    assert.equal(result.ok, true, result.detail);
    assert.ok(lastCall(runner).args.includes(url), JSON.stringify(lastCall(runner).args));
    await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
  });

  Deno.test(`remote http check with only ${tool}: refused, timeout, TLS strict/ca_file/insecure`, async () => {
    await using runner = await RestrictedPathRunner.create([tool]);
    const port = closedPort();
    const refused = await runCheck(
      remote({ type: "http", url: `http://127.0.0.1:${port}/ok` }),
      { runner },
    );
    assert.equal(refused.status, "fail");
    assert.equal(refused.message.key, "health.http_failed");
    assert.match(refused.detail, /refused|couldn't connect/i);
    assert.match(
      refused.detail,
      new RegExp(`from ${runner.target.replace(/[()]/g, "\\$&")} failed`),
    );

    await using server = startHttpServer();
    const started = performance.now();
    const slow = await runCheck(
      remote({ type: "http", url: server.url("/slow?ms=5000"), timeout_ms: 500 }),
      { runner },
    );
    assert.ok(performance.now() - started < 4000, "the tool's own time limit stopped it");
    assert.equal(slow.status, "fail");
    assert.equal(slow.message.key, "health.http_timeout", slow.detail);

    const cert = await makeSelfSignedCert();
    try {
      await using tls = startHttpsServer(cert);
      const strict = await runCheck(remote({ type: "http", url: tls.url("/ok") }), { runner });
      assert.equal(strict.status, "fail");
      assert.equal(strict.message.key, "health.http_tls", strict.detail);

      const trusted = await runCheck(
        remote({ type: "http", url: tls.url("/ok"), ca_file: cert.certFile }),
        { runner },
      );
      assert.equal(trusted.ok, true, trusted.detail);

      const insecure = await runCheck(
        remote({ type: "http", url: tls.url("/json"), tls_insecure: true, body_contains: "1.4.2" }),
        { runner },
      );
      assert.equal(insecure.ok, true, insecure.detail);
      assert.equal(insecure.via, tool);
    } finally {
      await Deno.remove(cert.dir, { recursive: true });
    }
  });
}

Deno.test("remote http check prefers curl, then wget, then python3", async () => {
  await using server = startHttpServer();
  const check = remote({ type: "http", url: server.url("/ok") });
  for (
    const [tools, expected] of [
      [["python3", "wget", "curl"], "curl"],
      [["python3", "wget"], "wget"],
      [["python3"], "python3"],
    ] as const
  ) {
    await using runner = await RestrictedPathRunner.create(tools);
    const result = await runCheck(check, { runner });
    assert.equal(result.via, expected);
    assert.equal(result.ok, true);
  }
});

Deno.test("remote checks on a host without any tool are check errors that say so", async () => {
  await using runner = await RestrictedPathRunner.create([]);
  const http = await runCheck(remote({ type: "http", url: "http://127.0.0.1:9/ok" }), { runner });
  assert.equal(http.status, "error");
  assert.equal(
    http.detail,
    `cannot request http://127.0.0.1:9/ok on ${runner.target}: none of curl, wget, python3 is installed there; install one, or check from the controller (from = "controller")`,
  );
  const tcp = await runCheck(remote({ type: "tcp", address: "127.0.0.1:9" }), { runner });
  assert.equal(tcp.status, "error");
  assert.match(tcp.detail, /none of bash, python3, nc is installed there/);
  // Nothing but the probe ran, once: its answer is kept per runner.
  assert.deepEqual(runner.calls.map((c) => c.program), ["/bin/sh"]);
});

for (const tool of ["bash", "python3", "nc"]) {
  Deno.test(`remote tcp check with only ${tool}: a listener passes, a closed port fails`, async () => {
    await using runner = await RestrictedPathRunner.create([tool]);
    await using listener = startTcpListener();
    const ok = await runCheck(remote({ type: "tcp", host: "127.0.0.1", port: listener.port }), {
      runner,
    });
    assert.equal(ok.ok, true, ok.detail);
    assert.equal(ok.via, tool);
    const args = lastCall(runner).args;
    const at = args.indexOf("127.0.0.1");
    assert.deepEqual(args.slice(at, at + 2), ["127.0.0.1", String(listener.port)]);
    for (let i = 0; i < 100 && listener.accepted === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(listener.accepted >= 1, "the connection reached the listener");

    const port = closedPort();
    const closed = await runCheck(remote({ type: "tcp", address: `127.0.0.1:${port}` }), {
      runner,
    });
    assert.equal(closed.status, "fail");
    assert.equal(closed.via, tool);
    assert.match(
      closed.detail,
      new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${port} from .*: .*refused`, "i"),
    );
  });
}
