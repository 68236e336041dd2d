/** state_trust: refusing state another user could change, and never following links. */
import assert from "node:assert/strict";
import { expectProvctlError } from "../helpers/errors.ts";
import { ProvctlError } from "../../src/core/errors.ts";
import { otherUser } from "../helpers/other_user.ts";
import {
  openTrusted,
  readTrusted,
  trustDir,
  trustStateDir,
  writeTrustedAtomic,
} from "../../src/core/state_trust.ts";
import { AuditLog } from "../../src/observe/audit_log.ts";
import { loadMetrics, persistMetrics } from "../../src/observe/metrics.ts";
import { emptySnapshot } from "../../src/observe/_snapshot.ts";
import { breakerPath, listBreakers, withBreaker } from "../../src/ssh/circuit_breaker.ts";

const other = otherUser();
const needsOther = typeof other === "string" ? other : false;

async function scratch(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "provctl-trust-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a group/world-writable state dir or subdir is refused, with the path", async () => {
  await scratch(async (dir) => {
    await trustStateDir(dir); // 0700 from makeTempDir: fine
    await Deno.mkdir(`${dir}/services`, { mode: 0o700 });
    await Deno.chmod(`${dir}/services`, 0o777);
    const e = await expectProvctlError("PermissionDenied", () => trustStateDir(dir));
    assert.equal(e.key, "trust.mode");
    assert.equal(e.params.path, `${dir}/services`);
    await Deno.chmod(`${dir}/services`, 0o700);
    await Deno.chmod(dir, 0o770);
    assert.equal(
      (await expectProvctlError("PermissionDenied", () => trustDir(dir))).key,
      "trust.mode",
    );
  });
});

Deno.test({
  name: "a state dir owned by another user is refused",
  ignore: Boolean(needsOther),
  fn: async () => {
    if (typeof other === "string") return;
    await scratch(async (dir) => {
      await Deno.mkdir(`${dir}/breakers`, { mode: 0o700 });
      await Deno.chown(`${dir}/breakers`, other.uid, other.gid);
      const e = await expectProvctlError("PermissionDenied", () => trustStateDir(dir));
      assert.equal(e.key, "trust.owner");
      // The breakers of that dir are not read (nor written) either.
      await expectProvctlError("PermissionDenied", () => listBreakers(dir));
    });
  },
});

Deno.test("a symlinked audit log pointing at a root-owned file is refused; the target is untouched", async () => {
  await scratch(async (dir) => {
    const target = `${dir}/precious`;
    await Deno.writeTextFile(target, "root's data\n", { mode: 0o644 });
    const before = await Deno.stat(target);
    await Deno.symlink(target, `${dir}/audit.jsonl`);
    const e = await expectProvctlError(
      "PermissionDenied",
      () => AuditLog.open(`${dir}/audit.jsonl`),
    );
    assert.equal(e.key, "trust.symlink");
    assert.equal(await Deno.readTextFile(target), "root's data\n");
    const after = await Deno.stat(target);
    assert.equal(after.mode, before.mode, "not chmod'ed through the link");
    assert.equal(after.mtime?.getTime(), before.mtime?.getTime());
    // Readers refuse it too.
    await expectProvctlError("PermissionDenied", () => readTrusted(`${dir}/audit.jsonl`));
  });
});

Deno.test("metrics and breaker files behind links are refused; new ones are 0600 in 0700 dirs", async () => {
  await scratch(async (dir) => {
    await Deno.writeTextFile(`${dir}/elsewhere.json`, JSON.stringify(emptySnapshot()));
    await Deno.symlink(`${dir}/elsewhere.json`, `${dir}/metrics.json`);
    await expectProvctlError("PermissionDenied", () => loadMetrics(`${dir}/metrics.json`));
    await Deno.remove(`${dir}/metrics.json`);
    await persistMetrics(`${dir}/metrics.json`, emptySnapshot());
    assert.equal((await Deno.stat(`${dir}/metrics.json`)).mode! & 0o777, 0o600);

    // An older provctl made the breaker dir 0755 with 0644 files: now private.
    await Deno.mkdir(`${dir}/breakers`, { mode: 0o755 });
    await Deno.chmod(`${dir}/breakers`, 0o755);
    const options = { stateDir: dir, threshold: 1, cooldownMs: 60_000 };
    const refused = new ProvctlError("ConnectionFailed", "ssh.connection_refused", {
      params: { target: "h:22" },
    });
    await withBreaker("h:22", options, () => Promise.reject(refused)).catch(() => {});
    assert.equal((await Deno.stat(`${dir}/breakers`)).mode! & 0o777, 0o700);
    const file = breakerPath(dir, "h:22");
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    // A link planted as a breaker file is not followed.
    await Deno.remove(file);
    await Deno.symlink(`${dir}/elsewhere.json`, file);
    await expectProvctlError(
      "PermissionDenied",
      () => withBreaker("h:22", options, () => Promise.resolve(1)),
    );
  });
});

Deno.test("openTrusted creates 0600 with O_EXCL and refuses other users' or writable files", async () => {
  await scratch(async (dir) => {
    const opened = await openTrusted(`${dir}/f`, { write: true, create: true });
    assert.ok(opened?.created);
    opened!.file.close();
    assert.equal((await Deno.stat(`${dir}/f`)).mode! & 0o777, 0o600);
    assert.equal(await openTrusted(`${dir}/missing`, { read: true }), undefined);
    await Deno.chmod(`${dir}/f`, 0o666);
    assert.equal(
      (await expectProvctlError("PermissionDenied", () => openTrusted(`${dir}/f`, { read: true })))
        .key,
      "trust.mode",
    );
    await writeTrustedAtomic(`${dir}/g`, "x");
    assert.equal(await readTrusted(`${dir}/g`), "x");
    if (typeof other !== "string") {
      await Deno.chown(`${dir}/g`, other.uid, other.gid);
      assert.equal(
        (await expectProvctlError("PermissionDenied", () => readTrusted(`${dir}/g`))).key,
        "trust.owner",
      );
    }
  });
});
