/**
 * expandShellTemplate against real shells (dash, bash, busybox sh): hostile values in
 * every quoting context arrive as exactly their text, and nothing they contain runs.
 */
import assert from "node:assert/strict";
import { expandShellTemplate } from "../../src/exec/shell_template.ts";
import { isProvctlError } from "../../src/core/errors.ts";

const HOSTILE = [
  "18001;touch {marker}",
  "$(touch {marker})",
  "`touch {marker}`",
  "a'b\"c",
  "x'; touch {marker}; echo '",
  'x"; touch {marker}; echo "',
  "line1\ntouch {marker}\n",
  "line1\ntouch {marker} #",
  "\\",
  "$HOME ${HOME} * ? [a]",
  "",
  "-n",
];

const SHELLS = [["/bin/dash"], ["/bin/bash"], ["/bin/busybox", "sh"]].filter(([p]) => {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
});

/** Templates that print the value with a marker before and after: `XvalueY`. */
const TEMPLATES = [
  "printf '%s' X{v}Y",
  'printf "%s" "X{v}Y"',
  "printf '%s' 'X{v}Y'",
  "printf '%s' \"$(printf '%s' X{v}Y)\"",
  "printf '%s' $(printf '%s' {v} | od -An -c | tr -d ' \\n' | head -c0)X{v}Y",
  "printf '%s' \"`printf '%s' X{v}Y`\"",
  "x=$(case a in a) printf '%s' X{v}Y;; esac); printf '%s' \"$x\"",
  "# a comment {v}\nprintf '%s' X{v}Y",
  "printf '%s' $((1 + 1)) >/dev/null; printf '%s' X{v}Y",
];

/** The message key of what `fn` throws (it must throw a ProvctlError). */
function thrownKey(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isProvctlError(e), String(e));
    return e.key;
  }
  assert.fail("expected an error");
}

async function run(shell: string[], script: string, cwd: string) {
  const out = await new Deno.Command(shell[0], {
    args: [...shell.slice(1), "-c", script],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

for (const shell of SHELLS) {
  Deno.test(`expandShellTemplate: hostile values arrive literally (${shell.join(" ")})`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      for (const template of TEMPLATES) {
        for (const raw of HOSTILE) {
          const marker = `${dir}/pwned`;
          const value = raw.replaceAll("{marker}", marker);
          const script = expandShellTemplate(template, () => value);
          const { stdout } = await run(shell, script, dir);
          let exists = true;
          try {
            await Deno.stat(marker);
          } catch {
            exists = false;
          }
          assert.ok(!exists, `injection with ${JSON.stringify(value)} in ${template}: ${script}`);
          // $(...) strips trailing newlines: compare the text before them.
          const trim = (text: string) => text.replace(/\n+Y$/, "Y");
          assert.equal(trim(stdout), trim(`X${value}Y`), `${template} -> ${script}`);
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("expandShellTemplate: {raw:x}, {{x}} and ${x} are not quoted", () => {
  const v = () => "a b;c";
  assert.equal(expandShellTemplate("echo {raw:x}", v), "echo a b;c");
  assert.equal(expandShellTemplate("echo {{x}} ${x} $x", v), "echo {x} ${x} $x");
  assert.equal(expandShellTemplate("echo {x}", v), "echo 'a b;c'");
  assert.equal(expandShellTemplate('echo "{x}"', v), `echo ""'a b;c'""`);
  assert.equal(expandShellTemplate("echo '{x}'", () => "it's"), "echo 'it'\\''s'");
  assert.equal(expandShellTemplate("awk '{print $1}'", v), "awk '{print $1}'");
});

Deno.test("expandShellTemplate: here-documents take plain words or refuse", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = expandShellTemplate(
      "cat <<EOF\nport={v}\nEOF\ncat <<-'X'\n\tq={v}\n\tX",
      () => "18001",
    );
    assert.equal((await run(["/bin/dash"], script, dir)).stdout, "port=18001\nq=18001\n");
    for (const value of ["$(touch x)", "a\nEOF\ntouch x", "`id`", "a b"]) {
      assert.equal(
        thrownKey(() => expandShellTemplate("cat <<EOF\n{v}\nEOF", () => value)),
        "inventory.placeholder_heredoc",
      );
    }
    // A delimiter provctl cannot read: the rest counts as a body, so values are checked.
    assert.equal(
      thrownKey(() => expandShellTemplate('cat <<"$d"\n{v}\n', () => "a;b")),
      "inventory.placeholder_heredoc",
    );
    // A quoted here-document expands nothing: only a line break is refused.
    assert.equal(expandShellTemplate("cat <<'E'\n{v}\nE", () => "$(x)"), "cat <<'E'\n$(x)\nE");
    assert.equal(
      thrownKey(() => expandShellTemplate("cat <<'E'\n{v}\nE", () => "a\nE\nid")),
      "inventory.placeholder_heredoc",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("expandShellTemplate: inside ${...} only plain words, whatever the quoting", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (
      const template of [
        'printf %s "${u:-X{v}Y}"',
        "printf %s ${u:-X{v}Y}",
        `printf %s "\${u:-"X{v}Y"}"`,
      ]
    ) {
      const script = expandShellTemplate(template, () => "p-1.2");
      for (const shell of SHELLS) assert.equal((await run(shell, script, dir)).stdout, "Xp-1.2Y");
      for (const value of ["a'$(id)'b", "a}b", "a b", "`id`", 'a"b']) {
        assert.equal(
          thrownKey(() => expandShellTemplate(template, () => value)),
          "inventory.placeholder_param",
          `${template} with ${value}`,
        );
      }
    }
    // In $((...)) quotes do not protect: only plain words.
    assert.equal(
      thrownKey(() => expandShellTemplate("echo $(( {v} + 1 ))", () => "1 + $(id)")),
      "inventory.placeholder_param",
    );
    assert.equal(
      expandShellTemplate("echo $(( {v} + 1 )) {v}", () => "41"),
      "echo $(( 41 + 1 )) 41",
    );
    assert.equal(expandShellTemplate("echo $(( (1) )) {v}", () => "a b"), "echo $(( (1) )) 'a b'");
    // After the expansion, quoting is followed as before.
    assert.equal(expandShellTemplate('echo "${u:-x}" {v}', () => "a b"), `echo "\${u:-x}" 'a b'`);
    assert.equal(expandShellTemplate('echo "${u:-\'}" {v}', () => "a b"), `echo "\${u:-'}" 'a b'`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
