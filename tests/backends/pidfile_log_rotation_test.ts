/**
 * Size-based rotation of a PID-file service's log by its supervisor, under each POSIX
 * shell: a writer producing 50 000 lines while the log rotates many times loses and
 * duplicates no line, rotated files hold whole lines, and `logs -n` / `logs -f` read
 * across the rotation boundary.
 */
import assert from "node:assert/strict";
import { waitFor } from "../helpers/cli.ts";
import { testPidfileBackend, testShells } from "../helpers/pidfile.ts";
import type { PidfileBackend } from "../../src/backends/pidfile.ts";
import { defineService } from "../../src/core/service_definition.ts";
import { parseServiceName, type ServiceName } from "../../src/core/service_name.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";

const MAX = 64 * 1024;
const LINES = 50_000;

async function logs(
  backend: PidfileBackend,
  name: ServiceName,
  lines: number,
): Promise<string> {
  const chunks: Uint8Array[] = [];
  await backend.logs(name, { lines }, (c) => chunks.push(c));
  return new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
}

for (const shell of testShells()) {
  Deno.test({
    name: `pidfile (${shell.name}) log rotation: 50 000 lines, each once, in order, across files`,
    ignore: Boolean(shell.missing),
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "provctl-rot-" });
      const backend = testPidfileBackend(new LocalRunner(), dir, {
        shell: shell.path,
        logMaxBytes: MAX,
        logKeep: 50,
      });
      const name = parseServiceName(`rot-${Deno.pid}`);
      const log = `${dir}/logs/${name}.log`;
      try {
        // An awk loop: writes as fast as it can, one write(2) per line (flushed each).
        const writer =
          `awk 'BEGIN { for (i = 1; i <= ${LINES}; i++) { printf "line %06d\\n", i; fflush() } }'; ` +
          "echo done >&2; exec sleep 300";
        await backend.start(defineService(name).binary("/bin/sh").args(["-c", writer]).build());
        await waitFor("the writer to finish", async () => {
          try {
            return (await Deno.readTextFile(log)).includes("done\n");
          } catch {
            return false;
          }
        }, 30_000);
        const files: string[] = [];
        for (let i = 50; i >= 1; i--) {
          try {
            files.push(await Deno.readTextFile(`${log}.${i}`));
          } catch { /* not that many */ }
        }
        assert.ok(files.length >= 5, `rotated ${files.length} times`);
        for (const text of files) {
          assert.ok(text.length <= MAX + 20, `a rotated file of ${text.length} bytes`);
          assert.ok(text.endsWith("\n"), "rotated at a line boundary");
        }
        const all = (files.join("") + await Deno.readTextFile(log)).split("\n")
          .filter((l) => l.startsWith("line "));
        assert.equal(all.length, LINES, "every line once");
        all.forEach((line, i) => {
          if (line !== `line ${String(i + 1).padStart(6, "0")}`) {
            assert.fail(`line ${i + 1} is "${line}"`);
          }
        });

        // logs -n reads across the boundary.
        const everything = (await logs(backend, name, LINES + 1)).split("\n").filter((l) =>
          l.startsWith("line ")
        );
        assert.equal(everything.length, LINES);
        assert.equal(everything[0], "line 000001");
        const current = (await Deno.readTextFile(log)).split("\n").length - 1;
        const across = await logs(backend, name, current + 3);
        const acrossLines = across.trimEnd().split("\n");
        assert.equal(acrossLines.length, current + 3);
        assert.equal(acrossLines.at(-1), "done");
        assert.equal(await logs(backend, name, 2), "line 050000\ndone\n");
      } finally {
        await backend.uninstall(name).catch(() => {});
        await Deno.remove(dir, { recursive: true });
      }
    },
  });

  Deno.test({
    name: `pidfile (${shell.name}) log rotation: logs -f follows into the new file`,
    ignore: Boolean(shell.missing),
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "provctl-rotf-" });
      const backend = testPidfileBackend(new LocalRunner(), dir, {
        shell: shell.path,
        logMaxBytes: 300,
        logKeep: 100,
      });
      const name = parseServiceName(`rotf-${Deno.pid}`);
      try {
        const writer =
          'i=0; while [ $i -lt 400 ]; do i=$((i + 1)); echo "tick $i"; sleep 0.01; done; ' +
          "exec sleep 300";
        await backend.start(defineService(name).binary("/bin/sh").args(["-c", writer]).build());
        const abort = new AbortController();
        let text = "";
        const decoder = new TextDecoder();
        const following = backend.logs(
          name,
          { lines: 1, follow: true, signal: abort.signal },
          (c) => text += decoder.decode(c, { stream: true }),
        );
        await waitFor("ticks to 400", () => text.includes("tick 400\n"), 30_000);
        abort.abort();
        await following;
        const ticks = text.split("\n").filter((l) => l.startsWith("tick ")).map((l) =>
          Number(l.slice(5))
        );
        // From where it started to 400: each once, in order, across many rotations.
        const first = ticks[0];
        assert.deepEqual(ticks, Array.from({ length: 401 - first }, (_, i) => first + i));
        const rotated = [...Deno.readDirSync(`${dir}/logs`)].filter((e) =>
          /\.log\.\d+$/.test(e.name)
        );
        assert.ok(rotated.length > 5, `${rotated.length} rotations while following`);
      } finally {
        await backend.uninstall(name).catch(() => {});
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
