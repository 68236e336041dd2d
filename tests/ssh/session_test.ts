import assert from "node:assert/strict";
import { expectProvctlError } from "../helpers/errors.ts";
import type { HostKeyVerdict } from "../../src/ssh/known_hosts.ts";
import { connectSession, type SshSession } from "../../src/ssh/session.ts";
import { descendantsOf, freePort, type SshdFleet, startSshdFleet } from "../fixtures/sshd.ts";
import { endpointOf, planOf, quietAuth } from "./_helpers.ts";

const PASSWORD_USER = { name: "provctl-pw", password: "correct horse 'battery' $(staple)" };

async function execText(session: SshSession, command: string): Promise<string> {
  const { channel, finished } = await session.exec(command);
  const chunks: Uint8Array[] = [];
  channel.on("data", (c) => chunks.push(c));
  channel.stderr.on("data", () => {});
  channel.end();
  await finished;
  return new TextDecoder().decode(await new Blob(chunks as BlobPart[]).bytes());
}

/**
 * The process that owns the local TCP port `port` (the client side of a connection seen
 * by a target in $SSH_CONNECTION), and its ancestors. On loopback every connection
 * comes from 127.0.0.1, so the owner proves which machine's sshd made the connection.
 */
async function ownerAncestry(port: number): Promise<number[]> {
  const out = await new Deno.Command("ss", { args: ["-tnpH", `sport = :${port}`] }).output();
  const text = new TextDecoder().decode(out.stdout);
  const pid = Number(text.match(/pid=([0-9]+)/)?.[1]);
  assert.ok(pid > 0, `no owner for port ${port}: ${text}`);
  const chain = [pid];
  for (let p = pid; p > 1;) {
    const stat = await Deno.readTextFile(`/proc/${p}/stat`);
    p = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    chain.push(p);
  }
  return chain;
}

async function clientPortSeenBy(session: SshSession): Promise<number> {
  const [, port] = (await execText(session, 'printf %s "$SSH_CONNECTION"')).split(" ");
  return Number(port);
}

const expectError = (promise: Promise<unknown>, kind: string) => expectProvctlError(kind, promise);

async function sh(cmd: string, args: string[], env?: Record<string, string>): Promise<string> {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

Deno.test("sessions: jump chains, authentication methods, host key policies", async (t) => {
  const fleet: SshdFleet = await startSshdFleet({ count: 3, passwordUser: PASSWORD_USER });
  const [h1, h2] = fleet.hosts;
  const open: SshSession[] = [];
  const connect = async (...args: Parameters<typeof connectSession>) => {
    const session = await connectSession(...args);
    open.push(session);
    return session;
  };
  try {
    await t.step("direct connection: the test process itself is the client", async () => {
      const session = await connect(planOf(fleet, 2), quietAuth);
      const owner = await ownerAncestry(await clientPortSeenBy(session));
      assert.equal(owner[0], Deno.pid);
      assert.equal(await execText(session, "id -un"), "root\n");
    });

    await t.step("through one jump host: the target's client is the jump host's sshd", async () => {
      const session = await connect(planOf(fleet, 2, { hops: [0] }), quietAuth);
      const owner = await ownerAncestry(await clientPortSeenBy(session));
      assert.ok(owner.includes(h1.pid!), `owner chain ${owner} lacks hop 1 sshd ${h1.pid}`);
      assert.ok(!owner.includes(h2.pid!));
      assert.notEqual(owner[0], Deno.pid);
    });

    await t.step("through a 2-hop chain: the target's client is the last hop's sshd", async () => {
      const session = await connect(planOf(fleet, 2, { hops: [0, 1] }), quietAuth);
      const owner = await ownerAncestry(await clientPortSeenBy(session));
      assert.ok(owner.includes(h2.pid!), `owner chain ${owner} lacks hop 2 sshd ${h2.pid}`);
      assert.ok(!owner.includes(h1.pid!));
      assert.equal(await execText(session, "echo via-chain"), "via-chain\n");
    });

    await t.step("a failing hop is named: hop 2 unreachable from hop 1", async () => {
      const plan = planOf(fleet, 2, { hops: [0, 1] });
      const deadPort = freePort(h2.address);
      const broken = { ...plan, hops: [plan.hops[0], { ...plan.hops[1], port: deadPort }] };
      const error = await expectError(connectSession(broken, quietAuth), "ConnectionFailed");
      assert.equal(error.key, "ssh.jump_open_failed");
      assert.equal(error.params.where, `hop 2 of 2 (h2:${deadPort})`);
      assert.match(String(error.params.reason), /refused/i);
    });

    await t.step("a failing hop is named: hop 1 refuses the connection", async () => {
      const plan = planOf(fleet, 2, { hops: [0, 1] });
      const deadPort = freePort(h1.address);
      const broken = { ...plan, hops: [{ ...plan.hops[0], port: deadPort }, plan.hops[1]] };
      const error = await expectError(connectSession(broken, quietAuth), "ConnectionFailed");
      assert.equal(error.key, "ssh.connection_refused");
      assert.equal(error.params.where, `hop 1 of 2 (h1:${deadPort})`);
    });

    await t.step("an authentication failure on a hop names the hop", async () => {
      const plan = planOf(fleet, 2, { hops: [0] });
      const broken = { ...plan, hops: [{ ...plan.hops[0], identityFiles: [`${fleet.dir}/none`] }] };
      const error = await expectError(connectSession(broken, quietAuth), "AuthFailed");
      assert.equal(error.params.where, `hop 1 of 1 (h1:${h1.port})`);
    });

    await t.step("every hop's host key is verified (unknown hop under strict)", async () => {
      const empty = `${fleet.dir}/empty_known_hosts`;
      await Deno.writeTextFile(empty, "");
      const plan = planOf(fleet, 2, { hops: [0, 1] });
      const broken = {
        ...plan,
        hops: [plan.hops[0], { ...plan.hops[1], knownHostsFiles: [empty] }],
      };
      const error = await expectError(connectSession(broken, quietAuth), "HostKeyUnknown");
      assert.match(error.context ?? "", /hop 2 of 2 \(h2:/);
      assert.equal(await Deno.readTextFile(empty), "");
    });

    await t.step("agent authentication with a real ssh-agent", async () => {
      const socket = `${fleet.dir}/agent.sock`;
      const started = await sh("ssh-agent", ["-s", "-a", socket]);
      const agentPid = Number(started.match(/SSH_AGENT_PID=([0-9]+)/)?.[1]);
      try {
        await sh("ssh-add", ["-q", fleet.clientKey], { SSH_AUTH_SOCK: socket });
        const plan = planOf(fleet, 0, {
          overrides: { identityFiles: [`${fleet.dir}/no-such-key`] },
        });
        const session = await connect(plan, { ...quietAuth, agentSocket: socket });
        assert.equal(await execText(session, "echo agent"), "agent\n");
        // Without the agent the same plan has nothing to offer.
        const error = await expectError(connectSession(plan, quietAuth), "AuthFailed");
        assert.match(String(error.params.notes), /no-such-key: no such file/);

        // IdentitiesOnly: only agent keys matching an identity file (here by its .pub).
        const pubOnly = `${fleet.dir}/only-public`;
        await Deno.copyFile(`${fleet.clientKey}.pub`, `${pubOnly}.pub`);
        const matching = planOf(fleet, 0, {
          overrides: { identityFiles: [pubOnly], identitiesOnly: true },
        });
        await connect(matching, { ...quietAuth, agentSocket: socket });
        const other = `${fleet.dir}/other_ed25519`;
        await sh("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
        const unrelated = planOf(fleet, 0, {
          overrides: { identityFiles: [`${other}.pub`], identitiesOnly: true },
        });
        // Refused: the agent's key does not match the only identity file...
        await expectError(
          connectSession(unrelated, { ...quietAuth, agentSocket: socket }),
          "AuthFailed",
        );
        // ...while without IdentitiesOnly the same agent key gets in.
        await connect({ ...unrelated, target: { ...unrelated.target, identitiesOnly: false } }, {
          ...quietAuth,
          agentSocket: socket,
        });
      } finally {
        Deno.kill(agentPid, "SIGTERM");
      }
    });

    await t.step("password authentication from PROVCTL_SSH_PASSWORD", async () => {
      const plan = planOf(fleet, 0, { overrides: { user: PASSWORD_USER.name, identityFiles: [] } });
      const env = (name: string) =>
        name === "PROVCTL_SSH_PASSWORD" ? PASSWORD_USER.password : undefined;
      const session = await connect(plan, { ...quietAuth, env });
      assert.equal(await execText(session, "id -un"), `${PASSWORD_USER.name}\n`);

      const wrong = (name: string) => name === "PROVCTL_SSH_PASSWORD" ? "wrong" : undefined;
      const error = await expectError(
        connectSession(plan, { ...quietAuth, env: wrong }),
        "AuthFailed",
      );
      assert.equal(error.params.tried, "password");
      assert.ok(
        !JSON.stringify(error.params).includes("wrong"),
        "the password leaked into the error",
      );
    });

    await t.step("password from a prompt; no terminal and no env fails clearly", async () => {
      const plan = planOf(fleet, 0, { overrides: { user: PASSWORD_USER.name, identityFiles: [] } });
      const prompts: string[] = [];
      const prompt = (message: string) => {
        prompts.push(message);
        return Promise.resolve(PASSWORD_USER.password);
      };
      const session = await connect(plan, { ...quietAuth, prompt });
      assert.equal(await execText(session, "id -un"), `${PASSWORD_USER.name}\n`);
      assert.deepEqual(prompts, [`${PASSWORD_USER.name}@${h1.address}'s password: `]);

      const error = await expectError(connectSession(plan, quietAuth), "AuthFailed");
      assert.match(
        String(error.params.notes),
        /no terminal to ask on and PROVCTL_SSH_PASSWORD is not set/,
      );
    });

    await t.step("encrypted key with the passphrase from PROVCTL_SSH_PASSPHRASE", async () => {
      const key = `${fleet.dir}/encrypted_ed25519`;
      const passphrase = "pass 'phrase' $(x)";
      await sh("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-f", key]);
      await fleet.authorize(await Deno.readTextFile(`${key}.pub`));
      const plan = planOf(fleet, 0, { overrides: { identityFiles: [key] } });
      const env = (name: string) => name === "PROVCTL_SSH_PASSPHRASE" ? passphrase : undefined;
      const session = await connect(plan, { ...quietAuth, env });
      assert.equal(await execText(session, "echo unlocked"), "unlocked\n");

      const error = await expectError(connectSession(plan, quietAuth), "AuthFailed");
      assert.match(
        String(error.params.notes),
        /encrypted; no terminal .* PROVCTL_SSH_PASSPHRASE is not set/,
      );
      const bad = (name: string) => name === "PROVCTL_SSH_PASSPHRASE" ? "nope" : undefined;
      const wrong = await expectError(
        connectSession(plan, { ...quietAuth, env: bad }),
        "AuthFailed",
      );
      assert.match(String(wrong.params.notes), /wrong passphrase/);
    });

    await t.step("RSA and ECDSA keys work too", async () => {
      for (const type of ["rsa", "ecdsa"]) {
        const key = `${fleet.dir}/client_${type}`;
        const bits = type === "rsa" ? ["-b", "2048"] : [];
        await sh("ssh-keygen", ["-q", "-t", type, ...bits, "-N", "", "-f", key]);
        await fleet.authorize(await Deno.readTextFile(`${key}.pub`));
        const session = await connect(
          planOf(fleet, 0, { overrides: { identityFiles: [key] } }),
          quietAuth,
        );
        assert.equal(await execText(session, `echo ${type}`), `${type}\n`);
      }
    });

    await t.step("unknown host under strict: refused, nothing written", async () => {
      const file = `${fleet.dir}/strict_known_hosts`;
      await Deno.writeTextFile(file, "");
      const plan = planOf(fleet, 1, { overrides: { knownHostsFiles: [file] } });
      const error = await expectError(connectSession(plan, quietAuth), "HostKeyUnknown");
      assert.ok(error.hint, "a hint tells how to add the key");
      assert.equal(await Deno.readTextFile(file), "");
    });

    await t.step("accept-new: hashed line appended, then known", async () => {
      const file = `${fleet.dir}/tofu_known_hosts`;
      const verdicts: HostKeyVerdict["status"][] = [];
      const plan = planOf(fleet, 1, {
        overrides: { knownHostsFiles: [file], hostKeyPolicy: "accept-new" },
      });
      const options = {
        ...quietAuth,
        onHostKey: (_w: string, _e: unknown, v: HostKeyVerdict) => verdicts.push(v.status),
      };
      await connect(plan, options);
      const lines = (await Deno.readTextFile(file)).trim().split("\n");
      assert.equal(lines.length, 1);
      assert.match(lines[0], /^\|1\|[^ ]+ ssh-ed25519 /);
      assert.ok(!lines[0].includes(h2.address), "host name must be hashed");
      await connect(plan, options);
      assert.deepEqual(verdicts, ["added", "known"]);
      // Real OpenSSH accepts the line provctl wrote.
      const out = await sh("ssh", [
        "-o",
        "BatchMode=yes",
        "-o",
        `UserKnownHostsFile=${file}`,
        "-o",
        "StrictHostKeyChecking=yes",
        "-i",
        fleet.clientKey,
        "-p",
        String(h2.port),
        `root@${h2.address}`,
        "echo",
        "openssh-ok",
      ]);
      assert.equal(out, "openssh-ok\n");
    });

    await t.step("policy off connects and reports the key as unverified", async () => {
      const verdicts: string[] = [];
      const plan = planOf(fleet, 1, {
        overrides: { knownHostsFiles: [`${fleet.dir}/none`], hostKeyPolicy: "off" },
      });
      await connect(plan, { ...quietAuth, onHostKey: (_w, _e, v) => verdicts.push(v.status) });
      assert.deepEqual(verdicts, ["unverified"]);
    });

    await t.step("endpointOf keeps the fixture's defaults", () => {
      assert.equal(endpointOf(fleet, 0).port, h1.port);
    });
  } finally {
    for (const session of open) session.close();
    await fleet.stop();
  }
});

Deno.test("descendantsOf finds a child process", async () => {
  const child = new Deno.Command("sleep", { args: ["5"] }).spawn();
  try {
    assert.ok((await descendantsOf(Deno.pid)).includes(child.pid));
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});

Deno.test("a host known only by its ECDSA key is verified by it (its recorded key types go first)", async () => {
  // OpenSSH orders its host key algorithms by what known_hosts holds for the host; a
  // client asking for ed25519 first would be shown a key "of another type than recorded".
  const fleet = await startSshdFleet({ count: 1, ecdsaHostKey: true });
  const dir = await Deno.makeTempDir();
  try {
    const host = fleet.hosts[0];
    const knownHosts = `${dir}/known_hosts`;
    await Deno.writeTextFile(
      knownHosts,
      `[${host.address}]:${host.port} ${host.ecdsaHostKeyPub}\n`,
    );
    const seen: HostKeyVerdict[] = [];
    const session = await connectSession(
      planOf(fleet, 0, { overrides: { knownHostsFiles: [knownHosts] } }),
      { ...quietAuth, onHostKey: (_where, _endpoint, verdict) => seen.push(verdict) },
    );
    try {
      assert.deepEqual(seen.map((v) => v.status), ["known"]);
    } finally {
      await session.close();
    }
    // The usual case is unchanged: known by its ed25519 key, verified by that one.
    const plain = await connectSession(planOf(fleet, 0), quietAuth);
    await plain.close();
  } finally {
    await fleet.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
