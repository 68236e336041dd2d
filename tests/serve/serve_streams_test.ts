/**
 * The streamed routes (followed logs, /events) of a real `provctl serve`: what a request
 * starts ends when the request is answered without a body (HEAD).
 */
import assert from "node:assert/strict";
import { cliSandbox } from "../helpers/cli.ts";
import { createToken, type RunningServer, startServer } from "../helpers/serve.ts";
import { buildApi } from "../../src/serve/app.ts";
import { EventHub } from "../../src/serve/events.ts";
import { loadSettings } from "../../src/cli/settings.ts";
import type { GlobalFlags } from "../../src/cli/global_flags.ts";
import type { FleetFlags } from "../../src/cli/fleet_flags.ts";
import { MemoryOperationStore } from "../../src/state/operations.ts";
import { newToken, type StoredToken } from "../../src/state/tokens.ts";

const SERVICES = `
[services.web]
binary = "/bin/sh"
args = ["-c", "echo hello-from-web; exec sleep 300"]
`;

/** Every process below `pid` (from /proc), with its command name. */
async function descendants(pid: number): Promise<{ pid: number; comm: string }[]> {
  const parent = new Map<number, { ppid: number; comm: string }>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      parent.set(Number(entry.name), { ppid, comm });
    } catch { /* gone meanwhile */ }
  }
  const below = (p: number): boolean => {
    for (let at = parent.get(p); at; at = parent.get(at.ppid)) if (at.ppid === pid) return true;
    return false;
  };
  return [...parent].filter(([p]) => below(p)).map(([p, { comm }]) => ({ pid: p, comm }));
}

Deno.test({
  name: "HEAD on a followed log ends the follow it started (no tail left running)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cli = await cliSandbox();
    let server: RunningServer | undefined;
    try {
      await Deno.writeTextFile(`${cli.dir}/provctl.toml`, SERVICES);
      const token = await createToken(cli, "ops", "operate");
      const auth = { authorization: `Bearer ${token}` };
      server = await startServer((args) => cli.spawn(args));
      const url = server.url;
      const started = await fetch(`${url}/api/v1/services/web/start`, {
        method: "POST",
        headers: auth,
      });
      assert.equal(started.status, 200, await started.text());
      const tails = async () =>
        (await descendants(server!.proc.pid)).filter((p) => p.comm === "tail");

      // A GET follow runs a tail while the client reads, and ends it when the client goes.
      const follow = await fetch(`${url}/api/v1/services/web/logs?follow=1`, { headers: auth });
      const reader = follow.body!.getReader();
      await reader.read();
      assert.equal((await tails()).length, 1);
      await reader.cancel();

      for (let i = 0; i < 3; i++) {
        const head = await fetch(`${url}/api/v1/services/web/logs?follow=1`, {
          method: "HEAD",
          headers: auth,
        });
        assert.equal(head.status, 200);
        assert.equal(await head.text(), "");
        const events = await fetch(`${url}/api/v1/events`, { method: "HEAD", headers: auth });
        assert.equal(events.status, 200);
        assert.equal(events.headers.get("content-type"), "text/event-stream");
      }
      // Nothing reads those bodies: every tail must have ended.
      const deadline = Date.now() + 5000;
      let left = await tails();
      while (left.length > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        left = await tails();
      }
      assert.deepEqual(left, [], "tails left running by HEAD requests");

      const stopped = await fetch(`${url}/api/v1/services/web/stop`, {
        method: "POST",
        headers: auth,
      });
      assert.equal(stopped.status, 200, await stopped.text());
    } finally {
      if (server) assert.equal(await server.stop(), 0);
      await cli.cleanup();
    }
  },
});

Deno.test("HEAD /api/v1/events leaves no subscription behind", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-serve-head-" });
  try {
    const env = { HOME: dir, XDG_CONFIG_HOME: `${dir}/config`, XDG_STATE_HOME: `${dir}/state` };
    const ctx = {
      process: { stdout: { write() {} }, stderr: { write() {} }, env },
      stdoutIsTty: false,
      stderrIsTty: false,
      stdinIsTty: false,
      cwd: dir,
      argv: ["serve"],
    };
    const settings = await loadSettings({ ctx, flags: {} as GlobalFlags });
    const tokens: StoredToken[] = [];
    const { secret, stored } = await newToken({ name: "viewer", scope: "read" });
    tokens.push(stored);
    const hub = new EventHub(10);
    const closing = new AbortController();
    const api = buildApi({
      settings,
      baseFlags: {} as GlobalFlags & FleetFlags,
      env,
      cwd: dir,
      tokens: {
        add: () => Promise.resolve(),
        remove: () => Promise.resolve(false),
        list: () => Promise.resolve(tokens),
      },
      operations: new MemoryOperationStore(10),
      hub,
      limits: { bodyBytes: 1024, ratePerMinute: 0, requestTimeoutMs: 5000, heartbeatMs: 60_000 },
      metricsPublic: false,
      closing: closing.signal,
      cancel: new AbortController().signal,
      running: new Set(),
      log: () => {},
    });
    const head = await api.app.request("/api/v1/events", {
      method: "HEAD",
      headers: { authorization: `Bearer ${secret}` },
    });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-type"), "text/event-stream");
    assert.equal(head.body, null);
    assert.equal(hub.listeners, 0, "HEAD left an event subscription (and its heartbeat) running");
    closing.abort();
    await api.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
