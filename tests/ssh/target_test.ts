import assert from "node:assert/strict";
import { isProvctlError } from "../../src/core/errors.ts";
import {
  endpointLabel,
  parseTargetSpec,
  planKey,
  resolveConnectionPlan,
} from "../../src/ssh/target.ts";

Deno.test("parseTargetSpec: [user@]host[:port] and bracketed IPv6", () => {
  assert.deepEqual(parseTargetSpec("web1"), { user: undefined, host: "web1", port: undefined });
  assert.deepEqual(parseTargetSpec("deploy@web1:2222"), {
    user: "deploy",
    host: "web1",
    port: 2222,
  });
  assert.deepEqual(parseTargetSpec("[::1]:2200"), { user: undefined, host: "::1", port: 2200 });
  assert.deepEqual(parseTargetSpec("ops@[fe80::1%eth0]:22"), {
    user: "ops",
    host: "fe80::1%eth0",
    port: 22,
  });
  assert.deepEqual(parseTargetSpec("[::1]"), { user: undefined, host: "::1", port: undefined });
  assert.deepEqual(parseTargetSpec("::1"), { user: undefined, host: "::1", port: undefined });
  assert.deepEqual(parseTargetSpec("me@corp@web1"), {
    user: "me@corp",
    host: "web1",
    port: undefined,
  });
  assert.deepEqual(parseTargetSpec("127.0.0.1:65535"), {
    user: undefined,
    host: "127.0.0.1",
    port: 65535,
  });
});

Deno.test("parseTargetSpec: bad input is InvalidArgument naming the problem", () => {
  const cases: [string, RegExp][] = [
    ["", /empty/],
    ["web1:0", /not a port/],
    ["web1:65536", /not a port/],
    ["web1:ssh", /not a port/],
    ["web1:", /not a port/],
    ["[::1", /closing/],
    ["[::1]x", /after/],
    ["@web1", /user/],
    ["user@", /host is empty/],
    ["-oProxyCommand=sh", /starts with '-'/],
    ["web 1", /whitespace/],
  ];
  for (const [spec, reason] of cases) {
    assert.throws(
      () => parseTargetSpec(spec),
      (e) =>
        isProvctlError(e, "InvalidArgument") && e.key === "ssh.target_invalid" &&
        reason.test(String(e.params.reason)),
      spec,
    );
  }
});

Deno.test("resolveConnectionPlan merges ssh_config, flags and defaults", async (t) => {
  const home = await Deno.makeTempDir({ prefix: "provctl-target-" });
  const config = `${home}/ssh_config`;
  await Deno.writeTextFile(
    config,
    `Host web1
  HostName 127.0.0.5
  User deploy
  Port 2222
  ProxyJump bastion
  IdentityFile ~/.ssh/web_key
  IdentitiesOnly yes
  StrictHostKeyChecking accept-new
  UserKnownHostsFile ~/kh
  GlobalKnownHostsFile /etc/admin_known_hosts
  ServerAliveInterval 5
  ServerAliveCountMax 2
  ConnectTimeout 3

Host bastion
  HostName 127.0.0.10
  User jump
  ProxyJump outer

Host outer
  User o
  Port 2022

Host insecure
  StrictHostKeyChecking no

Host loop1
  ProxyJump loop2
Host loop2
  ProxyJump loop1
`,
  );
  const base = { sshConfigFile: config, home, localUser: "me" };
  try {
    await t.step("target, hops and the first hop's own ProxyJump", async () => {
      const plan = await resolveConnectionPlan("web1", base);
      assert.deepEqual(plan.target, {
        alias: "web1",
        host: "127.0.0.5",
        port: 2222,
        user: "deploy",
        identityFiles: [`${home}/.ssh/web_key`],
        identitiesConfigured: true,
        identitiesOnly: true,
        knownHostsFiles: [`${home}/kh`],
        globalKnownHostsFiles: ["/etc/admin_known_hosts"],
        hostKeyPolicy: "accept-new",
        hostKeyAlias: undefined,
        connectTimeoutMs: 3000,
        keepaliveIntervalMs: 5000,
        keepaliveCountMax: 2,
      });
      assert.deepEqual(plan.hops.map(endpointLabel), ["o@outer:2022", "jump@127.0.0.10:22"]);
      // Hops read the default global files, as ssh does.
      assert.deepEqual(plan.hops[0].globalKnownHostsFiles, [
        "/etc/ssh/ssh_known_hosts",
        "/etc/ssh/ssh_known_hosts2",
      ]);
      assert.equal(planKey(plan), "o@outer:2022 > jump@127.0.0.10:22 > deploy@127.0.0.5:2222");
    });

    await t.step("user and port typed on the command line win over ssh_config", async () => {
      const plan = await resolveConnectionPlan("root@web1:22", base);
      assert.deepEqual([plan.target.user, plan.target.port, plan.target.host], [
        "root",
        22,
        "127.0.0.5",
      ]);
    });

    await t.step(
      "--jump replaces ProxyJump; later hops' own ProxyJump does not apply",
      async () => {
        const plan = await resolveConnectionPlan("web1", {
          ...base,
          jump: ["x@127.0.0.9:23", "bastion"],
        });
        assert.deepEqual(plan.hops.map(endpointLabel), ["x@127.0.0.9:23", "jump@127.0.0.10:22"]);
        const direct = await resolveConnectionPlan("web1", { ...base, jump: ["none"] });
        assert.deepEqual(direct.hops, []);
      },
    );

    await t.step("-i keys come first; hop endpoints keep their own keys", async () => {
      const plan = await resolveConnectionPlan("web1", {
        ...base,
        identityFiles: ["~/k1", "/abs/k2"],
      });
      assert.deepEqual(plan.target.identityFiles, [
        `${home}/k1`,
        "/abs/k2",
        `${home}/.ssh/web_key`,
      ]);
      assert.deepEqual(plan.hops[1].identityFiles, [
        `${home}/.ssh/id_ed25519`,
        `${home}/.ssh/id_ecdsa`,
        `${home}/.ssh/id_rsa`,
      ]);
      assert.equal(plan.hops[1].identitiesConfigured, false);
    });

    await t.step("host key policy: flag > StrictHostKeyChecking > default", async () => {
      assert.equal(
        (await resolveConnectionPlan("web1", { ...base, hostKeyPolicy: "strict" })).target
          .hostKeyPolicy,
        "strict",
      );
      assert.equal((await resolveConnectionPlan("insecure", base)).target.hostKeyPolicy, "off");
      assert.equal((await resolveConnectionPlan("plain", base)).target.hostKeyPolicy, "strict");
      const tofu = await resolveConnectionPlan("plain", {
        ...base,
        defaultHostKeyPolicy: "accept-new",
      });
      assert.equal(tofu.target.hostKeyPolicy, "accept-new");
    });

    await t.step("a host without configuration gets the defaults", async () => {
      const plan = await resolveConnectionPlan("127.0.0.7", base);
      assert.deepEqual(plan.hops, []);
      assert.deepEqual([plan.target.user, plan.target.port], ["me", 22]);
      assert.deepEqual(plan.target.knownHostsFiles, [
        `${home}/.ssh/known_hosts`,
        `${home}/.ssh/known_hosts2`,
      ]);
      const files = await resolveConnectionPlan("127.0.0.7", {
        ...base,
        knownHostsFiles: ["~/other"],
      });
      assert.deepEqual(files.target.knownHostsFiles, [`${home}/other`]);
    });

    await t.step("a ProxyJump loop is an InvalidConfig error showing the chain", async () => {
      await assert.rejects(
        resolveConnectionPlan("loop1", base),
        (e) =>
          isProvctlError(e, "InvalidConfig") && e.key === "ssh.jump_loop" &&
          /loop1 -> loop2 -> loop1/.test(String(e.params.chain)),
      );
    });

    await t.step("a bad hop spec names the hop", async () => {
      await assert.rejects(
        resolveConnectionPlan("web1", { ...base, jump: ["bastion:99999"] }),
        (e) => isProvctlError(e, "InvalidArgument") && e.params.spec === "bastion:99999",
      );
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
