/**
 * State another local user could change is refused through the real CLI (like OpenSSH's
 * StrictModes): one line and a hint, exit 1, nothing run or written.
 */
import assert from "node:assert/strict";
import { cliSandbox } from "../helpers/cli.ts";
import { otherUser } from "../helpers/other_user.ts";

const other = otherUser();

Deno.test("a world-writable state dir is refused by every pidfile command", async () => {
  const cli = await cliSandbox();
  try {
    assert.equal((await cli.run(["start", "web", "--", "sleep", "300"])).code, 0);
    assert.equal((await cli.run(["stop", "web"])).code, 0);
    await Deno.chmod(cli.stateDir, 0o777);
    for (
      const args of [["status"], ["status", "web"], ["start", "web", "--", "sleep", "300"], [
        "restart",
        "web",
      ], ["stop", "web"]]
    ) {
      const r = await cli.run(args);
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.equal(
        r.stderr,
        `provctl: error: refusing to use ${cli.stateDir}: group or others can write to it\n` +
          `hint: run \`chmod go-w ${cli.stateDir}\`; provctl keeps its state private (0700 directories, 0600 files)\n`,
      );
    }
    await Deno.chmod(cli.stateDir, 0o700);
    assert.equal((await cli.run(["status", "web"])).code, 3);
  } finally {
    await cli.cleanup();
  }
});

Deno.test({
  name: "a definition planted in a services dir another user owns is never run",
  ignore: typeof other === "string",
  fn: async () => {
    if (typeof other === "string") return;
    const cli = await cliSandbox();
    try {
      assert.equal((await cli.run(["start", "web", "--", "sleep", "300"])).code, 0);
      assert.equal((await cli.run(["stop", "web"])).code, 0);
      // The other user takes the services dir and replaces the stored definition.
      const services = `${cli.stateDir}/services`;
      const marker = `${cli.dir}/pwned`;
      const def = JSON.parse(await Deno.readTextFile(`${services}/web.json`));
      def.binary = "/bin/sh";
      def.args = ["-c", `touch ${marker}; exec sleep 300`];
      await Deno.writeTextFile(`${services}/web.json`, JSON.stringify(def));
      await Deno.chown(services, other.uid, other.gid);
      const r = await cli.run(["restart", "web"]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /^provctl: error: refusing to use .*\/services: another user owns it/);
      assert.match(r.stderr, /\nhint: /);
      await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
      const logs = `${cli.stateDir}/logs`;
      await Deno.chown(services, 0, 0);
      await Deno.chown(logs, other.uid, other.gid);
      const start = await cli.run(["start", "api", "--", "sleep", "300"]);
      assert.equal(start.code, 1);
      assert.match(start.stderr, /refusing to use .*\/logs: another user owns it/);
      assert.equal((await cli.run(["status", "api"])).code, 1);
    } finally {
      await cli.cleanup();
    }
  },
});

Deno.test("a symlinked audit log is refused by provctl audit; its target is untouched", async () => {
  const cli = await cliSandbox();
  try {
    await Deno.mkdir(cli.stateDir, { recursive: true, mode: 0o700 });
    const target = `${cli.dir}/root-owned`;
    await Deno.writeTextFile(target, "not an audit log\n", { mode: 0o644 });
    await Deno.symlink(target, `${cli.stateDir}/audit.jsonl`);
    const r = await cli.run(["audit"]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^provctl: error: refusing to use .*audit\.jsonl: it is a symbolic link/,
    );
    assert.equal(await Deno.readTextFile(target), "not an audit log\n");
    assert.equal((await Deno.stat(target)).mode! & 0o777, 0o644);
  } finally {
    await cli.cleanup();
  }
});
