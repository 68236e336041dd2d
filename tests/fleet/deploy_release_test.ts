/** The release layout on a machine (through a LocalRunner), the deploy lock and versions. */
import assert from "node:assert/strict";
import { isProvctlError } from "../../src/core/errors.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import type { CommandRunner, RunOptions } from "../../src/exec/runner.ts";
import {
  acquireDeployLock,
  readDeploymentState,
  writeDeploymentState,
} from "../../src/fleet/deploy/lock.ts";
import {
  artifactVersion,
  cleanStale,
  listReleases,
  pruneReleases,
  stageRelease,
  switchCurrent,
} from "../../src/fleet/deploy/release.ts";

async function artifact(dir: string, version: string): Promise<string> {
  const path = `${dir}/art-${version}`;
  await Deno.mkdir(`${path}/sub`, { recursive: true });
  await Deno.writeTextFile(`${path}/version.txt`, version);
  await Deno.writeTextFile(`${path}/sub/data`, "x".repeat(1000));
  return path;
}

Deno.test("releases: staged atomically, current switched by rename, pruned, cleaned", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-release-" });
  try {
    const runner = new LocalRunner();
    const root = `${dir}/root`;
    assert.deepEqual(await listReleases(runner, root), { current: undefined, releases: [] });
    for (const v of ["v1", "v2", "v3"]) {
      const staged = await stageRelease(runner, {
        root,
        version: v,
        artifact: await artifact(dir, v),
        stagingId: "t",
      });
      assert.equal(staged, true);
      // A version is one content: staging it again keeps what is there.
      assert.equal(
        await stageRelease(runner, {
          root,
          version: v,
          artifact: await artifact(dir, "other"),
          stagingId: "t",
        }),
        false,
      );
      assert.equal(await Deno.readTextFile(`${root}/releases/${v}/version.txt`), v);
    }
    // A single file lands inside its release directory.
    await Deno.writeTextFile(`${dir}/app.bin`, "binary");
    await stageRelease(runner, { root, version: "f1", artifact: `${dir}/app.bin`, stagingId: "t" });
    assert.equal(await Deno.readTextFile(`${root}/releases/f1/app.bin`), "binary");

    assert.equal(await switchCurrent(runner, root, "v1"), undefined);
    assert.equal(await Deno.readLink(`${root}/current`), "releases/v1");

    // Readers never see `current` missing or half-switched while it flips back and forth.
    let reads = 0;
    let stop = false;
    const reader = (async () => {
      while (!stop) {
        const text = await Deno.readTextFile(`${root}/current/version.txt`);
        assert.ok(text === "v1" || text === "v2", text);
        reads++;
        await Promise.resolve();
      }
    })();
    for (let i = 0; i < 20; i++) {
      const to = i % 2 === 0 ? "v2" : "v1";
      assert.equal(await switchCurrent(runner, root, to), to === "v2" ? "v1" : "v2");
    }
    stop = true;
    await reader;
    assert.ok(reads > 0);
    assert.equal(await Deno.readLink(`${root}/current`), "releases/v1");

    await assert.rejects(() => switchCurrent(runner, root, "v9"), (e) => {
      assert.ok(isProvctlError(e));
      assert.equal(e.key, "deploy.release_missing");
      return true;
    });
    assert.equal(await Deno.readLink(`${root}/current`), "releases/v1", "unchanged");

    // Newest first by activation; the current one is never pruned.
    await switchCurrent(runner, root, "v3");
    await switchCurrent(runner, root, "v1");
    const listing = await listReleases(runner, root);
    assert.equal(listing.current, "v1");
    assert.deepEqual(listing.releases.slice(0, 2), ["v1", "v3"]);
    assert.deepEqual((await pruneReleases(runner, root, 2)).sort(), ["f1", "v2"]);
    assert.deepEqual((await listReleases(runner, root)).releases, ["v1", "v3"]);
    assert.deepEqual(await pruneReleases(runner, root, 1), ["v3"]);

    // Leftovers of a killed deploy go at the next one; this run's own staging stays.
    await Deno.mkdir(`${root}/.staging/dead-run/v5`, { recursive: true });
    await Deno.mkdir(`${root}/.staging/this-run/v6`, { recursive: true });
    await Deno.symlink("releases/v1", `${root}/current.tmp-123`);
    await cleanStale(runner, root, "this-run");
    const names: string[] = [];
    for await (const e of Deno.readDir(root)) names.push(e.name);
    assert.deepEqual(names.sort(), [".staging", "current", "releases"]);
    const staging: string[] = [];
    for await (const e of Deno.readDir(`${root}/.staging`)) staging.push(e.name);
    assert.deepEqual(staging, ["this-run"]);
    await cleanStale(runner, root);
    assert.deepEqual((await listReleases(runner, root)).releases.length > 0, true);
    await assert.rejects(Deno.stat(`${root}/.staging`));

    // No release (rolling back a first deploy): current goes.
    assert.equal(await switchCurrent(runner, root, undefined), "v1");
    assert.deepEqual(await listReleases(runner, root), { current: undefined, releases: ["v1"] });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A runner whose PATH starts with `bin` (to stand in a BSD-like mv). */
function withPath(inner: CommandRunner, bin: string): CommandRunner {
  const env = { PATH: `${bin}:/usr/bin:/bin` };
  return {
    target: inner.target,
    remote: inner.remote,
    run: (p, a, o: RunOptions = {}) => inner.run(p, a, { ...o, env: { ...o.env, ...env } }),
    stream: (p, a, o: RunOptions = {}) => inner.stream(p, a, { ...o, env: { ...o.env, ...env } }),
  };
}

Deno.test("releases: without GNU mv -T (macOS), current is replaced through rename(2)", async () => {
  const perl = await new Deno.Command("perl", { args: ["-v"], stdout: "null" }).output().catch(() =>
    undefined
  );
  if (!perl?.success) return;
  const dir = await Deno.makeTempDir({ prefix: "provctl-release-" });
  try {
    await Deno.mkdir(`${dir}/bin`);
    await Deno.writeTextFile(
      `${dir}/bin/mv`,
      `#!/bin/sh\necho "$*" >> "${dir}/mv.log"\ncase "$1" in -T) echo "mv: illegal option -- T" >&2; exit 64;; esac\nexec /bin/mv "$@"\n`,
    );
    await Deno.chmod(`${dir}/bin/mv`, 0o755);
    const runner = withPath(new LocalRunner(), `${dir}/bin`);
    const root = `${dir}/root`;
    for (const v of ["a", "b"]) {
      await stageRelease(runner, {
        root,
        version: v,
        artifact: await artifact(dir, v),
        stagingId: "t",
      });
    }
    await switchCurrent(runner, root, "a");
    assert.equal(await switchCurrent(runner, root, "b"), "a");
    // `mv -f tmp current` would have put the link inside releases/a instead.
    assert.equal(await Deno.readLink(`${root}/current`), "releases/b");
    const inside: string[] = [];
    for await (const e of Deno.readDir(`${root}/releases/a`)) inside.push(e.name);
    assert.deepEqual(inside.sort(), ["sub", "version.txt"]);
    assert.match(await Deno.readTextFile(`${dir}/mv.log`), /^-T -- current\.tmp-\d+ current$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deploy lock: a second holder is refused with the holder named; a dead holder's lock is taken", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-lock-" });
  try {
    const first = await acquireDeployLock(dir, "web", {
      deploymentId: "web-1",
      operation: "deploy",
      user: "ann",
    });
    assert.equal(first.recovered, undefined);
    await assert.rejects(
      () =>
        acquireDeployLock(dir, "web", { deploymentId: "web-2", operation: "deploy", user: "bob" }),
      (e) => {
        assert.ok(isProvctlError(e));
        assert.equal(e.kind, "Locked");
        assert.match(
          String(e.params.holder),
          new RegExp(`^pid ${Deno.pid} on .* \\(user ann, deploy web-1, since `),
        );
        return true;
      },
    );
    // Another deployment has its own lock.
    const other = await acquireDeployLock(dir, "api", {
      deploymentId: "api-1",
      operation: "rollback",
      user: "bob",
    });
    await other.release();
    await first.release();
    const again = await acquireDeployLock(dir, "web", {
      deploymentId: "web-3",
      operation: "deploy",
      user: "bob",
    });
    assert.equal(again.recovered, undefined, "a released lock leaves nothing to recover");
    await again.release();

    // What a holder killed by SIGKILL leaves: its details, and no flock.
    await Deno.writeTextFile(
      `${dir}/deploy/web.lock`,
      JSON.stringify({
        pid: 999999,
        hostname: "h",
        user: "x",
        deploymentId: "web-0",
        operation: "deploy",
        since: "t",
      }),
    );
    const taken = await acquireDeployLock(dir, "web", {
      deploymentId: "web-4",
      operation: "deploy",
      user: "bob",
    });
    assert.equal(taken.recovered?.pid, 999999);
    assert.equal(taken.recovered?.deploymentId, "web-0");
    await taken.release();

    assert.equal(await readDeploymentState(dir, "web"), undefined);
    await writeDeploymentState(dir, { deployment: "web", version: "v2", previous: "v1" });
    assert.deepEqual(await readDeploymentState(dir, "web"), {
      deployment: "web",
      version: "v2",
      previous: "v1",
    });
    assert.equal((await Deno.stat(`${dir}/deploy/web.json`)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("artifact versions follow the content (names, bytes, executable bits)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-version-" });
  try {
    const a = await artifact(dir, "same");
    const v = await artifactVersion(a);
    assert.match(v, /^[0-9a-f]{12}$/);
    assert.equal(await artifactVersion(a), v);
    await Deno.chmod(`${a}/sub/data`, 0o755);
    const exec = await artifactVersion(a);
    assert.notEqual(exec, v);
    await Deno.writeTextFile(`${a}/sub/data`, "changed");
    assert.notEqual(await artifactVersion(a), exec);
    await Deno.writeTextFile(`${dir}/one`, "x");
    assert.match(await artifactVersion(`${dir}/one`), /^[0-9a-f]{12}$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
