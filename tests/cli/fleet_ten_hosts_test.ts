/**
 * Ten real sshd hosts, each with its own state dir and its own HTTP service on its own
 * port: start the services fleet-wide, check their health from each machine, exec,
 * status, then lose a host.
 */
import assert from "node:assert/strict";
import { fleetSandbox, fleetUnavailable } from "../helpers/fleet.ts";

const unavailable = fleetUnavailable();
if (unavailable) console.error(`10-host fleet test skipped: ${unavailable}`);

function freePorts(n: number): number[] {
  const listeners = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

const jsonLines = (text: string) => text.trim().split("\n").map((l) => JSON.parse(l));

Deno.test({
  name: "a 10-host loopback fleet: per-host HTTP services, health, exec, status, a host lost",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const ports = freePorts(10);
    const f = await fleetSandbox(
      10,
      (i) => ({ role: "web", half: i < 5 ? "a" : "b" }),
      (i) => ({ port: String(ports[i]) }),
    );
    try {
      const start = await f.run([
        "start",
        "web",
        "--all",
        "--",
        "python3",
        "-m",
        "http.server",
        "{port}",
        "--bind",
        "127.0.0.1",
      ]);
      assert.equal(start.code, 0, start.stderr);
      assert.equal(start.stdout.trim().split("\n").length, 10);

      let health: ReturnType<typeof jsonLines> = [];
      for (let i = 0; i < 50; i++) {
        const out = await f.run([
          "health",
          "--all",
          "--from",
          "remote",
          "--http",
          "http://127.0.0.1:{port}/",
          "-o",
          "json",
        ]);
        health = jsonLines(out.stdout);
        if (health.every((r) => r.healthy)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.deepEqual(health.map((r) => r.healthy), Array(10).fill(true));

      // Each service really is on its machine's own port (asked from this side too).
      for (const port of ports) {
        const res = await fetch(`http://127.0.0.1:${port}/`);
        assert.equal(res.status, 200);
        await res.body?.cancel();
      }

      const exec = await f.run([
        "exec",
        "--all",
        "-o",
        "json",
        "--",
        "sh",
        "-c",
        'echo "$XDG_STATE_HOME"',
      ]);
      assert.equal(exec.code, 0, exec.stderr);
      const rows = jsonLines(exec.stdout);
      assert.equal(new Set(rows.map((r) => r.stdout)).size, 10, "each host has its own state dir");

      const status = jsonLines(
        (await f.run(["status", "web", "-l", "half=b", "-o", "json"])).stdout,
      );
      assert.deepEqual(status.map((r) => r.machine), ["m6", "m7", "m8", "m9", "m10"]);
      assert.ok(status.every((r) => r.state === "running" && r.pid > 0));

      await f.fleet.kill(3);
      const partial = await f.run(["exec", "--all", "--", "true"]);
      assert.equal(partial.code, 1);
      assert.match(partial.stderr, /10 machines: 9 ok, 0 failed, 1 unreachable, 0 skipped/);
      assert.match(partial.stderr, /m4: unreachable/);
      // The lost host's service outlived its sshd (it runs in its own session).
      await f.fleet.start(3);
      const stop = await f.run(["stop", "web", "--all"]);
      assert.equal(stop.code, 0, stop.stderr);
    } finally {
      await f.fleet.start(3).catch(() => {});
      await f.run(["stop", "web", "--all"]);
      await f.stop();
    }
  },
});
