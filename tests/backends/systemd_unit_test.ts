import assert from "node:assert/strict";
import { isProvctlError } from "../../src/core/errors.ts";
import { defineService } from "../../src/core/service_definition.ts";
import { parseServiceName, type ServiceName } from "../../src/core/service_name.ts";
import {
  isManagedUnit,
  quoteEnvironment,
  quoteExecArg,
  renderUnit,
  unitNameOf,
} from "../../src/backends/systemd_unit.ts";

const GOLDEN = new URL("./fixtures/systemd/api.service", import.meta.url);

Deno.test("renderUnit matches the golden unit file", async () => {
  const def = defineService(parseServiceName("api"))
    .binary("/usr/bin/node")
    .args(["server.js", "--port", "8080", "--greeting", 'hello "world" $HOME 100%'])
    .env("NODE_ENV", "production")
    .env("MOTD", "two words\tand a tab")
    .envFile("/etc/api/env")
    .workingDir("/srv/api 2")
    .user("www-data")
    .stopSignal("SIGINT")
    .stopTimeoutMs(15_000)
    .restartPolicy("on-failure")
    .description("API server (50% of the fleet)")
    .build();
  const expected = await Deno.readTextFile(GOLDEN);
  assert.equal(renderUnit(def, { scope: "system" }), expected);
});

Deno.test("quoteExecArg escapes quotes, backslashes, $, % and control characters", () => {
  assert.equal(quoteExecArg("plain"), '"plain"');
  assert.equal(quoteExecArg(""), '""');
  assert.equal(quoteExecArg('a "b"'), '"a \\"b\\""');
  assert.equal(quoteExecArg("$HOME"), '"$$HOME"');
  assert.equal(quoteExecArg("50%n"), '"50%%n"');
  assert.equal(quoteExecArg("back\\slash"), '"back\\\\slash"');
  assert.equal(quoteExecArg("line\nbreak\ttab\x01"), '"line\\nbreak\\ttab\\x01"');
  assert.equal(quoteExecArg(";"), '";"');
  assert.equal(quoteExecArg("it's"), '"it\'s"');
});

Deno.test("quoteEnvironment keeps $ literal (no expansion in Environment=) but escapes %", () => {
  assert.equal(quoteEnvironment("K", 'a $b "c" 5%'), '"K=a $b \\"c\\" 5%%"');
});

Deno.test("the marker decides what provctl may overwrite", () => {
  const def = defineService(parseServiceName("w")).binary("/bin/true").build();
  assert.equal(isManagedUnit(renderUnit(def, { scope: "user" })), true);
  assert.equal(isManagedUnit("[Service]\nExecStart=/bin/true\n"), false);
  assert.match(renderUnit(def, { scope: "user" }), /WantedBy=default\.target/);
  assert.match(renderUnit(def, { scope: "system" }), /WantedBy=multi-user\.target/);
});

Deno.test("renderUnit refuses values a unit file cannot hold", () => {
  const base = () => defineService(parseServiceName("w")).binary("/bin/true");
  const refused = (fn: () => unknown, key: string) =>
    assert.throws(fn, (e: unknown) => isProvctlError(e, "InvalidArgument") && e.key === key);
  refused(() => renderUnit(base().arg("a\0b").build(), { scope: "system" }), "systemd.value_nul");
  refused(
    () => renderUnit(base().workingDir("relative/dir").build(), { scope: "system" }),
    "systemd.path_not_absolute",
  );
  refused(
    () => renderUnit(base().workingDir("/a\nb").build(), { scope: "system" }),
    "systemd.value_bad_char",
  );
  refused(
    () => renderUnit(base().envFile("/a/b ").build(), { scope: "system" }),
    "systemd.value_bad_char",
  );
  refused(
    () => renderUnit(base().user("bad user").build(), { scope: "system" }),
    "systemd.user_invalid",
  );
  refused(
    () =>
      renderUnit(defineService(parseServiceName("w")).binary("bin/x").build(), { scope: "system" }),
    "systemd.path_not_absolute",
  );
  // Zero stop timeout means "kill at once", not systemd's "wait forever".
  assert.match(
    renderUnit(base().stopTimeoutMs(0).build(), { scope: "system" }),
    /TimeoutStopSec=1ms/,
  );
});

Deno.test("unitNameOf refuses names systemd reads as templates, and unchecked strings", () => {
  assert.equal(unitNameOf(parseServiceName("worker@1")), "worker@1.service");
  for (const bad of ["a@b@c", "@a", "a@", "../etc/passwd", "a b"]) {
    assert.throws(
      () => unitNameOf(bad as ServiceName),
      (e: unknown) => isProvctlError(e, "InvalidName"),
      bad,
    );
  }
});
