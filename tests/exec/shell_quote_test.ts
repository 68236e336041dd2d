import assert from "node:assert/strict";
import { isProvctlError } from "../../src/core/errors.ts";
import { remoteCommand, remoteShellCommand, shellQuote } from "../../src/exec/shell_quote.ts";

const HOSTILE = [
  "; rm -rf /",
  "$(id)",
  "`id`",
  "'",
  "''",
  "it's",
  '"',
  "\\",
  "\n",
  "a\nb",
  "",
  " ",
  "ünïcödé ✓",
  "*",
  "?",
  "[a]",
  "~",
  "~root",
  "$HOME",
  "${HOME}",
  "!",
  "!!",
  "#",
  "a#b",
  "&",
  "|",
  ">",
  "<",
  "(",
  "{a,b}",
  "=x",
  "-n",
  "\t",
  "\x1b[31m",
];

/** The local POSIX shells to parse quoted commands with (sshd runs the login shell). */
const SHELLS = ["/bin/sh", "/bin/bash", "/bin/dash", "/usr/bin/zsh", "/bin/ksh"].filter((s) => {
  try {
    return Deno.statSync(s).isFile;
  } catch {
    return false;
  }
});

async function runIn(shell: string, command: string): Promise<{ code: number; stdout: string }> {
  const out = await new Deno.Command(shell, {
    args: ["-c", command],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

Deno.test("shellQuote: plain words stay readable, the rest is single-quoted", () => {
  assert.equal(shellQuote("abc-1.2_x/y:z@w,v+u%"), "abc-1.2_x/y:z@w,v+u%");
  assert.equal(shellQuote(""), "''");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
  assert.equal(shellQuote("=x"), "'=x'");
  assert.equal(shellQuote("$(id)"), "'$(id)'");
});

Deno.test("shellQuote: a NUL byte cannot be passed and says so", () => {
  assert.throws(
    () => shellQuote("a\0b"),
    (e) => isProvctlError(e, "InvalidArgument") && e.key === "ssh.arg_has_nul",
  );
});

Deno.test("remoteCommand round-trips hostile arguments byte-exact in every local shell", async () => {
  assert.ok(SHELLS.length > 0);
  for (const shell of SHELLS) {
    const result = await runIn(shell, remoteCommand("printf", ["%s\\n", ...HOSTILE]));
    assert.equal(result.code, 0, shell);
    assert.equal(result.stdout, HOSTILE.map((a) => `${a}\n`).join(""), shell);
  }
});

Deno.test("remoteCommand: env through env(1), cwd through cd, all quoted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl q 'dir' $(x) " });
  try {
    const command = remoteCommand("sh", ["-c", 'printf "%s|%s|%s" "$A" "$B" "$PWD"'], {
      env: { A: "$(id) `id` 'x'", B: "" },
      cwd: dir,
    });
    assert.match(command, /^cd '.*' && exec env 'A=/);
    for (const shell of SHELLS) {
      const result = await runIn(shell, command);
      assert.equal(result.stdout, `$(id) \`id\` 'x'||${dir}`, shell);
    }
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("remoteCommand rejects what cannot be expressed safely", () => {
  const rejects = (f: () => unknown, key: string) =>
    assert.throws(f, (e) => isProvctlError(e) && e.key === key);
  rejects(() => remoteCommand("", []), "ssh.program_empty");
  rejects(() => remoteCommand("a=b", [], { env: { X: "1" } }), "ssh.program_has_equals");
  rejects(() => remoteCommand("true", [], { env: { "BAD-KEY": "1" } }), "errors.env_key_invalid");
  rejects(() => remoteCommand("true", [], { env: { "A;id": "1" } }), "errors.env_key_invalid");
  rejects(() => remoteCommand("true", [], { cwd: "" }), "ssh.cwd_empty");
  // Without env a program name with '=' is fine (quoted, not an assignment).
  assert.equal(remoteCommand("a=b", []), "exec 'a=b'");
});

Deno.test("remoteShellCommand keeps the script verbatim; cd failure stops it", async () => {
  const script = "echo one | tr o 0; false || echo $GREETING";
  const command = remoteShellCommand(script, { env: { GREETING: "hi 'there'" } });
  assert.ok(command.endsWith(script));
  assert.equal((await runIn("/bin/sh", command)).stdout, "0ne\nhi 'there'\n");
  const failing = await runIn(
    "/bin/sh",
    remoteShellCommand("false || echo ran", { cwd: "/nonexistent" }),
  );
  assert.deepEqual([failing.code, failing.stdout], [1, ""]);
});
