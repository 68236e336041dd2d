/**
 * Private keys others can read are ignored with OpenSSH's warning ("UNPROTECTED PRIVATE
 * KEY FILE"), and authentication goes on with the next method, as `ssh -i KEY` does.
 */
import assert from "node:assert/strict";
import { expectProvctlError } from "../helpers/errors.ts";
import { connectSession } from "../../src/ssh/session.ts";
import { startSshdFleet } from "../fixtures/sshd.ts";
import { planOf, quietAuth } from "./_helpers.ts";
import { cliSandbox } from "../helpers/cli.ts";

Deno.test("private keys with group/world access are ignored like OpenSSH does", async (t) => {
  const fleet = await startSshdFleet({ count: 1 });
  const open = `${fleet.dir}/open_key`;
  const good = `${fleet.dir}/good_key`;
  await Deno.copyFile(fleet.clientKey, open);
  await Deno.copyFile(fleet.clientKey, good);
  await Deno.chmod(good, 0o600);
  const warnings: string[] = [];
  const auth = {
    ...quietAuth,
    onKeyIgnored: (key: string, params: Record<string, string>) =>
      warnings.push(`${key} ${params.mode} ${params.file}`),
  };
  try {
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      await t.step(`mode 0${mode.toString(8)}: refused, auth fails naming why`, async () => {
        warnings.length = 0;
        await Deno.chmod(open, mode);
        const plan = planOf(fleet, 0, { overrides: { identityFiles: [open] } });
        const error = await expectProvctlError("AuthFailed", connectSession(plan, auth));
        assert.match(error.params.notes as string, /permissions 0\d+ are too open/);
        assert.deepEqual(warnings, [`ssh.key_unprotected 0${mode.toString(8)} ${open}`]);
      });
    }

    await t.step("the next identity is tried after the refused one", async () => {
      warnings.length = 0;
      await Deno.chmod(open, 0o644);
      const plan = planOf(fleet, 0, { overrides: { identityFiles: [open, good] } });
      const session = await connectSession(plan, auth);
      session.close();
      assert.equal(warnings.length, 1);
    });

    await t.step("0600 and 0400 are used", async () => {
      for (const mode of [0o600, 0o400]) {
        warnings.length = 0;
        await Deno.chmod(open, mode);
        const plan = planOf(fleet, 0, { overrides: { identityFiles: [open] } });
        (await connectSession(plan, auth)).close();
        assert.deepEqual(warnings, []);
      }
    });

    await t.step("another user's key is not judged (as OpenSSH: only the owner's)", async () => {
      warnings.length = 0;
      await Deno.chmod(open, 0o644);
      await Deno.chown(open, 65534, 65534);
      try {
        const plan = planOf(fleet, 0, { overrides: { identityFiles: [open] } });
        (await connectSession(plan, auth)).close();
        assert.deepEqual(warnings, []);
      } finally {
        await Deno.chown(open, 0, 0);
      }
    });

    await t.step("CLI: -i with an open key prints the warning and fails (255)", async () => {
      await Deno.chmod(open, 0o644);
      const host = fleet.hosts[0];
      const cli = await cliSandbox();
      try {
        const config = `${cli.dir}/ssh_config`;
        await Deno.writeTextFile(
          config,
          `Host *\n  User root\n  UserKnownHostsFile ${fleet.knownHosts}\n`,
        );
        const target = `${host.address}:${host.port}`;
        const result = await cli.run(
          ["exec", "--host", target, "-i", open, "--ssh-config", config, "--", "true"],
          { env: { SSH_AUTH_SOCK: "", PROVCTL_SSH_PASSWORD: "" } },
        );
        assert.equal(result.code, 255, result.stderr);
        assert.match(result.stderr, /UNPROTECTED PRIVATE KEY FILE! Permissions 0644 for '/);
        assert.match(result.stderr, /permissions 0644 are too open \(chmod 600 it\)/);
      } finally {
        await cli.cleanup();
      }
    });
  } finally {
    await fleet.stop();
  }
});
