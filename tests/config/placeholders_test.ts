import assert from "node:assert/strict";
import { ProvctlError } from "../../src/core/errors.ts";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";
import { environmentVars, expandTemplate, scanTemplate } from "../../src/config/placeholders.ts";

const catalog = new Messages(embeddedMessages());

function rejects(fn: () => unknown, key: string): string {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ProvctlError, `expected a ProvctlError, got ${caught}`);
  assert.equal(caught.kind, "InvalidConfig");
  assert.equal(caught.key, key);
  return catalog.format(caught.key, caught.params);
}

const vars = { home: "/home/a", tmp: "/tmp", state_dir: "/s", service_name: "web" };

Deno.test("expandTemplate replaces every placeholder, repeated ones too", () => {
  assert.equal(expandTemplate("{state_dir}/run/{service_name}.pid", vars), "/s/run/web.pid");
  assert.equal(expandTemplate("{home}/{service_name}/{service_name}", vars), "/home/a/web/web");
  assert.equal(expandTemplate("/plain/path", vars), "/plain/path");
  assert.equal(expandTemplate("{x}", { x: "" }), "");
  // Values are not expanded again.
  assert.equal(expandTemplate("{a}", { a: "{b}", b: "no" }), "{b}");
  // Any name passed in vars is a placeholder.
  assert.equal(expandTemplate("{host}:{port}", { host: "h", port: "22" }), "h:22");
});

Deno.test("expandTemplate: an unknown placeholder is an error naming it and the allowed ones", () => {
  assert.equal(
    rejects(() => expandTemplate("{state_dir}/{name}.pid", vars), "config.unknown_placeholder"),
    'unknown placeholder {name} in "{state_dir}/{name}.pid"; allowed: {home}, {tmp}, {state_dir}, {service_name}',
  );
  rejects(() => expandTemplate("{HOME}/x", vars), "config.unknown_placeholder");
  rejects(() => expandTemplate("{}/x", vars), "config.unknown_placeholder");
  rejects(() => expandTemplate("{toString}", vars), "config.unknown_placeholder");
});

Deno.test("expandTemplate: unmatched braces and placeholders without a value are errors", () => {
  assert.equal(
    rejects(() => expandTemplate("{home/x", vars), "config.template_brace"),
    'unmatched brace in "{home/x"; placeholders are a name in braces, like {home}',
  );
  rejects(() => expandTemplate("a}b", vars), "config.template_brace");
  rejects(() => expandTemplate("{{home}}", vars), "config.template_brace");
  assert.equal(
    rejects(() => expandTemplate("{home}/x", { home: undefined }), "config.placeholder_unset"),
    'cannot expand {home} in "{home}/x": it has no value here (is HOME set?)',
  );
});

Deno.test("scanTemplate lists names and detects stray braces", () => {
  assert.deepEqual(scanTemplate("{a}/{b}/{a}"), { names: ["a", "b", "a"], strayBrace: false });
  assert.deepEqual(scanTemplate("x{"), { names: [], strayBrace: true });
  assert.deepEqual(scanTemplate("plain"), { names: [], strayBrace: false });
});

Deno.test("environmentVars: HOME, TMPDIR, XDG_STATE_HOME with fallbacks", () => {
  assert.deepEqual(environmentVars({ HOME: "/h" }), {
    home: "/h",
    tmp: "/tmp",
    xdg_state_home: "/h/.local/state",
  });
  assert.deepEqual(environmentVars({ HOME: "/h", TMPDIR: "/var/tmp/", XDG_STATE_HOME: "/st" }), {
    home: "/h",
    tmp: "/var/tmp",
    xdg_state_home: "/st",
  });
  // A relative XDG_STATE_HOME is ignored (XDG spec); no HOME leaves {home} without a value.
  assert.deepEqual(environmentVars({ XDG_STATE_HOME: "rel", HOME: "" }), {
    home: undefined,
    tmp: "/tmp",
    xdg_state_home: undefined,
  });
  assert.equal(environmentVars({ TMPDIR: "/" }).tmp, "/");
});
