import assert from "node:assert/strict";
import { isProvctlError } from "../../src/core/errors.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import { SshRunner } from "../../src/ssh/ssh_runner.ts";
import { upload } from "../../src/exec/upload.ts";
import { startSshdFleet } from "../fixtures/sshd.ts";
import { planOf, quietAuth } from "../ssh/_helpers.ts";

async function tree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    const name = `${prefix}${entry.name}`;
    if (entry.isSymlink) out.push(`${name} -> ${await Deno.readLink(path)}`);
    else if (entry.isDirectory) out.push(`${name}/`, ...await tree(path, `${name}/`));
    else out.push(`${name} ${(await Deno.readFile(path)).join(",")}`);
  }
  return out.sort();
}

Deno.test("upload over SSH: files and directory trees, atomically replaced", async (t) => {
  const fleet = await startSshdFleet({ count: 1 });
  const pool = new SshPool({ connect: quietAuth });
  const runner = new SshRunner({ plan: planOf(fleet, 0), pool });
  const local = await Deno.makeTempDir({ prefix: "provctl-upload-src-" });
  const remote = await Deno.makeTempDir({ prefix: "provctl-upload-dst-" });
  try {
    await t.step("a binary file with its mode, to a path with hostile characters", async () => {
      const bytes = new Uint8Array(300_000);
      for (let i = 0; i < bytes.length; i += 65536) {
        crypto.getRandomValues(bytes.subarray(i, i + 65536));
      }
      bytes.set([0, 10, 13, 39, 0], 0);
      const source = `${local}/app.bin`;
      await Deno.writeFile(source, bytes, { mode: 0o750 });
      await Deno.chmod(source, 0o750);
      const target = `${remote}/new dir/it's $(id)/app.bin`;
      const result = await upload(runner, source, target);
      assert.deepEqual(result, { kind: "file", bytes: bytes.length });
      assert.deepEqual(await Deno.readFile(target), bytes);
      assert.equal((await Deno.stat(target)).mode! & 0o777, 0o750);
      await upload(runner, source, target, { mode: "0600" });
      assert.equal((await Deno.stat(target)).mode! & 0o777, 0o600);
      assert.deepEqual((await tree(`${remote}/new dir/it's $(id)`)).map((l) => l.split(" ")[0]), [
        "app.bin",
      ]);
    });

    await t.step("an empty file", async () => {
      await Deno.writeFile(`${local}/empty`, new Uint8Array());
      await upload(runner, `${local}/empty`, `${remote}/empty`);
      assert.equal((await Deno.readFile(`${remote}/empty`)).length, 0);
    });

    await t.step("a directory tree replaces the previous one in one rename", async () => {
      const src = `${local}/release`;
      await Deno.mkdir(`${src}/bin`, { recursive: true });
      await Deno.mkdir(`${src}/conf d`, { recursive: true });
      await Deno.writeFile(`${src}/bin/run`, new Uint8Array([1, 2, 0, 255]));
      await Deno.writeTextFile(`${src}/conf d/a'b.toml`, "x = 1\n");
      await Deno.writeTextFile(`${src}/only-in-v1`, "old");
      await Deno.symlink("bin/run", `${src}/current`);
      const target = `${remote}/releases/app`;
      const first = await upload(runner, src, target);
      assert.equal(first.kind, "directory");
      assert.deepEqual(await tree(target), await tree(src));

      await Deno.remove(`${src}/only-in-v1`);
      await Deno.writeTextFile(`${src}/bin/run`, "v2");
      await upload(runner, src, target);
      assert.deepEqual(await tree(target), await tree(src));
      // No temporary or old trees are left next to it.
      assert.deepEqual(await Array.fromAsync(Deno.readDir(`${remote}/releases`), (e) => e.name), [
        "app",
      ]);
    });

    await t.step("a missing source or a failing destination is a clear error", async () => {
      await assert.rejects(
        upload(runner, `${local}/missing`, `${remote}/x`),
        (e) => isProvctlError(e, "NotFound") && e.key === "ssh.upload_source_missing",
      );
      await Deno.writeTextFile(`${remote}/a-file`, "");
      await assert.rejects(
        upload(runner, `${local}/empty`, `${remote}/a-file/below`),
        (e) => isProvctlError(e, "CommandFailed") && e.params.target === runner.target,
      );
      await assert.rejects(
        upload(runner, `${local}/empty`, "/"),
        (e) => isProvctlError(e, "InvalidArgument"),
      );
    });

    await t.step("the same code uploads through the local runner", async () => {
      await upload(new LocalRunner(), `${local}/app.bin`, `${remote}/local/app.bin`);
      assert.deepEqual(
        await Deno.readFile(`${remote}/local/app.bin`),
        await Deno.readFile(`${local}/app.bin`),
      );
    });
  } finally {
    await pool.close();
    await fleet.stop();
    await Deno.remove(local, { recursive: true });
    await Deno.remove(remote, { recursive: true });
  }
});
