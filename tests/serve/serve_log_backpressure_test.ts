/**
 * A followed log (GET /services/{svc}/logs?follow=1) of a real `provctl serve` whose
 * client stops reading while a real pidfile service writes tens of MB: the server must
 * not buffer the log's growth (its RSS stays bounded), and the client, once it reads
 * again, gets every line in order; a client that keeps reading sees every line too.
 */
import assert from "node:assert/strict";
import { cliSandbox, waitFor } from "../helpers/cli.ts";
import { createToken, type RunningServer, startServer } from "../helpers/serve.ts";

const LINES = 60_000;
const WIDTH = 1000; // bytes per line, newline included: 60 MB in all

// Waits for the trigger file, then writes LINES numbered lines at once.
const SERVICES = (dir: string) => `
[services.fast]
binary = "/bin/sh"
args = ["-c", """
while [ ! -e ${dir}/go ]; do sleep 0.05; done
awk 'BEGIN { pad = sprintf("%0${
  WIDTH - 10
}d", 0); for (i = 0; i < ${LINES}; i++) printf "%08d %s\\\\n", i, pad }'
touch ${dir}/written
exec sleep 300
"""]
`;

function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** Decodes an HTTP/1.1 chunked body incrementally (what a raw socket reads). */
class Chunked {
  #buf = new Uint8Array(0);
  #left = 0; // bytes left in the current chunk, -1 between chunks
  #body: Uint8Array[] = [];
  push(bytes: Uint8Array): void {
    const merged = new Uint8Array(this.#buf.length + bytes.length);
    merged.set(this.#buf);
    merged.set(bytes, this.#buf.length);
    let at = 0;
    for (;;) {
      if (this.#left > 0) {
        const take = Math.min(this.#left, merged.length - at);
        if (take === 0) break;
        this.#body.push(merged.slice(at, at + take));
        at += take;
        this.#left -= take;
        if (this.#left === 0) this.#left = -2; // the CRLF after the data
        continue;
      }
      if (this.#left === -2) {
        if (merged.length - at < 2) break;
        at += 2;
        this.#left = 0;
        continue;
      }
      const crlf = merged.indexOf(0x0a, at);
      if (crlf < 0) break;
      const size = parseInt(new TextDecoder().decode(merged.slice(at, crlf)).trim(), 16);
      at = crlf + 1;
      this.#left = size === 0 ? 0 : size;
      if (size === 0) break;
    }
    this.#buf = merged.slice(at);
  }
  take(): Uint8Array[] {
    const out = this.#body;
    this.#body = [];
    return out;
  }
}

/** Checks that lines arrive whole, numbered 0, 1, 2, ... in order. */
class LineCheck {
  next = 0;
  #rest = "";
  #decoder = new TextDecoder();
  add(bytes: Uint8Array): void {
    const lines = (this.#rest + this.#decoder.decode(bytes, { stream: true })).split("\n");
    this.#rest = lines.pop()!;
    for (const line of lines) {
      assert.equal(
        line.length,
        WIDTH - 1,
        `line ${this.next} is cut: ${JSON.stringify(line.slice(0, 80))}`,
      );
      assert.equal(line.slice(0, 8), String(this.next).padStart(8, "0"));
      this.next++;
    }
  }
}

Deno.test({
  name: "a stalled log follower does not grow the server's memory; it then gets every line",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cli = await cliSandbox();
    let server: RunningServer | undefined;
    let socket: Deno.TcpConn | undefined;
    try {
      await Deno.writeTextFile(`${cli.dir}/provctl.toml`, SERVICES(cli.dir));
      // No rotation: a follower paused across rotations would skip the rotated files.
      await Deno.mkdir(`${cli.dir}/config/provctl`, { recursive: true });
      await Deno.writeTextFile(
        `${cli.dir}/config/provctl/defaults.toml`,
        "[logs]\nmax_bytes = 0\n",
      );
      const token = await createToken(cli, "ops", "operate");
      const auth = { authorization: `Bearer ${token}` };
      server = await startServer((args) => cli.spawn(args));
      const url = new URL(server.url);
      const started = await fetch(`${url.origin}/api/v1/services/fast/start`, {
        method: "POST",
        headers: auth,
      });
      assert.equal(started.status, 200, await started.text());

      // A client that reads nothing (a raw socket: no client library buffering for it).
      socket = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
      await socket.write(new TextEncoder().encode(
        `GET /api/v1/services/fast/logs?follow=1&lines=0 HTTP/1.1\r\nHost: ${url.host}\r\n` +
          `Authorization: Bearer ${token}\r\n\r\n`,
      ));
      // The follow runs (its tail started) before the service writes.
      await new Promise((r) => setTimeout(r, 1500));
      const before = rssBytes(server.proc.pid);
      await Deno.writeTextFile(`${cli.dir}/go`, "");
      await waitFor("the service to write its log", async () => {
        try {
          await Deno.stat(`${cli.dir}/written`);
          return true;
        } catch {
          return false;
        }
      }, 20_000);
      // Give the server time to take in what it would buffer for the stalled client.
      await new Promise((r) => setTimeout(r, 1000));
      const grown = rssBytes(server.proc.pid) - before;
      assert.ok(
        grown < 24 * 1024 * 1024,
        `the server's RSS grew by ${(grown / 1048576).toFixed(1)} MiB for a stalled client`,
      );

      // The stalled client reads again: the headers, then every line in order.
      const stalled = new LineCheck();
      const body = new Chunked();
      const buf = new Uint8Array(256 * 1024);
      let head = "";
      let headerDone = false;
      const deadline = Date.now() + 30_000;
      while (stalled.next < LINES) {
        assert.ok(Date.now() < deadline, `stalled client got ${stalled.next} lines only`);
        const n = await socket.read(buf);
        assert.ok(n !== null, `the stream ended after ${stalled.next} lines`);
        let bytes = buf.subarray(0, n);
        if (!headerDone) {
          head += new TextDecoder().decode(bytes);
          const end = head.indexOf("\r\n\r\n");
          if (end < 0) continue;
          assert.match(head, /^HTTP\/1\.1 200/);
          assert.match(head, /transfer-encoding: chunked/i);
          headerDone = true;
          bytes = new TextEncoder().encode(head.slice(end + 4));
        }
        body.push(bytes);
        for (const part of body.take()) stalled.add(part);
      }
      assert.equal(stalled.next, LINES);

      // A client that reads as it comes gets every line too (here from the file's start).
      const reading = await fetch(
        `${url.origin}/api/v1/services/fast/logs?follow=1&lines=${LINES}`,
        { headers: auth },
      );
      assert.equal(reading.status, 200);
      const normal = new LineCheck();
      for await (const chunk of reading.body!) {
        normal.add(chunk);
        if (normal.next === LINES) break;
      }
      assert.equal(normal.next, LINES);
    } finally {
      socket?.close();
      if (server) await server.stop();
      await cli.run(["stop", "fast"]).catch(() => {});
      await cli.cleanup();
    }
  },
});

/** The server's `tail` children (the followed logs' sources). */
function tailsOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (comm === "tail" && ppid === pid) found.push(Number(entry.name));
    } catch { /* gone */ }
  }
  return found;
}

Deno.test({
  name: "a stalled log follower that disconnects ends its tail (nothing left running)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cli = await cliSandbox();
    let server: RunningServer | undefined;
    try {
      await Deno.writeTextFile(`${cli.dir}/provctl.toml`, SERVICES(cli.dir));
      await Deno.mkdir(`${cli.dir}/config/provctl`, { recursive: true });
      await Deno.writeTextFile(
        `${cli.dir}/config/provctl/defaults.toml`,
        "[logs]\nmax_bytes = 0\n",
      );
      const token = await createToken(cli, "ops", "operate");
      server = await startServer((args) => cli.spawn(args));
      const url = new URL(server.url);
      const started = await fetch(`${url.origin}/api/v1/services/fast/start`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(started.status, 200, await started.text());
      const socket = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
      await socket.write(new TextEncoder().encode(
        `GET /api/v1/services/fast/logs?follow=1&lines=0 HTTP/1.1\r\nHost: ${url.host}\r\n` +
          `Authorization: Bearer ${token}\r\n\r\n`,
      ));
      const pid = server.proc.pid;
      await waitFor("the follow's tail to start", () => tailsOf(pid).length === 1, 10_000);
      await Deno.writeTextFile(`${cli.dir}/go`, "");
      await waitFor("the service to write its log", async () => {
        try {
          await Deno.stat(`${cli.dir}/written`);
          return true;
        } catch {
          return false;
        }
      }, 20_000);
      // Stalled (the tail waits on its pipe), then gone.
      socket.close();
      await waitFor("the tail to end", () => tailsOf(pid).length === 0, 10_000);
    } finally {
      if (server) await server.stop();
      await cli.run(["stop", "fast"]).catch(() => {});
      await cli.cleanup();
    }
  },
});
