import assert from "node:assert/strict";
import { isDirectory } from "../../src/exec/host_fs.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import type { CommandRunner } from "../../src/exec/runner.ts";

Deno.test("isDirectory answers the same in-process (LocalRunner) and through a shell", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/file`, "x");
    await Deno.mkdir(`${dir}/sub dir`);
    await Deno.symlink(`${dir}/sub dir`, `${dir}/link`);
    const local = new LocalRunner();
    // Any other runner (SSH, a namespace sandbox) is asked through `sh`.
    const viaShell: CommandRunner = {
      target: "shell",
      remote: false,
      run: (p, a, o) => local.run(p, a, o),
      stream: (p, a, o) => local.stream(p, a, o),
    };
    for (const path of [dir, `${dir}/sub dir`, `${dir}/link`, `${dir}/file`, `${dir}/none`, "/"]) {
      const inProcess = await isDirectory(local, path);
      const shell = await isDirectory(viaShell, path);
      assert.equal(inProcess, shell, path);
    }
    assert.equal(await isDirectory(local, `${dir}/sub dir`), true);
    assert.equal(await isDirectory(local, `${dir}/file`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
