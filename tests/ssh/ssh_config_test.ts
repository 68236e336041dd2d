/**
 * ssh_config resolution compared with what the real OpenSSH client resolves
 * (`ssh -G HOST -F FILE`), plus error cases.
 */
import assert from "node:assert/strict";
import { expectProvctlError } from "../helpers/errors.ts";
import { fileURLToPath } from "node:url";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";
import { resolveSshHost, type SshHostConfig } from "../../src/ssh/ssh_config.ts";
import { resolveConnectionPlan } from "../../src/ssh/target.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
// ssh expands ~ with the passwd entry of the user running it; the tests compare with that.
const HOME = "/root";
const USER = "root";
const messages = new Messages(embeddedMessages());

async function exec(
  program: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** `ssh -G` output as keyword -> values (identityfile repeats). */
async function sshG(
  alias: string,
  file: string,
  runner: string[] = [],
): Promise<Map<string, string[]>> {
  const out = await exec(runner[0] ?? "ssh", [
    ...runner.slice(1),
    ...(runner.length ? ["ssh"] : []),
    "-G",
    alias,
    "-F",
    file,
  ]);
  assert.equal(out.code, 0, `ssh -G ${alias} -F ${file}: ${out.stderr}`);
  const map = new Map<string, string[]>();
  for (const line of out.stdout.split("\n")) {
    const space = line.indexOf(" ");
    if (space < 0) continue;
    const key = line.slice(0, space);
    map.set(key, [...(map.get(key) ?? []), line.slice(space + 1)]);
  }
  return map;
}

function expectedIdentity(raw: string, home: string): string {
  return raw.startsWith("~/") ? home + raw.slice(1) : raw;
}

/** Asserts that our resolution equals ssh -G's on every field provctl uses. */
async function compareWithSsh(
  alias: string,
  file: string,
  options: { home?: string; runner?: string[]; oursFile?: string } = {},
) {
  const home = options.home ?? HOME;
  const ours = await resolveSshHost(alias, {
    configFile: options.oursFile ?? file,
    home,
    user: USER,
  });
  const g = await sshG(alias, file, options.runner);
  // ssh expanded ~ to /root; in the namespace test that directory is our `home`.
  const one = (key: string) => g.get(key)?.[0]?.replaceAll(`${HOME}/`, `${home}/`);
  const ctx = `${alias} in ${file}`;
  assert.equal(ours.alias, alias);
  assert.equal(ours.hostname, one("hostname"), `hostname of ${ctx}`);
  assert.equal(ours.user ?? USER, one("user"), `user of ${ctx}`);
  assert.equal(String(ours.port), one("port"), `port of ${ctx}`);
  assert.equal(
    ours.identitiesOnly ? "yes" : "no",
    one("identitiesonly"),
    `identitiesonly of ${ctx}`,
  );
  // ssh -G prints ProxyJump as written (ssh expands its tokens with the target's values
  // when it runs the jump); ssh:// URIs mean the same hop.
  const tokens: Record<string, string | undefined> = {
    h: one("hostname"),
    n: alias,
    p: one("port"),
    r: one("user"),
    d: home,
    u: USER,
    k: one("hostkeyalias") ?? alias,
    "%": "%",
  };
  const expand = (text: string) => text.replace(/%(.)/g, (all, t: string) => tokens[t] ?? all);
  const jump = (one("proxyjump") ?? "").split(",").map((h) =>
    expand(h.replace(/^ssh:\/\/(.*?)\/?$/, "$1"))
  );
  assert.equal(ours.proxyJump.join(","), jump.join(","), `proxyjump of ${ctx}`);
  const strict = { yes: "true", no: "false", off: "false", ask: "ask", "accept-new": "accept-new" };
  assert.equal(
    strict[ours.strictHostKeyChecking ?? "ask"],
    one("stricthostkeychecking"),
    `strict of ${ctx}`,
  );
  assert.equal(
    ours.userKnownHostsFiles.join(" ") || "none",
    one("userknownhostsfile"),
    `known hosts of ${ctx}`,
  );
  assert.equal(
    ours.globalKnownHostsFiles.join(" ") || "none",
    one("globalknownhostsfile"),
    `global known hosts of ${ctx}`,
  );
  assert.equal(ours.hostKeyAlias, one("hostkeyalias"), `hostkeyalias of ${ctx}`);
  assert.equal(
    String(ours.connectTimeoutSec ?? "none"),
    one("connecttimeout") === "0" ? "none" : one("connecttimeout"),
  );
  assert.equal(
    String(ours.serverAliveIntervalSec ?? 0),
    one("serveraliveinterval"),
    `serveraliveinterval of ${ctx}`,
  );
  assert.equal(
    String(ours.serverAliveCountMax ?? 3),
    one("serveralivecountmax"),
    `serveralivecountmax of ${ctx}`,
  );
  // ssh -G prints identity files before token expansion: expand the ones we can know.
  const files = g.get("identityfile") ?? [];
  assert.equal(ours.identityFiles.length, files.length, `identity files of ${ctx}: ${files}`);
  files.forEach((f, i) => {
    if (/%[^%hnprduk]/.test(f)) return; // %l, %L, %i, %C: machine-specific
    assert.equal(ours.identityFiles[i], expectedIdentity(expand(f), home), ctx);
  });
  return ours;
}

const rejects = (promise: Promise<unknown>, kind: string) => expectProvctlError(kind, promise);

Deno.test("fixture configs resolve like ssh -G", async () => {
  const cases: [string, string[]][] = [
    ["basic.ssh_config", [
      "web1",
      "web2",
      "WEB1",
      "db-1",
      "db-10",
      "bastion",
      "api.prod",
      "legacy.prod",
      "other",
    ]],
    ["forms.ssh_config", ["quoted1", "plain", "other"]],
    ["match.ssh_config", ["short", "long.example", "other", "short2"]],
  ];
  for (const [file, aliases] of cases) {
    for (const alias of aliases) await compareWithSsh(alias, FIXTURES + file);
  }
});

Deno.test("resolved values of the fixtures (beyond ssh -G agreement)", async () => {
  const basic = FIXTURES + "basic.ssh_config";
  const web1 = await resolveSshHost("web1", { configFile: basic, home: "/home/u", user: "u" });
  assert.deepEqual(
    web1,
    {
      alias: "web1",
      hostname: "web1.internal.example",
      user: "deploy",
      port: 2201,
      identityFiles: ["/home/u/.ssh/id_ed25519"],
      identitiesOnly: false,
      proxyJump: [],
      strictHostKeyChecking: "accept-new",
      userKnownHostsFiles: ["/home/u/.ssh/known_hosts", "/home/u/.ssh/known_hosts2"],
      globalKnownHostsFiles: ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"],
      connectTimeoutSec: 15,
      serverAliveIntervalSec: 60,
      serverAliveCountMax: 5,
    } satisfies SshHostConfig,
  );
  const db = await resolveSshHost("db-1", { configFile: basic, home: "/home/u", user: "u" });
  assert.equal(db.hostname, "10.1.0.%lit");
  assert.deepEqual(db.identityFiles, ["/home/u/.ssh/db_key", "/home/u/.ssh/id_ed25519"]);
  const prod = await resolveSshHost("api.prod", { configFile: basic, home: "/home/u", user: "u" });
  assert.deepEqual(prod.proxyJump, ["bastion", "ops@relay.example:2222"]);
  assert.equal(prod.strictHostKeyChecking, "yes");
  assert.deepEqual(prod.userKnownHostsFiles, [
    "/home/u/.ssh/known_hosts_prod",
    "/etc/ssh/prod_known_hosts",
  ]);
  assert.deepEqual(prod.globalKnownHostsFiles, ["/etc/ssh/prod_global_known_hosts"]);
  assert.equal(prod.revokedHostKeys, "/home/u/.ssh/revoked_api.prod");
  const legacy = await resolveSshHost("legacy.prod", {
    configFile: basic,
    home: "/home/u",
    user: "u",
  });
  assert.deepEqual(legacy.proxyJump, []);
  assert.equal(legacy.strictHostKeyChecking, "no");
  const forms = await resolveSshHost("quoted1", {
    configFile: FIXTURES + "forms.ssh_config",
    home: "/h",
  });
  assert.deepEqual(forms.identityFiles, [
    "/tmp/dir with spaces/id",
    "/tmp/single quoted",
    "/tmp/escaped space",
  ]);
  assert.equal(forms.hostname, "first.example");
  assert.equal(forms.strictHostKeyChecking, "off");
  assert.equal(forms.connectTimeoutSec, 90);
  assert.deepEqual(forms.userKnownHostsFiles, []);
  assert.deepEqual(forms.globalKnownHostsFiles, []);
  assert.deepEqual(forms.proxyJump, ["hop@jump.example:2200", "[::1]:23"]);
});

Deno.test("generated configs: includes, token expansion, first-wins, proxy precedence", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-sshcfg-" });
  try {
    await Deno.mkdir(`${dir}/conf.d`);
    await Deno.writeTextFile(`${dir}/conf.d/10-a.conf`, "Host inc*\n  Port 3001\n  User from-a\n");
    await Deno.writeTextFile(
      `${dir}/conf.d/20-b.conf`,
      `Host *\n  Port 3002\n  Include ${dir}/nested.conf\n`,
    );
    await Deno.writeTextFile(`${dir}/conf.d/.hidden.conf`, "Port 9999\n");
    await Deno.writeTextFile(`${dir}/nested.conf`, "HostKeyAlias nested-alias\nHost never\n");
    await Deno.writeTextFile(`${dir}/inactive.conf`, "Port 3999\nHost *\nUser from-inactive\n");
    const main = `${dir}/main.conf`;
    await Deno.writeTextFile(
      main,
      [
        `Host nothing-matches`,
        `  Include ${dir}/inactive.conf`,
        `Host *`,
        `  Include ${dir}/conf.d/*.conf ${dir}/missing-*.conf ${dir}/missing.conf`,
        `  ConnectTimeout 5`,
        `Host pc`,
        `  ProxyCommand none`,
        `  ProxyJump ignored-after-proxycommand`,
        `Host pj`,
        `  ProxyJump a,b@c:2,d`,
        `  ProxyCommand nc %h %p`,
        `Host *`,
        `  IdentityFile ~/.ssh/id_%r_%h_%u_%d_%%`,
        `  UserKnownHostsFile ~/kh_%h %d/kh2`,
      ].join("\n"),
    );
    for (const alias of ["inc1", "other", "pc", "pj"]) await compareWithSsh(alias, main);
    const inc = await resolveSshHost("inc1", { configFile: main, home: "/h", user: "me" });
    assert.equal(inc.port, 3001);
    assert.equal(inc.user, "from-a");
    assert.equal(inc.hostKeyAlias, "nested-alias");
    assert.equal(inc.connectTimeoutSec, 5);
    assert.deepEqual(inc.identityFiles, ["/h/.ssh/id_from-a_inc1_me_/h_%"]);
    assert.deepEqual(inc.userKnownHostsFiles, ["/h/kh_inc1", "/h/kh2"]);
    assert.deepEqual((await resolveSshHost("pj", { configFile: main })).proxyJump, [
      "a",
      "b@c:2",
      "d",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("identity file tokens expand like the ssh client's (ssh -v against a loopback listener)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-sshcfg-" });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  // Accept and drop connections: ssh loads its identity files right after connecting.
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })();
  try {
    const file = `${dir}/config`;
    await Deno.writeTextFile(
      file,
      [
        "Host web",
        "  HostName 127.0.0.1",
        `  Port ${port}`,
        "  User bob",
        "  IdentityFile ~/.ssh/id_%r_%h_%u_%d",
        `  IdentityFile ${dir}/%%lit_%n_%p_%h`,
        "  IdentityFile /tmp/${HOME}_x",
      ].join("\n"),
    );
    const out = await exec("ssh", [
      "-v",
      "-F",
      file,
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=5",
      "web",
      "true",
    ]);
    const loaded = [...out.stderr.matchAll(/identity file (\S+) type/g)].map((m) => m[1])
      .filter((f) => !f.endsWith("-cert"));
    assert.equal(loaded.length, 3, out.stderr);
    const ours = await resolveSshHost("web", {
      configFile: file,
      home: HOME,
      user: Deno.env.get("USER") ?? USER,
    });
    assert.deepEqual(ours.identityFiles, loaded);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("default ~/.ssh/config and relative Include resolve like ssh with that home", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-sshhome-" });
  try {
    await Deno.mkdir(`${dir}/.ssh/includes`, { recursive: true });
    await Deno.writeTextFile(`${dir}/.ssh/config`, "Include includes/*\nHost *\n  User outer\n");
    await Deno.writeTextFile(
      `${dir}/.ssh/includes/one`,
      "Host rel\n  Port 4001\n  IdentityFile ~/.ssh/rel_key\n",
    );
    // Make ssh see `dir` as root's home: bind-mount it over /root in a private mount namespace.
    const runner = ["unshare", "-m", "sh", "-c", `mount --bind "$0" /root && exec "$@"`, dir];
    for (const alias of ["rel", "other"]) {
      {
        await compareWithSsh(alias, `${HOME}/.ssh/config`, {
          runner,
          home: dir,
          oursFile: `${dir}/.ssh/config`,
        });
      }
    }
    // The same through the default path (no configFile), which also reads /etc/ssh/ssh_config.
    const rel = await resolveSshHost("rel", { home: dir, user: USER });
    assert.equal(rel.port, 4001);
    assert.equal(rel.user, "outer");
    assert.deepEqual(rel.identityFiles, [`${dir}/.ssh/rel_key`]);
    const missing = await resolveSshHost("x", { home: `${dir}/nowhere`, user: USER });
    assert.equal(missing.port, 22);
    assert.equal(missing.hostname, "x");
    assert.deepEqual(missing.userKnownHostsFiles, [
      `${dir}/nowhere/.ssh/known_hosts`,
      `${dir}/nowhere/.ssh/known_hosts2`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config files others can write are refused, as ssh's 'Bad owner or permissions'", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-sshperm-" });
  try {
    await Deno.mkdir(`${dir}/.ssh`, { recursive: true });
    const include = `${dir}/.ssh/extra`;
    await Deno.writeTextFile(`${dir}/.ssh/config`, `Include ${include}\n`);
    await Deno.writeTextFile(include, "Host web\n  HostName evil.example\n");
    await Deno.chmod(`${dir}/.ssh/config`, 0o644);
    await Deno.chmod(include, 0o644);
    assert.equal((await resolveSshHost("web", { home: dir, user: USER })).hostname, "evil.example");

    // Group-writable with a group whose only member is the owner (root's group here):
    // Debian's ssh accepts that, and so does provctl.
    await Deno.chmod(include, 0o664);
    assert.equal((await exec("ssh", ["-G", "web", "-F", `${dir}/.ssh/config`])).code, 0);
    assert.equal((await resolveSshHost("web", { home: dir, user: USER })).hostname, "evil.example");
    // A world-writable Include (even in a block that does not apply): ssh refuses it.
    await Deno.chmod(include, 0o646);
    const ssh = await exec("ssh", ["-G", "web", "-F", `${dir}/.ssh/config`]);
    assert.notEqual(ssh.code, 0);
    assert.match(ssh.stderr, /Bad owner or permissions/);
    for (const alias of ["web", "other"]) {
      const e = await expectProvctlError(
        "PermissionDenied",
        resolveSshHost(alias, { home: dir, user: USER }),
      );
      assert.equal(e.key, "ssh_config.unsafe_mode");
      assert.equal(e.params.file, include);
      assert.equal(e.params.mode, "0646");
      assert.match(messages.format(e.key, e.params), /group or others can write/);
      assert.ok(messages.has(e.hint!));
    }
    // The same through -F (the named file itself is the user's choice, its Include is not).
    await expectProvctlError(
      "PermissionDenied",
      resolveSshHost("web", { configFile: `${dir}/.ssh/config`, home: dir, user: USER }),
    );
    await Deno.chmod(include, 0o644);

    // ~/.ssh/config itself, world-writable.
    await Deno.chmod(`${dir}/.ssh/config`, 0o646);
    const e = await expectProvctlError(
      "PermissionDenied",
      resolveSshHost("web", { home: dir, user: USER }),
    );
    assert.equal(e.params.file, `${dir}/.ssh/config`);
    await Deno.chmod(`${dir}/.ssh/config`, 0o600);

    if (Deno.uid() === 0) {
      // Group-writable by a group another account belongs to (nobody's nogroup).
      await Deno.chown(include, 0, 65534);
      await Deno.chmod(include, 0o664);
      const group = await exec("ssh", ["-G", "web", "-F", `${dir}/.ssh/config`]);
      assert.match(group.stderr, /Bad owner or permissions/);
      const e1 = await expectProvctlError(
        "PermissionDenied",
        resolveSshHost("web", { home: dir, user: USER }),
      );
      assert.equal(e1.key, "ssh_config.unsafe_mode");
      await Deno.chmod(include, 0o644);

      // Owned by another user (not root): refused whatever its mode.
      await Deno.chown(include, 65534, 65534);
      const owner = await exec("ssh", ["-G", "web", "-F", `${dir}/.ssh/config`]);
      assert.match(owner.stderr, /Bad owner or permissions/);
      const e = await expectProvctlError(
        "PermissionDenied",
        resolveSshHost("web", { home: dir, user: USER }),
      );
      assert.equal(e.key, "ssh_config.unsafe_owner");
      assert.equal(e.params.owner, 65534);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("malformed values are InvalidConfig naming file:line, as ssh also refuses them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-sshcfg-" });
  try {
    const cases: { text: string; line: number; key: string }[] = [
      { text: "Host x\n  Port abc\n", line: 2, key: "ssh_config.bad_value" },
      { text: "Host nomatch\n\n  Port 70000\n", line: 3, key: "ssh_config.bad_value" },
      { text: "Port 0\n", line: 1, key: "ssh_config.bad_value" },
      { text: "# c\nIdentitiesOnly maybe\n", line: 2, key: "ssh_config.bad_value" },
      { text: "StrictHostKeyChecking sometimes\n", line: 1, key: "ssh_config.bad_value" },
      { text: "ConnectTimeout 1x\n", line: 1, key: "ssh_config.bad_value" },
      { text: "ServerAliveCountMax -1\n", line: 1, key: "ssh_config.bad_value" },
      { text: "ProxyJump bad:port:x\n", line: 1, key: "ssh_config.bad_value" },
      { text: "IdentityFile /a /b\n", line: 1, key: "ssh_config.extra_arguments" },
      { text: "Port\n", line: 1, key: "ssh_config.missing_argument" },
      { text: "Host\n", line: 1, key: "ssh_config.missing_argument" },
      { text: "Match bogus x\n", line: 1, key: "ssh_config.match_syntax" },
      { text: "HostName a%xb\n", line: 1, key: "ssh_config.bad_token" },
      { text: 'IdentityFile "/unterminated\n', line: 1, key: "ssh_config.syntax" },
    ];
    for (const [i, c] of cases.entries()) {
      const file = `${dir}/bad${i}`;
      await Deno.writeTextFile(file, c.text);
      const e = await rejects(resolveSshHost("x", { configFile: file }), "InvalidConfig");
      assert.equal(e.key, c.key, c.text);
      assert.equal(e.params.file, file);
      assert.equal(e.params.line, c.line, c.text);
      const text = messages.format(e.key, e.params);
      assert.ok(text.startsWith(`${file}:${c.line}: `), text);
      assert.doesNotMatch(text, /\{[a-z_]+\}/, text);
      // The real client refuses the same file.
      assert.notEqual(
        (await exec("ssh", ["-G", "x", "-F", file])).code,
        0,
        `ssh accepted ${c.text}`,
      );
    }
    // An Include that includes itself hits the depth limit instead of looping.
    const loop = `${dir}/loop`;
    await Deno.writeTextFile(loop, `Host *\nInclude ${loop}\n`);
    const e = await rejects(resolveSshHost("x", { configFile: loop }), "InvalidConfig");
    assert.equal(e.key, "ssh_config.include_depth");
    assert.equal((await exec("ssh", ["-G", "x", "-F", loop])).code, 255);
    // A missing explicit config file is an error, unlike a missing ~/.ssh/config.
    assert.equal(
      (await rejects(resolveSshHost("x", { configFile: `${dir}/none` }), "InvalidConfig")).key,
      "ssh_config.not_found",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("settings provctl cannot honour fail instead of being silently ignored", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-sshcfg-" });
  try {
    const file = `${dir}/config`;
    await Deno.writeTextFile(
      file,
      [
        'Match host agent-only exec "true"',
        "  IdentityAgent ~/.agent.sock", // not a keyword we use: block is harmless
        'Match host guarded exec "test -e /tmp"',
        "  Port 2999",
        'Match host elsewhere exec "true"',
        "  Port 2998",
        "Host viacommand",
        "  ProxyCommand nc %h %p",
        "Host *",
        "  Port 2000",
      ].join("\n"),
    );
    assert.equal((await resolveSshHost("agent-only", { configFile: file })).port, 2000);
    // A block that sets Port and could apply (host matches, exec unknown): refuse to guess.
    const e = await rejects(resolveSshHost("guarded", { configFile: file }), "Unsupported");
    assert.equal(e.key, "ssh_config.match_unsupported");
    assert.equal(e.params.line, 3);
    assert.match(messages.format(e.key, e.params), /Match host guarded exec test -e \/tmp/);
    // ssh really applies it, which is why provctl must not ignore it.
    assert.equal((await sshG("guarded", file)).get("port")?.[0], "2999");
    // The same kind of block for another host does not matter.
    assert.equal((await resolveSshHost("other", { configFile: file })).port, 2000);
    const pc = await rejects(resolveSshHost("viacommand", { configFile: file }), "Unsupported");
    assert.equal(pc.key, "ssh_config.proxy_command");
    assert.equal(pc.params.line, 8);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue 13 item 12: configs ssh accepts resolve like ssh -G", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-sshcfg-" });
  const write = async (name: string, lines: string[]) => {
    await Deno.writeTextFile(`${dir}/${name}`, lines.join("\n") + "\n");
    return `${dir}/${name}`;
  };
  try {
    await t.step("Match final: Host lines match the HostName in a second pass", async () => {
      const file = await write("final.conf", [
        "Host web",
        "  HostName web.real.example",
        "Host web.real.example",
        "  User finaluser",
        "  Port 2222",
        "Match final host web.real.example",
        "  ServerAliveInterval 7",
        "Match !final",
        "  ServerAliveCountMax 9",
        "Match canonical",
        "  IdentitiesOnly yes",
      ]);
      const ours = await compareWithSsh("web", file);
      assert.deepEqual([ours.user, ours.port, ours.serverAliveIntervalSec], [
        "finaluser",
        2222,
        7,
      ]);
      assert.equal(ours.serverAliveCountMax, 9);
      assert.equal(ours.identitiesOnly, true);
      // Without any `Match final`, no second pass: the HostName's block does not apply.
      const once = await write("once.conf", [
        "Host web",
        "  HostName web.real.example",
        "Host web.real.example",
        "  User finaluser",
        "Match canonical",
        "  Port 2200",
      ]);
      const plain = await compareWithSsh("web", once);
      assert.deepEqual([plain.user, plain.port], [undefined, 22]);
    });

    await t.step("Include globs with brackets", async () => {
      await Deno.mkdir(`${dir}/conf.d`, { recursive: true });
      await write("conf.d/10-web.conf", ["Host web", "  Port 2010"]);
      await write("conf.d/20-all.conf", ["Host *", "  User from-20"]);
      await write("conf.d/x-ignored.conf", ["Host *", "  Port 9999"]);
      const file = await write("brackets.conf", [
        `Include ${dir}/conf.d/[0-9]*.conf`,
        `Include ${dir}/conf.d/[!0-9x]*.conf`,
      ]);
      const ours = await compareWithSsh("web", file);
      assert.deepEqual([ours.port, ours.user], [2010, "from-20"]);
    });

    await t.step("an Include inside a block provctl cannot evaluate is refused", async () => {
      await write("inc-port.conf", ["Port 2999"]);
      await write("inc-harmless.conf", ["IdentityAgent none"]);
      const file = await write("exec-include.conf", [
        'Match host web exec "true"',
        `  Include ${dir}/inc-harmless.conf`,
        'Match host web exec "true"',
        `  Include ${dir}/inc-port.conf`,
        "Host *",
        "  Port 2000",
      ]);
      const e = await rejects(resolveSshHost("web", { configFile: file }), "Unsupported");
      assert.equal(e.key, "ssh_config.match_unsupported");
      assert.equal(e.params.line, 3);
      assert.equal(e.params.keyword, "port");
      assert.equal((await sshG("web", file)).get("port")?.[0], "2999", "ssh applies it");
      // For a host the Match cannot apply to, nothing is refused.
      assert.equal((await compareWithSsh("other", file)).port, 2000);
    });

    await t.step("ProxyJump tokens, trailing comments, service names, %k", async () => {
      const file = await write("forms2.conf", [
        "Host web # the web server",
        "  HostName web.internal",
        "  ProxyJump j-%h,%r@k-%n # via two jumps",
        "  Port https",
        "  IdentityFile ~/.ssh/id_%k # per alias",
        "Host db",
        "  HostKeyAlias db-key",
        "  IdentityFile ~/.ssh/id_%k",
        "  UserKnownHostsFile ~/.ssh/kh_%k",
        "  Port imap",
        "Host *",
        "  User ops # comment",
        "  ProxyJump bastion # via bastion",
      ]);
      const web = await compareWithSsh("web", file);
      assert.deepEqual(web.proxyJump, ["j-web.internal", "ops@k-web"]);
      assert.equal(web.port, 443);
      assert.deepEqual(web.identityFiles, [`${HOME}/.ssh/id_web`]);
      const db = await compareWithSsh("db", file);
      assert.deepEqual(db.identityFiles, [`${HOME}/.ssh/id_db-key`]);
      assert.deepEqual(db.userKnownHostsFiles, [`${HOME}/.ssh/kh_db-key`]);
      assert.equal(db.port, 143);
      assert.deepEqual(db.proxyJump, ["bastion"]);
      const other = await compareWithSsh("other", file);
      assert.deepEqual(other.proxyJump, ["bastion"]);
      // An unknown service name is refused, as ssh refuses it.
      const bad = await write("badport.conf", ["Host *", "  Port no-such-service"]);
      const e = await rejects(resolveSshHost("x", { configFile: bad }), "InvalidConfig");
      assert.equal(e.key, "ssh_config.bad_value");
      assert.equal((await exec("ssh", ["-G", "x", "-F", bad])).code, 255);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** mulberry32: a small seeded PRNG, so a failing generated config can be reproduced. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
  return { next, pick, chance: (p: number) => next() < p };
}

const ALIASES = ["web1", "web2", "db-1", "api.prod", "bastion", "x"] as const;
const NAMES = ["web1.example", "db.example", "api.internal", "10.0.0.5"] as const;

/** One random ssh_config (and its included files) over the keywords provctl reads. */
async function generateConfig(seed: number, dir: string): Promise<string> {
  const r = random(seed);
  const comment = () => r.chance(0.15) ? " # note" : "";
  const sep = () => r.chance(0.2) ? "=" : " ";
  const hostPattern = () =>
    r.pick([
      "*",
      "web*",
      "web?",
      "*.prod",
      "!db-1 *",
      "db-1",
      "x bastion",
      ...NAMES,
      "*.example",
    ]);
  const matchLine = () =>
    r.pick([
      `Match host ${r.pick(NAMES)}`,
      `Match originalhost ${r.pick(ALIASES)}`,
      "Match final",
      `Match final host ${r.pick([...NAMES, "*.example"])}`,
      "Match !final",
      "Match canonical",
      `Match user ${r.pick(["root", "ops", "deploy"])}`,
      "Match localuser root",
      "Match all",
    ]);
  const hop = () =>
    r.pick(["bastion", "j-%h", "ops@gw:2222", "%r@relay", "ssh://hop@h2:2200", "k-%n"]);
  const value = (): string =>
    r.pick([
      () => `HostName${sep()}${r.pick([...NAMES, "%h.example", "%h"])}`,
      () => `User${sep()}${r.pick(["root", "ops", "deploy"])}`,
      () => `Port${sep()}${r.pick(["22", "2222", "https", "ssh", "imap", "8022"])}`,
      () => `IdentityFile ${r.pick(["~/.ssh/id_%h", "~/.ssh/id_%k", "~/k_%r_%n", "/k/%p%%"])}`,
      () => `IdentitiesOnly ${r.pick(["yes", "no"])}`,
      () =>
        `ProxyJump ${
          r.chance(0.2) ? "none" : Array.from({ length: 1 + Math.floor(r.next() * 2) }, hop)
        }`,
      () => `StrictHostKeyChecking ${r.pick(["yes", "no", "accept-new", "ask"])}`,
      () => `UserKnownHostsFile ${r.pick(["~/.ssh/kh_%h", "~/.ssh/kh_%k /etc/kh", "none"])}`,
      () => `HostKeyAlias ${r.pick(["alias-a", "alias-b"])}`,
      () => `ConnectTimeout ${r.pick(["5", "1m", "none"])}`,
      () => `ServerAliveInterval ${r.pick(["0", "15", "2m"])}`,
      () => `ServerAliveCountMax ${r.pick(["1", "4"])}`,
    ])();
  const block = (lines: string[]) => {
    for (let n = 1 + Math.floor(r.next() * 3); n > 0; n--) lines.push(`  ${value()}${comment()}`);
  };
  const lines: string[] = [];
  const incDir = `${dir}/inc-${seed}`;
  await Deno.mkdir(incDir, { recursive: true });
  for (let b = 0; b < 3 + Math.floor(r.next() * 6); b++) {
    if (r.chance(0.15)) {
      const name = `${Math.floor(r.next() * 10)}${r.pick(["a", "b", ""])}.conf`;
      const included: string[] = [`Host ${hostPattern()}`];
      block(included);
      await Deno.writeTextFile(`${incDir}/${name}`, included.join("\n") + "\n");
      lines.push(`${r.chance(0.5) ? "Host *" : matchLine()}`);
      lines.push(`  Include ${incDir}/${r.pick(["[0-9]*.conf", "[0-4]?.conf", "*.conf"])}`);
      continue;
    }
    lines.push(r.chance(0.65) ? `Host ${hostPattern()}${comment()}` : matchLine());
    block(lines);
  }
  const file = `${dir}/gen-${seed}.conf`;
  await Deno.writeTextFile(file, lines.join("\n") + "\n");
  return file;
}

Deno.test("generated configs agree with ssh -G for every host (seeded)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-sshgen-" });
  // PROVCTL_SSH_CONFIG_SEEDS=N runs more; a failure names its seed and file.
  const seeds = Number(Deno.env.get("PROVCTL_SSH_CONFIG_SEEDS") ?? 60);
  try {
    for (let seed = 1; seed <= seeds; seed++) {
      const file = await generateConfig(seed, dir);
      for (const alias of ALIASES) {
        const g = await exec("ssh", ["-G", alias, "-F", file]);
        const label = `seed ${seed}, host ${alias}:\n${await Deno.readTextFile(file)}`;
        if (g.code !== 0 && /jumphost loop/.test(g.stderr)) {
          // The chain is checked when the connection is planned, as ssh does.
          const e = await rejects(
            resolveConnectionPlan(alias, { sshConfigFile: file, home: HOME, localUser: USER }),
            "InvalidConfig",
          );
          assert.equal(e.key, "ssh.jump_loop", label);
          continue;
        }
        if (/^proxyjump none$/m.test(g.stdout)) {
          // `ProxyJump none # comment`: ssh jumps through a host "none"; provctl refuses.
          const e = await rejects(
            resolveSshHost(alias, { configFile: file, home: HOME, user: USER }),
            "InvalidConfig",
          );
          assert.equal(e.key, "ssh_config.jump_none_comment", label);
          continue;
        }
        if (g.code !== 0) {
          // ssh refuses the config: provctl must refuse it too.
          await rejects(
            resolveSshHost(alias, { configFile: file, home: HOME, user: USER }),
            "InvalidConfig",
          )
            .catch((e) => {
              throw new Error(`${label}\nssh -G failed (${g.stderr.trim()}) but provctl: ${e}`);
            });
          continue;
        }
        try {
          await compareWithSsh(alias, file);
        } catch (e) {
          throw new Error(`${label}\n${e instanceof Error ? e.message : e}`);
        }
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
