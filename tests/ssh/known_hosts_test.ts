/**
 * known_hosts against real OpenSSH: a real sshd on 127.0.0.1, files written by
 * ssh-keyscan, ssh-keygen -H and the ssh client, lookups cross-checked with
 * ssh-keygen -F, and lines written by appendKnownHost accepted by the ssh client.
 */
import assert from "node:assert/strict";
import { expectProvctlError } from "../helpers/errors.ts";
import { otherUser } from "../helpers/other_user.ts";
import { Buffer } from "node:buffer";
import { dirname } from "node:path";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";
import { fingerprintSha256 } from "../../src/ssh/fingerprint.ts";
import {
  appendKnownHost,
  type HostKeyCheck,
  knownHostKeyTypes,
  verifyHostKey,
} from "../../src/ssh/known_hosts.ts";

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(
  program: string,
  args: string[],
  env?: Record<string, string>,
): Promise<Out> {
  const out = await new Deno.Command(program, {
    args,
    env,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function ok(program: string, args: string[]): Promise<string> {
  const out = await exec(program, args);
  assert.equal(out.code, 0, `${program} ${args.join(" ")}: ${out.stderr}`);
  return out.stdout;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function blobOf(pubFile: string): Promise<Uint8Array> {
  const field = (await Deno.readTextFile(pubFile)).trim().split(/\s+/)[1];
  return new Uint8Array(Buffer.from(field, "base64"));
}

/** Lines numbers ssh-keygen -F reports for `name` in `file`. */
async function keygenFind(name: string, file: string): Promise<number[]> {
  const out = await exec("ssh-keygen", ["-F", name, "-f", file]);
  return [...out.stdout.matchAll(/found: line (\d+)/g)].map((m) => Number(m[1]));
}

const rejects = (promise: Promise<unknown>, kind: string) => expectProvctlError(kind, promise);

const messages = new Messages(embeddedMessages());

Deno.test("known_hosts against a real sshd and OpenSSH tools", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-kh-" });
  let sshd: Deno.ChildProcess | undefined;
  try {
    await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    await ok("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/host_ed25519`]);
    await ok("ssh-keygen", ["-q", "-t", "ecdsa", "-N", "", "-f", `${dir}/host_ecdsa`]);
    await ok("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/other_ed25519`]);
    await ok("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/client`]);
    await Deno.copyFile(`${dir}/client.pub`, `${dir}/authorized_keys`);
    const port = freePort();
    await Deno.writeTextFile(
      `${dir}/sshd_config`,
      [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${dir}/host_ed25519`,
        `HostKey ${dir}/host_ecdsa`,
        `PidFile ${dir}/sshd.pid`,
        `AuthorizedKeysFile ${dir}/authorized_keys`,
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "",
      ].join("\n"),
    );
    sshd = new Deno.Command("setsid", {
      args: ["/usr/sbin/sshd", "-D", "-e", "-f", `${dir}/sshd_config`],
      stdin: "null",
      stdout: "null",
      stderr: "null", // -e logs every connection; an unread pipe could fill and stall sshd
    }).spawn();
    await waitForPort(port);

    const ed = await blobOf(`${dir}/host_ed25519.pub`);
    const ec = await blobOf(`${dir}/host_ecdsa.pub`);
    const other = await blobOf(`${dir}/other_ed25519.pub`);
    const name = `[127.0.0.1]:${port}`;
    const check = (file: string | string[], extra: Partial<HostKeyCheck> = {}): HostKeyCheck => ({
      host: "127.0.0.1",
      port,
      keyBlob: ed,
      knownHostsFiles: Array.isArray(file) ? file : [file],
      policy: "strict",
      ...extra,
    });
    // The ssh client with only this file, no user config, no global known_hosts.
    const sshArgs = (file: string, strict: string, extra: string[] = []) => [
      "-F",
      "/dev/null",
      "-i",
      `${dir}/client`,
      "-o",
      "BatchMode=yes",
      "-o",
      `UserKnownHostsFile=${file}`,
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      `StrictHostKeyChecking=${strict}`,
      "-o",
      "HashKnownHosts=yes",
      ...extra,
      "-p",
      String(port),
      "root@127.0.0.1",
      "true",
    ];

    const plain = `${dir}/plain`;
    await Deno.writeTextFile(plain, await ok("ssh-keyscan", ["-p", String(port), "127.0.0.1"]));

    await t.step("plain [host]:port lines from ssh-keyscan", async () => {
      assert.match(
        await Deno.readTextFile(plain),
        new RegExp(`^\\[127\\.0\\.0\\.1\\]:${port} `, "m"),
      );
      const found = await keygenFind(name, plain);
      const edVerdict = await verifyHostKey(check(plain));
      const ecVerdict = await verifyHostKey(check(plain, { keyBlob: ec }));
      assert.equal(edVerdict.status, "known");
      assert.equal(ecVerdict.status, "known");
      assert.deepEqual(
        [ecVerdict, edVerdict].map((v) => v.status === "known" ? v.line : 0).sort(),
        found.sort(),
      );
      // Same host, default port: not the same entry.
      await rejects(verifyHostKey(check(plain, { port: 22 })), "HostKeyUnknown");
      await rejects(verifyHostKey(check(plain, { host: "127.0.0.2" })), "HostKeyUnknown");
    });

    await t.step("hashed [host]:port lines from ssh-keyscan -H", async () => {
      const hashed = `${dir}/hashed`;
      await Deno.writeTextFile(
        hashed,
        await ok("ssh-keyscan", ["-H", "-p", String(port), "127.0.0.1"]),
      );
      assert.match(await Deno.readTextFile(hashed), /^\|1\|/m);
      const verdict = await verifyHostKey(check(hashed));
      assert.equal(verdict.status, "known");
      assert.deepEqual(
        await keygenFind(name, hashed).then((l) => l.includes((verdict as { line: number }).line)),
        true,
      );
      await rejects(verifyHostKey(check(hashed, { port: port + 1 })), "HostKeyUnknown");
    });

    await t.step("port 22 entries: plain names and ssh-keygen -H hashed", async () => {
      const file = `${dir}/port22`;
      const edLine = (await Deno.readTextFile(`${dir}/host_ed25519.pub`)).trim().split(/\s+/).slice(
        0,
        2,
      ).join(" ");
      await Deno.writeTextFile(
        file,
        `# a comment\n\nweb1.example ${edLine}\n   \nLocalHost ${edLine}\n`,
      );
      const at22 = (host: string) => check(file, { host, port: 22 });
      assert.deepEqual(await verifyHostKey(at22("web1.example")), {
        status: "known",
        file,
        line: 3,
      });
      // Host names are case-insensitive.
      assert.deepEqual(await verifyHostKey(at22("WEB1.example")), {
        status: "known",
        file,
        line: 3,
      });
      assert.deepEqual(await verifyHostKey(at22("localhost")), { status: "known", file, line: 5 });
      await rejects(verifyHostKey(check(file, { host: "web1.example" })), "HostKeyUnknown");
      await ok("ssh-keygen", ["-q", "-H", "-f", file]);
      const text = await Deno.readTextFile(file);
      assert.doesNotMatch(text, /web1/);
      const verdict = await verifyHostKey(at22("web1.example"));
      assert.equal(verdict.status, "known");
      assert.deepEqual(await keygenFind("web1.example", file), [
        (verdict as { line: number }).line,
      ]);
      await rejects(verifyHostKey(at22("web2.example")), "HostKeyUnknown");
    });

    await t.step("comma lists, wildcards and negation agree with ssh-keygen -F", async () => {
      const key = (await Deno.readTextFile(`${dir}/host_ed25519.pub`)).trim().split(/\s+/).slice(
        0,
        2,
      ).join(" ");
      const cases: { hosts: string; match: boolean }[] = [
        { hosts: `db1,${name},db2`, match: true },
        { hosts: "db1,db2", match: false },
        { hosts: `[127.0.0.?]:${port}`, match: true },
        { hosts: "[127.0.0.*]:*", match: true },
        { hosts: "*", match: true },
        { hosts: "127.0.0.1", match: false },
        { hosts: `*,!${name}`, match: false },
        { hosts: "[127.0.0.*]:*,![127.0.0.1]:*", match: false },
        { hosts: "[127.0.0.*]:*,![127.0.0.2]:*", match: true },
      ];
      for (const [i, c] of cases.entries()) {
        const file = `${dir}/pattern${i}`;
        await Deno.writeTextFile(file, `${c.hosts} ${key}\n`);
        assert.equal(
          (await keygenFind(name, file)).length > 0,
          c.match,
          `ssh-keygen -F on ${c.hosts}`,
        );
        if (c.match) {
          assert.deepEqual(
            await verifyHostKey(check(file)),
            { status: "known", file, line: 1 },
            c.hosts,
          );
        } else {
          await rejects(verifyHostKey(check(file)), "HostKeyUnknown");
        }
      }
    });

    await t.step("a line written by the ssh client (accept-new, hashed) is known", async () => {
      const file = `${dir}/by_ssh`;
      const out = await exec(
        "ssh",
        sshArgs(file, "accept-new", ["-o", "HostKeyAlgorithms=ssh-ed25519"]),
      );
      assert.equal(out.code, 0, out.stderr);
      assert.match(await Deno.readTextFile(file), /^\|1\|\S+ ssh-ed25519 /);
      assert.deepEqual(await verifyHostKey(check(file)), { status: "known", file, line: 1 });
      assert.deepEqual(
        await knownHostKeyTypes({ host: "127.0.0.1", port, knownHostsFiles: [file] }),
        [
          "ssh-ed25519",
        ],
      );
    });

    await t.step(
      "accept-new creates ~/.ssh (0700) and a 0600 file; the ssh client accepts it",
      async () => {
        const sshDir = `${dir}/home/.ssh`;
        const file = `${sshDir}/known_hosts`;
        assert.deepEqual(await verifyHostKey(check(file, { policy: "accept-new" })), {
          status: "added",
          file,
        });
        assert.equal((await Deno.stat(sshDir)).mode! & 0o777, 0o700);
        assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
        const text = await Deno.readTextFile(file);
        assert.match(text, /^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+ ssh-ed25519 [A-Za-z0-9+/=]+\n$/);
        assert.deepEqual(await verifyHostKey(check(file, { policy: "accept-new" })), {
          status: "known",
          file,
          line: 1,
        });
        assert.deepEqual(await verifyHostKey(check(file)), { status: "known", file, line: 1 });
        assert.deepEqual(await keygenFind(name, file), [1]);
        const out = await exec(
          "ssh",
          sshArgs(file, "yes", ["-o", "HostKeyAlgorithms=ssh-ed25519"]),
        );
        assert.equal(out.code, 0, out.stderr);
        assert.equal(await Deno.readTextFile(file), text);
      },
    );

    await t.step(
      "accept-new keeps existing lines and mode, and appends to the first file",
      async () => {
        const first = `${dir}/keep`;
        const second = `${dir}/keep2`;
        const before =
          "# mine\nweb1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAuV7RrlYdK0emDyXw9aytnJt5mz7bNZSmWDCYH2BK2f"; // no final newline
        await Deno.writeTextFile(first, before);
        await Deno.chmod(first, 0o644);
        const verdict = await verifyHostKey(
          check([first, second], { policy: "accept-new", keyBlob: ec }),
        );
        assert.deepEqual(verdict, { status: "added", file: first });
        const text = await Deno.readTextFile(first);
        assert.ok(text.startsWith(before + "\n"));
        assert.equal(text.split("\n").length, 4);
        assert.equal((await Deno.stat(first)).mode! & 0o777, 0o644);
        await assert.rejects(Deno.stat(second), Deno.errors.NotFound);
        assert.deepEqual(await verifyHostKey(check([second, first], { keyBlob: ec })), {
          status: "known",
          file: first,
          line: 3,
        });
        // No temp files left behind.
        const names = [];
        for await (const entry of Deno.readDir(dir)) names.push(entry.name);
        assert.deepEqual(names.filter((n) => n.endsWith(".tmp")), []);
      },
    );

    await t.step("concurrent appends lose no line", async () => {
      const file = `${dir}/concurrent`;
      await Promise.all(
        Array.from({ length: 12 }, (_, i) => appendKnownHost(file, `10.0.0.${i}`, 2200 + i, ed)),
      );
      const lines = (await Deno.readTextFile(file)).trim().split("\n");
      assert.equal(lines.length, 12);
      for (let i = 0; i < 12; i++) {
        assert.deepEqual(await keygenFind(`[10.0.0.${i}]:${2200 + i}`, file), [
          (await verifyHostKey({ ...check(file), host: `10.0.0.${i}`, port: 2200 + i }) as {
            line: number;
          }).line,
        ]);
      }
      // Appending a key that is already there does not duplicate it.
      await appendKnownHost(file, "10.0.0.3", 2203, ed);
      assert.equal((await Deno.readTextFile(file)).trim().split("\n").length, 12);
    });

    await t.step(
      "a changed key is a mismatch naming both fingerprints and file:line; nothing written",
      async () => {
        const file = `${dir}/changed`;
        const otherLine = (await Deno.readTextFile(`${dir}/other_ed25519.pub`)).trim().split(/\s+/)
          .slice(0, 2).join(" ");
        await Deno.writeTextFile(file, `# pinned\n${name} ${otherLine}\n`);
        const before = await Deno.readTextFile(file);
        // "off" too: a changed key is always a hard error (README's promise).
        for (const policy of ["strict", "accept-new", "off"] as const) {
          const e = await rejects(verifyHostKey(check(file, { policy })), "HostKeyMismatch");
          assert.equal(e.params.expected, fingerprintSha256(other));
          assert.equal(e.params.presented, fingerprintSha256(ed));
          assert.equal(e.params.line, 2);
          assert.equal(e.params.file, file);
          const text = messages.format(e.key, e.params);
          assert.match(text, /has CHANGED/);
          assert.ok(text.includes(`${name}`) && text.includes(`${file}:2`), text);
          assert.ok(messages.has(e.hint!));
        }
        assert.equal(await Deno.readTextFile(file), before);
        // OpenSSH agrees: accept-new refuses a changed key.
        const out = await exec(
          "ssh",
          sshArgs(file, "accept-new", ["-o", "HostKeyAlgorithms=ssh-ed25519"]),
        );
        assert.equal(out.code, 255);
        assert.match(out.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
        // A matching line anywhere (even in a later file) wins over a stale one.
        const good = `${dir}/changed_good`;
        await Deno.writeTextFile(good, await ok("ssh-keyscan", ["-p", String(port), "127.0.0.1"]));
        assert.equal((await verifyHostKey(check([file, good]))).status, "known");
      },
    );

    await t.step("host known only with another key type: unknown, never added", async () => {
      const file = `${dir}/other_type`;
      const ecOnly = (await Deno.readTextFile(plain)).split("\n").filter((l) => l.includes("ecdsa"))
        .join("\n");
      await Deno.writeTextFile(file, ecOnly + "\n");
      for (const policy of ["strict", "accept-new"] as const) {
        const e = await rejects(verifyHostKey(check(file, { policy })), "HostKeyUnknown");
        assert.equal(e.key, "known_hosts.unknown_other_types");
        assert.equal(e.params.known_types, "ecdsa-sha2-nistp256");
      }
      assert.equal(await Deno.readTextFile(file), ecOnly + "\n");
      assert.deepEqual(
        await knownHostKeyTypes({ host: "127.0.0.1", port, knownHostsFiles: [file] }),
        [
          "ecdsa-sha2-nistp256",
        ],
      );
      // What OpenSSH 9.2 does in the same situation: it refuses too (as a changed key).
      const out = await exec(
        "ssh",
        sshArgs(file, "accept-new", ["-o", "HostKeyAlgorithms=ssh-ed25519"]),
      );
      assert.equal(out.code, 255);
      assert.equal(await Deno.readTextFile(file), ecOnly + "\n");
    });

    await t.step("@revoked refuses even when another line lists the key", async () => {
      const file = `${dir}/revoked`;
      const edLine = (await Deno.readTextFile(`${dir}/host_ed25519.pub`)).trim().split(/\s+/).slice(
        0,
        2,
      ).join(" ");
      await Deno.writeTextFile(file, `${name} ${edLine}\n@revoked * ${edLine}\n`);
      for (const policy of ["strict", "accept-new", "off"] as const) {
        const e = await rejects(verifyHostKey(check(file, { policy })), "HostKeyRevoked");
        assert.equal(e.params.line, 2);
        assert.match(messages.format(e.key, e.params), /REVOKED/);
      }
      // Other keys of the host are unaffected.
      await Deno.writeTextFile(file, (await Deno.readTextFile(plain)) + `@revoked * ${edLine}\n`);
      assert.equal((await verifyHostKey(check(file, { keyBlob: ec }))).status, "known");
      const out = await exec("ssh", sshArgs(file, "yes", ["-o", "HostKeyAlgorithms=ssh-ed25519"]));
      assert.equal(out.code, 255);
      assert.match(out.stderr, /REVOKED/);
    });

    await t.step("@cert-authority is unsupported, never a silent accept", async () => {
      const file = `${dir}/ca`;
      const caLine = (await Deno.readTextFile(`${dir}/other_ed25519.pub`)).trim().split(/\s+/)
        .slice(0, 2).join(" ");
      await Deno.writeTextFile(file, `@cert-authority [127.0.0.*]:* ${caLine}\n`);
      for (const policy of ["strict", "accept-new"] as const) {
        const e = await rejects(verifyHostKey(check(file, { policy })), "Unsupported");
        assert.equal(e.key, "known_hosts.cert_authority");
        assert.match(messages.format(e.key, e.params), /not supported yet/);
      }
      assert.equal(await Deno.readTextFile(file), `@cert-authority [127.0.0.*]:* ${caLine}\n`);
      // A CA for other hosts does not get in the way.
      await Deno.writeTextFile(
        file,
        `@cert-authority *.example.com ${caLine}\n` + await Deno.readTextFile(plain),
      );
      assert.equal((await verifyHostKey(check(file))).status, "known");
    });

    await t.step("missing files: strict says unknown with a hint", async () => {
      const missing = `${dir}/nope/known_hosts`;
      const e = await rejects(verifyHostKey(check([missing, `${dir}/nope2`])), "HostKeyUnknown");
      assert.equal(e.key, "known_hosts.unknown");
      assert.equal(e.hint, "known_hosts.hint_unknown");
      const hint = messages.format(e.hint!, e.params);
      assert.ok(hint.includes(`provctl hostkey trust 127.0.0.1:${port}`), hint);
      assert.ok(hint.includes(`ssh-keyscan -H -p ${port} 127.0.0.1 >> ${missing}`), hint);
      assert.ok(messages.format(e.key, e.params).includes(fingerprintSha256(ed)));
      await assert.rejects(Deno.stat(`${dir}/nope`), Deno.errors.NotFound);
    });

    await t.step("garbled lines: skipped for other hosts, an error for this host", async () => {
      const file = `${dir}/garbled`;
      const good = await Deno.readTextFile(plain);
      await Deno.writeTextFile(
        file,
        [
          "justonefield",
          "db1 ssh-ed25519",
          "db2 ssh-ed25519 !!!notbase64!!!",
          "|1|bad|hash ssh-ed25519 AAAA",
          "@bogus db3 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAuV7RrlYdK0emDyXw9aytnJt5mz7bNZSmWDCYH2BK2f",
          good,
        ].join("\n"),
      );
      assert.equal((await verifyHostKey(check(file))).status, "known");
      await Deno.writeTextFile(file, `# x\n${name} ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ\n`);
      const e = await rejects(
        verifyHostKey(check(file, { policy: "accept-new" })),
        "InvalidConfig",
      );
      assert.equal(e.params.line, 2);
      assert.match(messages.format(e.key, e.params), new RegExp(`${file}:2: `));
      assert.equal((await Deno.readTextFile(file)).split("\n").length, 3);
    });

    await t.step(
      "HostKeyAlias is looked up (and recorded) without a port, like ssh does",
      async () => {
        const file = `${dir}/alias`;
        const out = await exec(
          "ssh",
          sshArgs(file, "accept-new", [
            "-o",
            "HostKeyAlias=myalias",
            "-o",
            "HostKeyAlgorithms=ssh-ed25519",
          ]),
        );
        assert.equal(out.code, 0, out.stderr);
        assert.deepEqual(await verifyHostKey(check(file, { hostKeyAlias: "myalias" })), {
          status: "known",
          file,
          line: 1,
        });
        await rejects(verifyHostKey(check(file)), "HostKeyUnknown");
        const added = `${dir}/alias_added`;
        await verifyHostKey(check(added, { hostKeyAlias: "MyAlias2", policy: "accept-new" }));
        assert.deepEqual(await keygenFind("myalias2", added), [1]);
      },
    );

    await t.step(
      "policy off: an unknown host is unverified (nothing written), a known one known",
      async () => {
        assert.deepEqual(await verifyHostKey(check(`${dir}/never`, { policy: "off" })), {
          status: "unverified",
        });
        await assert.rejects(Deno.stat(`${dir}/never`), Deno.errors.NotFound);
        assert.equal((await verifyHostKey(check(plain, { policy: "off" }))).status, "known");
      },
    );

    await t.step(
      "GlobalKnownHostsFile: its keys and @revoked lines count, it is never written",
      async () => {
        const user = `${dir}/g_user`;
        const global = `${dir}/g_global`;
        const edLine = (await Deno.readTextFile(`${dir}/host_ed25519.pub`)).trim().split(/\s+/)
          .slice(0, 2).join(" ");
        // An admin revoked the key for every host: accept-new must not record it.
        await Deno.writeTextFile(global, `@revoked * ${edLine}\n`);
        for (const policy of ["strict", "accept-new", "off"] as const) {
          await rejects(
            verifyHostKey(check(user, { policy, globalKnownHostsFiles: [global] })),
            "HostKeyRevoked",
          );
        }
        await assert.rejects(Deno.stat(user), Deno.errors.NotFound);
        // OpenSSH agrees.
        const out = await exec("ssh", [
          ...sshArgs(user, "accept-new", ["-o", "HostKeyAlgorithms=ssh-ed25519"])
            .map((a) =>
              a === "GlobalKnownHostsFile=/dev/null" ? `GlobalKnownHostsFile=${global}` : a
            ),
        ]);
        assert.notEqual(out.code, 0);
        assert.match(out.stderr, /REVOKED/);
        // A key pinned there is known (and a different one is a changed key), from it.
        await Deno.writeTextFile(global, `${name} ${edLine}\n`);
        assert.deepEqual(
          await verifyHostKey(
            check(user, { policy: "accept-new", globalKnownHostsFiles: [global] }),
          ),
          { status: "known", file: global, line: 1 },
        );
        await rejects(
          verifyHostKey(
            check(user, { policy: "accept-new", keyBlob: other, globalKnownHostsFiles: [global] }),
          ),
          "HostKeyMismatch",
        );
        await assert.rejects(Deno.stat(user), Deno.errors.NotFound);
      },
    );

    await t.step(
      "RevokedHostKeys: a listed key is refused with every policy, as by ssh",
      async () => {
        const user = `${dir}/r_user`;
        const list = `${dir}/revoked_keys`;
        // authorized_keys-like text: comments, another key, then the host's key with a comment.
        await Deno.writeTextFile(
          list,
          `# revoked\n${(await Deno.readTextFile(`${dir}/other_ed25519.pub`)).trim()}\n` +
            (await Deno.readTextFile(`${dir}/host_ed25519.pub`)),
        );
        for (const policy of ["strict", "accept-new", "off"] as const) {
          const e = await rejects(
            verifyHostKey(check(user, { policy, revokedHostKeys: list })),
            "HostKeyRevoked",
          );
          assert.equal(e.params.file, list);
          assert.equal(e.params.line, 3);
        }
        await assert.rejects(Deno.stat(user), Deno.errors.NotFound);
        const out = await exec("ssh", [
          "-o",
          `RevokedHostKeys=${list}`,
          ...sshArgs(user, "accept-new", ["-o", "HostKeyAlgorithms=ssh-ed25519"]),
        ]);
        assert.notEqual(out.code, 0);
        assert.match(out.stderr, /revoked/i);
        await assert.rejects(Deno.stat(user), Deno.errors.NotFound);
        // Another host key (ecdsa) is not listed: accept-new records it.
        assert.equal(
          (await verifyHostKey(
            check(user, { policy: "accept-new", keyBlob: ec, revokedHostKeys: list }),
          )).status,
          "added",
        );
        // A list that cannot be read refuses every key, as ssh does.
        const missing = await rejects(
          verifyHostKey(check(user, { keyBlob: ec, revokedHostKeys: `${dir}/nope` })),
          "InvalidConfig",
        );
        assert.equal(missing.key, "known_hosts.revoked_list_unreadable");
        // A binary KRL (made by ssh-keygen -k) is refused as unsupported, never skipped.
        await ok("ssh-keygen", ["-q", "-k", "-f", `${dir}/krl`, `${dir}/other_ed25519.pub`]);
        const krl = await rejects(
          verifyHostKey(check(user, { keyBlob: ec, revokedHostKeys: `${dir}/krl` })),
          "Unsupported",
        );
        assert.equal(krl.key, "known_hosts.revoked_list_krl");
        assert.ok(messages.has(krl.key) && messages.has(missing.key));
      },
    );

    await t.step("an unreadable known_hosts path is an InvalidConfig error", async () => {
      await Deno.mkdir(`${dir}/adir`);
      const e = await rejects(verifyHostKey(check(`${dir}/adir`)), "InvalidConfig");
      assert.equal(e.key, "known_hosts.unreadable");
    });
  } finally {
    if (sshd) {
      try {
        sshd.kill("SIGTERM");
      } catch { /* already gone */ }
      await sshd.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("accept-new through a dangling known_hosts symlink creates its target", async () => {
  // A dotfiles-managed ~/.ssh/known_hosts often links to a file not written yet; ssh's
  // append creates it. provctl used to spin forever (the lock could neither open nor
  // create the link's own path).
  const dir = await Deno.makeTempDir({ prefix: "provctl-kh-link-" });
  try {
    await ok("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/host`]);
    const blob = await blobOf(`${dir}/host.pub`);
    await Deno.mkdir(`${dir}/dotfiles`);
    await Deno.symlink("dotfiles/known_hosts", `${dir}/known_hosts`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const verdict = await Promise.race([
      verifyHostKey({
        host: "127.0.0.1",
        port: 2222,
        keyBlob: blob,
        knownHostsFiles: [`${dir}/known_hosts`],
        policy: "accept-new",
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("accept-new hung on the symlink")), 5_000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.deepEqual(verdict, { status: "added", file: `${dir}/known_hosts` });
    assert.ok((await Deno.lstat(`${dir}/known_hosts`)).isSymlink, "the link is kept");
    assert.deepEqual(await keygenFind("[127.0.0.1]:2222", `${dir}/dotfiles/known_hosts`), [1]);
    assert.equal((await Deno.stat(`${dir}/dotfiles/known_hosts`)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("appendKnownHost appends in place like OpenSSH: inode, hard link, owner kept", async () => {
  // It used to rename a rewritten copy over the file: a new inode, so a hard link kept
  // the old content.
  const dir = await Deno.makeTempDir({ prefix: "provctl-kh-inode-" });
  try {
    await ok("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/host`]);
    const blob = await blobOf(`${dir}/host.pub`);
    const file = `${dir}/known_hosts`;
    await Deno.writeTextFile(file, "# kept\n");
    await Deno.chmod(file, 0o640);
    await Deno.link(file, `${dir}/linked`);
    const other = otherUser();
    if (typeof other !== "string") await Deno.chown(file, other.uid, other.gid);
    const before = await Deno.stat(file);
    await appendKnownHost(file, "10.1.0.1", 2222, blob);
    const after = await Deno.stat(file);
    assert.equal(after.ino, before.ino, "the same file, not a replacement");
    assert.equal(after.nlink, 2);
    assert.equal(after.mode! & 0o777, 0o640);
    // Appending never chowns: as root, another user's file stays theirs.
    assert.deepEqual([after.uid, after.gid], [before.uid, before.gid]);
    const text = await Deno.readTextFile(file);
    assert.match(text, /^# kept\n\|1\|\S+ ssh-ed25519 \S+\n$/);
    assert.equal(await Deno.readTextFile(`${dir}/linked`), text);
    assert.deepEqual(await keygenFind("[10.1.0.1]:2222", `${dir}/linked`), [2]);
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names.sort(), ["host", "host.pub", "known_hosts", "linked"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("appendKnownHost loses no line another program appends meanwhile", async () => {
  // ssh (accept-new) and `ssh-keyscan >> known_hosts` take no lock. A dash loop appends
  // lines as they do (O_APPEND, one write per line) while provctl adds hosts, some of
  // them concurrently; every line of both must survive, exactly once. The old
  // read-then-rename lost the lines appended between its read and its rename.
  const dir = await Deno.makeTempDir({ prefix: "provctl-kh-race-" });
  try {
    await ok("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/host`]);
    const blob = await blobOf(`${dir}/host.pub`);
    const pub = (await Deno.readTextFile(`${dir}/host.pub`)).trim().split(/\s+/).slice(0, 2)
      .join(" ");
    const file = `${dir}/known_hosts`;
    const stop = `${dir}/stop`;
    const loop = new Deno.Command("/bin/sh", {
      args: [
        "-c",
        // A few hundred lines a second (sleep is a process), never more than 20000.
        'i=0; while [ ! -e "$2" ] && [ $i -lt 20000 ]; do echo "ext-$i $3" >> "$1"; ' +
        'i=$((i+1)); sleep 0.001; done; echo "$i"',
        "sh",
        file,
        stop,
        pub,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let appended = 0;
    try {
      while ((await Deno.readTextFile(file).catch(() => "")) === "") {
        await new Promise((r) => setTimeout(r, 5));
      }
      for (let round = 0; round < 10; round++) {
        await Promise.all(
          Array.from({ length: 4 }, (_, i) => {
            appended++;
            return appendKnownHost(file, `10.2.${round}.${i}`, 22, blob);
          }),
        );
      }
    } finally {
      await Deno.writeTextFile(stop, "");
    }
    const out = await loop.output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const external = Number(new TextDecoder().decode(out.stdout).trim());
    const lines = (await Deno.readTextFile(file)).split("\n");
    assert.equal(lines.pop(), "", "ends with a newline");
    const ext = lines.filter((l) => l.startsWith("ext-"));
    assert.deepEqual(ext, Array.from({ length: external }, (_, i) => `ext-${i} ${pub}`));
    const ours = lines.filter((l) => !l.startsWith("ext-"));
    assert.equal(ours.length, appended);
    for (const line of ours) assert.match(line, /^\|1\|\S+ ssh-ed25519 \S+$/);
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 4; i++) {
        assert.equal((await keygenFind(`10.2.${round}.${i}`, file)).length, 1);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("appendKnownHost from several processes at once: each host once, none lost", async () => {
  // provctl runs (a fleet command, `hostkey trust`) share the advisory lock on the file.
  const dir = await Deno.makeTempDir({ prefix: "provctl-kh-procs-" });
  try {
    await ok("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/host`]);
    const blob = await blobOf(`${dir}/host.pub`);
    const file = `${dir}/.ssh/known_hosts`;
    const shared = Array.from({ length: 16 }, (_, i) => `shared${i}.example`);
    const children = [0, 1, 2].map((p) =>
      appendInChild(file, [...shared, `own${p}.example`], blob, `${dir}/deno`, undefined, {
        ready: `${dir}/ready${p}`,
        go: `${dir}/go`,
      })
    );
    for (let p = 0; p < 3; p++) {
      while (!(await Deno.stat(`${dir}/ready${p}`).catch(() => false))) {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    await Deno.writeTextFile(`${dir}/go`, "");
    const results = await Promise.all(children);
    for (const r of results) assert.deepEqual(r, Array(17).fill("ok"));
    const lines = (await Deno.readTextFile(file)).split("\n");
    assert.equal(lines.pop(), "");
    assert.equal(lines.length, 19);
    for (const host of [...shared, "own0.example", "own1.example", "own2.example"]) {
      assert.equal((await keygenFind(host, file)).length, 1, host);
    }
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/.ssh`)).mode! & 0o777, 0o700);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("appendKnownHost as an unprivileged user: read-only directory and file", async () => {
  // Run in a child as another user when the tests run as root (root may write anywhere).
  const other = otherUser();
  const asOther = Deno.uid() === 0;
  if (asOther && typeof other === "string") throw new Error(`no second user: ${other}`);
  const dir = await Deno.makeTempDir({ prefix: "provctl-kh-ro-" });
  try {
    await Deno.chmod(dir, 0o755);
    await ok("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/host`]);
    const blob = await blobOf(`${dir}/host.pub`);
    const owned = async (path: string, mode: number) => {
      if (asOther && typeof other !== "string") await Deno.chown(path, other.uid, other.gid);
      await Deno.chmod(path, mode);
    };
    const user = asOther && typeof other !== "string" ? other : undefined;
    const append = async (file: string, host: string) =>
      (await appendInChild(file, [host], blob, `${dir}/deno`, user))[0];
    await Deno.mkdir(`${dir}/deno`);
    await owned(`${dir}/deno`, 0o700);

    // A read-only directory (a managed ~/.ssh) with a writable file: ssh appends there,
    // and so does provctl now (it could not create its temp file there before).
    await Deno.mkdir(`${dir}/ro`);
    await Deno.writeTextFile(`${dir}/ro/known_hosts`, "# mine\n");
    await owned(`${dir}/ro/known_hosts`, 0o600);
    await owned(`${dir}/ro`, 0o500);
    assert.equal(await append(`${dir}/ro/known_hosts`, "ro.example"), "ok");
    assert.deepEqual(await keygenFind("ro.example", `${dir}/ro/known_hosts`), [2]);
    // ...but a missing file cannot be created there.
    assert.equal(
      await append(`${dir}/ro/missing`, "ro.example"),
      "PermissionDenied known_hosts.write_failed",
    );

    // A read-only file in a writable directory is refused, as ssh refuses it, and kept
    // as it was (it used to be replaced by a rewritten copy).
    await Deno.mkdir(`${dir}/rw`);
    await owned(`${dir}/rw`, 0o700);
    const locked = `${dir}/rw/known_hosts`;
    await Deno.writeTextFile(locked, "# pinned\n");
    await owned(locked, 0o400);
    assert.equal(await append(locked, "rw.example"), "PermissionDenied known_hosts.write_failed");
    assert.equal(await Deno.readTextFile(locked), "# pinned\n");
    assert.equal((await Deno.stat(locked)).mode! & 0o777, 0o400);
    // A key it already records is no error: nothing needs writing.
    await Deno.chmod(locked, 0o600);
    assert.equal(await append(locked, "rw.example"), "ok");
    await Deno.chmod(locked, 0o400);
    assert.equal(await append(locked, "rw.example"), "ok");
    assert.deepEqual(await keygenFind("rw.example", locked), [2]);
  } finally {
    await Deno.chmod(`${dir}/ro`, 0o700).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Runs appendKnownHost(file, host, 22, blob) for all hosts at once in a child Deno
 * process (as `user`, through setpriv, when given); per host "ok" or "Kind key".
 */
async function appendInChild(
  file: string,
  hosts: string[],
  blob: Uint8Array,
  denoDir: string,
  user?: { uid: number; gid: number },
  start?: { ready: string; go: string },
): Promise<string[]> {
  // Another user may not be able to read the checkout (CI's may live under a private
  // home): that child imports a bundle of the module written where it can read it.
  const module = user
    ? await bundledKnownHosts(dirname(denoDir))
    : new URL("../../src/ssh/known_hosts.ts", import.meta.url).href;
  // With `start`, the child says it is ready, then waits for go so children overlap.
  const barrier = start
    ? `await Deno.writeTextFile(${JSON.stringify(start.ready)}, "");
      while (!(await Deno.stat(${JSON.stringify(start.go)}).catch(() => false))) {
        await new Promise((r) => setTimeout(r, 1));
      }`
    : "";
  const code = `const { appendKnownHost } = await import(${JSON.stringify(module)});
    ${barrier}
    const blob = Uint8Array.from(atob(${JSON.stringify(btoa(String.fromCharCode(...blob)))}),
      (c) => c.charCodeAt(0));
    const results = await Promise.all(${JSON.stringify(hosts)}.map((host) =>
      appendKnownHost(${JSON.stringify(file)}, host, 22, blob).then(() => "ok",
        (e) => e.kind + " " + e.key)));
    console.log(results.join("\\n"));`;
  const deno = ["eval", "--no-config", code];
  const out = user
    ? await exec(
      "setpriv",
      [`--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", Deno.execPath(), ...deno],
      { DENO_DIR: denoDir, HOME: dirname(denoDir) },
    )
    : await exec(Deno.execPath(), deno, { DENO_DIR: denoDir });
  assert.equal(out.code, 0, out.stderr);
  return out.stdout.trim().split("\n");
}

/** src/ssh/known_hosts.ts bundled into `dir` (readable by all); its file URL. */
async function bundledKnownHosts(dir: string): Promise<string> {
  const out = `${dir}/known_hosts.bundle.js`;
  const built = await exec(Deno.execPath(), [
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    "-o",
    out,
    new URL("../../src/ssh/known_hosts.ts", import.meta.url).pathname,
  ]);
  assert.equal(built.code, 0, built.stderr);
  await Deno.chmod(out, 0o644);
  return new URL(`file://${out}`).href;
}

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
