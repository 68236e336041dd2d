/**
 * Plist output checked two ways: byte for byte against a golden file, and by parsing it
 * with a real plist parser (Python's plistlib) and comparing the values.
 */
import assert from "node:assert/strict";
import {
  isManagedPlist,
  keepsAlive,
  labelOf,
  renderPlist,
  runAtLoadOf,
  withRunAtLoad,
} from "../../src/backends/launchd_plist.ts";
import { isProvctlError } from "../../src/core/errors.ts";
import { defineService } from "../../src/core/service_definition.ts";
import { parseServiceName, type ServiceName } from "../../src/core/service_name.ts";

const FIXTURES = new URL("./fixtures/launchd/", import.meta.url);

/** Parses plist text with Python's plistlib; returns the value as JSON-compatible data. */
async function plistlib(text: string): Promise<unknown> {
  const out = await new Deno.Command("python3", {
    args: [
      "-c",
      "import plistlib,sys,json; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = out.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const result = await out.output();
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  return JSON.parse(new TextDecoder().decode(result.stdout));
}

const apiDef = () =>
  defineService(parseServiceName("api"))
    .binary("/usr/local/bin/node")
    .args(["server.js", "--title", '<Tom & Jerry\'s "show">'])
    .env("NODE_ENV", "production")
    .workingDir("/Users/me/api")
    .stopTimeoutMs(15_500)
    .restartPolicy("on-failure")
    .description("API server")
    .build();

Deno.test("renderPlist matches the golden file and plistlib reads the expected values", async () => {
  const text = renderPlist(apiDef(), {
    label: labelOf("local.provctl", apiDef().name),
    logPath: "/Users/me/Library/Logs/provctl/api.log",
    system: false,
    runAtLoad: true,
  });
  assert.equal(text, await Deno.readTextFile(new URL("api.plist", FIXTURES)));
  const expected = JSON.parse(await Deno.readTextFile(new URL("api.json", FIXTURES)));
  assert.deepEqual(await plistlib(text), expected);
  assert.equal(isManagedPlist(text), true);
});

Deno.test("every hostile string survives the XML round trip exactly", async () => {
  const hostile = [
    "a & b",
    "<tag>",
    "]]>",
    `"double" 'single'`,
    "$HOME %n \\back",
    "line\nbreak\ttab",
    "carriage\rreturn",
    "unicode é ✓ 𝄞",
    "",
    "   spaces   ",
  ];
  const def = defineService(parseServiceName("h")).binary("/bin/echo").args(hostile).env(
    "V",
    hostile.join("|"),
  )
    .restartPolicy("always").build();
  const parsed = await plistlib(
    renderPlist(def, { label: "local.provctl.h", logPath: "/tmp/h.log", system: false }),
  );
  const dict = parsed as Record<string, unknown>;
  assert.deepEqual(dict.ProgramArguments, ["/bin/echo", ...hostile]);
  assert.deepEqual(dict.EnvironmentVariables, { V: hostile.join("|") });
  assert.equal(dict.KeepAlive, true);
  assert.equal(dict.ExitTimeOut, 10);
});

Deno.test("restart policy no gives KeepAlive false; UserName only for system daemons", async () => {
  const base = defineService(parseServiceName("d")).binary("/bin/true").user("_www");
  const daemon = await plistlib(
    renderPlist(base.build(), { label: "com.example.d", logPath: "/var/log/d.log", system: true }),
  ) as Record<string, unknown>;
  assert.equal(daemon.KeepAlive, false);
  assert.equal(daemon.UserName, "_www");
  // Not started at boot unless enabled (provctl enable sets RunAtLoad).
  assert.equal(daemon.RunAtLoad, false);
  assert.throws(
    () =>
      renderPlist(base.build(), { label: "com.example.d", logPath: "/tmp/d.log", system: false }),
    (e: unknown) => isProvctlError(e, "InvalidArgument") && e.key === "launchd.user_needs_system",
  );
});

Deno.test("RunAtLoad is read and rewritten in place; KeepAlive is recognised", () => {
  const def = defineService(parseServiceName("b")).binary("/bin/true").build();
  const opts = { label: "local.provctl.b", logPath: "/tmp/b.log", system: false };
  const off = renderPlist(def, opts);
  assert.equal(runAtLoadOf(off), false);
  const on = withRunAtLoad(off, true);
  assert.equal(runAtLoadOf(on), true);
  assert.equal(on, renderPlist(def, { ...opts, runAtLoad: true }));
  assert.equal(withRunAtLoad(on, false), off);
  assert.equal(keepsAlive(off), false);
  const always = defineService(parseServiceName("b")).binary("/bin/true").restartPolicy("always");
  assert.equal(keepsAlive(renderPlist(always.build(), opts)), true);
  const onFailure = defineService(parseServiceName("b")).binary("/bin/true")
    .restartPolicy("on-failure");
  assert.equal(keepsAlive(renderPlist(onFailure.build(), opts)), true);
});

Deno.test("values a plist cannot carry are refused", () => {
  const refused = (build: () => unknown, key: string) =>
    assert.throws(build, (e: unknown) => isProvctlError(e) && e.key === key);
  const opts = { label: "local.provctl.x", logPath: "/tmp/x.log", system: false };
  const base = () => defineService(parseServiceName("x")).binary("/bin/true");
  refused(() => renderPlist(base().arg("nul\0").build(), opts), "launchd.value_nul");
  refused(() => renderPlist(base().arg("bell\x07").build(), opts), "launchd.value_bad_char");
  refused(
    () => renderPlist(base().envFile("/etc/x.env").build(), opts),
    "launchd.env_file_unsupported",
  );
  refused(() => renderPlist(base().workingDir("rel").build(), opts), "launchd.path_not_absolute");
  refused(() => labelOf("bad prefix", parseServiceName("x")), "launchd.label_prefix_invalid");
  refused(() => labelOf("local.provctl", "../x" as ServiceName), "errors.name_bad_char");
});
