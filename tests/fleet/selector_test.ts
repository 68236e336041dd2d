import assert from "node:assert/strict";
import { ProvctlError } from "../../src/core/errors.ts";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";
import { type Inventory, parseInventory } from "../../src/fleet/inventory.ts";
import {
  matchesLabels,
  parseLabelSelector,
  selectMachines,
  type SelectOptions,
} from "../../src/fleet/selector.ts";

const catalog = new Messages(embeddedMessages());
const render = (e: ProvctlError) => catalog.format(e.key, e.params);
const FILE = "fleet.toml";

const FLEET = parseInventory(
  `
[profiles.prod]
labels = { env = "prod" }
[profiles.staging]
labels = { env = "staging" }

[machines.web-1]
host = "10.0.0.11"
profile = "prod"
labels = { role = "web", tier = "frontend" }
[machines.web-2]
host = "10.0.0.12"
profile = "prod"
labels = { role = "web" }
[machines.db-1]
host = "10.0.0.21"
profile = "prod"
labels = { role = "db" }
[machines.web-10]
host = "10.0.1.10"
profile = "staging"
labels = { role = "web", canary = "" }
[machines.Cache]
host = "10.0.0.31"
labels = { role = "cache", "example.com/team" = "core" }
`,
  { file: FILE },
);

function names(options: SelectOptions, inventory: Inventory = FLEET): string[] {
  return selectMachines(inventory, options).map((m) => m.name);
}

function failure(fn: () => unknown): ProvctlError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ProvctlError, `expected a ProvctlError, got ${e}`);
    return e;
  }
  assert.fail("expected an error");
}

/** The selector error for `text`: InvalidArgument at `column` with the problem's key. */
function selectorError(text: string, column: number, problem: string): string {
  const e = failure(() => parseLabelSelector(text));
  assert.equal(e.kind, "InvalidArgument");
  assert.equal(e.key, "inventory.selector_invalid");
  assert.equal(e.params.problem, problem, `${text}: ${render(e)}`);
  assert.equal(e.params.column, column, `${text}: ${render(e)}`);
  assert.equal(e.hint, "inventory.selector_hint");
  return render(e);
}

Deno.test("parseLabelSelector: every operator, whitespace, and the parsed form", () => {
  const s = parseLabelSelector(
    " role = web , env==prod,tier!=frontend, zone in (a, b,c),team notin(x),canary,! legacy ",
  );
  assert.deepEqual(s.requirements, [
    { op: "=", key: "role", value: "web" },
    { op: "=", key: "env", value: "prod" },
    { op: "!=", key: "tier", value: "frontend" },
    { op: "in", key: "zone", values: ["a", "b", "c"] },
    { op: "notin", key: "team", values: ["x"] },
    { op: "exists", key: "canary" },
    { op: "!exists", key: "legacy" },
  ]);
  assert.deepEqual(parseLabelSelector("example.com/team=core").requirements, [
    { op: "=", key: "example.com/team", value: "core" },
  ]);
  // An empty value, and keys named like the set operators.
  assert.deepEqual(parseLabelSelector("canary=,in=notin,notin in (in)").requirements, [
    { op: "=", key: "canary", value: "" },
    { op: "=", key: "in", value: "notin" },
    { op: "in", key: "notin", values: ["in"] },
  ]);
});

Deno.test("matchesLabels: kubectl semantics (!= and notin match machines without the label)", () => {
  const labels = { role: "web", env: "prod", canary: "" };
  const yes = [
    "role=web",
    "role==web",
    "role!=db",
    "zone!=a",
    "role in (db,web)",
    "role notin (db)",
    "zone notin (a)",
    "canary",
    "canary=",
    "!zone",
    "role=web,env=prod",
  ];
  const no = [
    "role=db",
    "zone=a",
    "role!=web",
    "zone in (a)",
    "role notin (web)",
    "zone",
    "!canary",
    "role=web,env=staging",
    "canary=x",
  ];
  for (const text of yes) assert.ok(matchesLabels(parseLabelSelector(text), labels), text);
  for (const text of no) assert.ok(!matchesLabels(parseLabelSelector(text), labels), text);
});

Deno.test("parseLabelSelector: malformed selectors name the column and what was expected", () => {
  assert.equal(
    selectorError("role=web,", 10, "selector_expected_key"),
    'invalid label selector "role=web," at column 10: expected a label key, found the end of the selector',
  );
  assert.equal(
    selectorError("role=web env=prod", 10, "selector_unexpected"),
    `invalid label selector "role=web env=prod" at column 10: expected ',' between requirements, found "env"`,
  );
  assert.equal(
    selectorError("role>1", 5, "selector_expected_operator"),
    `invalid label selector "role>1" at column 5: expected =, ==, !=, in, notin or ',' after label "role", found ">"`,
  );
  assert.equal(
    selectorError("role in web", 9, "selector_expected_paren"),
    `invalid label selector "role in web" at column 9: expected '(' after in, found "web"`,
  );
  assert.equal(
    selectorError("role in ()", 10, "selector_empty_list"),
    'invalid label selector "role in ()" at column 10: the value list of in is empty',
  );
  selectorError("role in (a", 11, "selector_expected_list");
  selectorError("role in (a b)", 12, "selector_expected_list");
  selectorError("role in (a,)", 12, "selector_expected_value");
  selectorError("role notin (a,,b)", 15, "selector_expected_value");
  selectorError("role=web,,env=prod", 10, "selector_expected_key");
  selectorError(",role=web", 1, "selector_expected_key");
  selectorError("=web", 1, "selector_expected_key");
  selectorError("!=web", 1, "selector_expected_key");
  selectorError("!", 2, "selector_expected_key");
  selectorError("role=web)", 9, "selector_unexpected");
  selectorError("role=(web)", 6, "selector_expected_value");
  selectorError("role===web", 7, "selector_expected_value");
  selectorError("role=!web", 6, "selector_expected_value");
  selectorError("role inn (a)", 6, "selector_expected_operator");
  assert.equal(
    selectorError("", 1, "selector_empty"),
    'invalid label selector "" at column 1: the selector is empty',
  );
  selectorError("   ", 4, "selector_empty");
});

Deno.test("parseLabelSelector: hostile input is refused, never run or echoed raw", () => {
  assert.match(
    selectorError("role=web;reboot", 9, "selector_unexpected"),
    /found ";"$/,
  );
  selectorError("role=$(id)", 6, "selector_expected_value");
  selectorError("role=`id`", 6, "selector_expected_value");
  selectorError("role=web\nenv=prod", 9, "selector_unexpected");
  // Control characters are shown escaped.
  assert.match(selectorError("role=\u001b[31m", 6, "selector_expected_value"), /found "\\u001b"/);
  selectorError("rôle=web", 2, "selector_expected_operator");
  selectorError("role=wéb", 7, "selector_unexpected");
  selectorError("role=😀", 6, "selector_expected_value");
  // Keys and values follow the label rules, reported at the start of the bad token.
  assert.match(
    selectorError("env=prod,-role=web", 10, "label_key_chars"),
    /at column 10: invalid label key "-role": the name "-role" must use letters/,
  );
  selectorError("Example.com/role=web", 1, "label_prefix_invalid");
  selectorError(`${"k".repeat(64)}=v`, 1, "label_key_too_long");
  selectorError(`role=${"v".repeat(64)}`, 6, "label_value_too_long");
  selectorError("role=web-", 6, "label_value_chars");
  selectorError("role in (a,-b)", 12, "label_value_chars");
  // Very long input: refused before parsing, and not echoed in full.
  const long = "a=b,".repeat(2000);
  const message = selectorError(long, 4097, "selector_too_long");
  assert.ok(message.length < 400, message);
  // Many requirements within the limit are fine (and fast).
  const many = Array.from({ length: 400 }, (_, i) => `k${i}!=v`).join(",");
  assert.equal(parseLabelSelector(many).requirements.length, 400);
});

Deno.test("selectMachines: --all, names, globs, labels, profile, limit, combined with AND", () => {
  assert.deepEqual(names({ all: true }), ["web-1", "web-2", "db-1", "web-10", "Cache"]);
  assert.deepEqual(names({ names: ["db-1"] }), ["db-1"]);
  // Names are matched regardless of case (they are unique regardless of case).
  assert.deepEqual(names({ names: ["cache", "WEB-2"] }), ["web-2", "Cache"]);
  // Inventory order, no duplicates, whatever order the names came in.
  assert.deepEqual(names({ names: ["web-10", "web-*", "db-1", "web-1"] }), [
    "web-1",
    "web-2",
    "db-1",
    "web-10",
  ]);
  assert.deepEqual(names({ names: ["web-?"] }), ["web-1", "web-2"]);
  assert.deepEqual(names({ names: ["web-??"] }), ["web-10"]);
  assert.deepEqual(names({ names: ["*-1*"] }), ["web-1", "db-1", "web-10"]);
  assert.deepEqual(names({ names: ["web-[2-9]"] }), ["web-2"]);
  assert.deepEqual(names({ names: ["web-[!1]*"] }), ["web-2"]);
  assert.deepEqual(names({ names: ["C*"] }), ["Cache"]);
  assert.deepEqual(names({ names: ["*"] }), ["web-1", "web-2", "db-1", "web-10", "Cache"]);

  assert.deepEqual(names({ labels: "role=web" }), ["web-1", "web-2", "web-10"]);
  assert.deepEqual(names({ labels: "role=web,env=prod" }), ["web-1", "web-2"]);
  assert.deepEqual(names({ labels: "role in (db,cache)" }), ["db-1", "Cache"]);
  assert.deepEqual(names({ labels: "env notin (prod)" }), ["web-10", "Cache"]);
  assert.deepEqual(names({ labels: "!env" }), ["Cache"]);
  assert.deepEqual(names({ labels: "canary" }), ["web-10"]);
  assert.deepEqual(names({ labels: "example.com/team=core" }), ["Cache"]);
  assert.deepEqual(names({ labels: parseLabelSelector("tier") }), ["web-1"]);

  assert.deepEqual(names({ profile: "prod" }), ["web-1", "web-2", "db-1"]);
  assert.deepEqual(names({ profile: "staging" }), ["web-10"]);

  assert.deepEqual(names({ names: ["web-*"], profile: "prod" }), ["web-1", "web-2"]);
  assert.deepEqual(names({ names: ["web-*"], labels: "tier!=frontend" }), ["web-2", "web-10"]);
  assert.deepEqual(names({ all: true, labels: "role=web", profile: "prod" }), ["web-1", "web-2"]);

  assert.deepEqual(names({ all: true, limit: 2 }), ["web-1", "web-2"]);
  assert.deepEqual(names({ labels: "role=web", limit: 1 }), ["web-1"]);
  assert.deepEqual(names({ names: ["db-1"], limit: 10 }), ["db-1"]);
});

Deno.test("selectMachines: what was asked for that is not there is a NotFound error", () => {
  const unknown = failure(() => names({ names: ["web-3"] }));
  assert.equal(unknown.kind, "NotFound");
  assert.equal(render(unknown), `no machine named "web-3" in ${FILE} (did you mean "web-1"?)`);
  assert.equal(unknown.hint, "inventory.hint_list");
  // One unknown name among good ones still fails, naming it.
  const among = failure(() => names({ names: ["web-1", "mail-server"] }));
  assert.equal(render(among), `no machine named "mail-server" in ${FILE}`);

  const glob = failure(() => names({ names: ["mail-*"] }));
  assert.equal(glob.kind, "NotFound");
  assert.equal(render(glob), `no machine in ${FILE} matches "mail-*"`);

  const labels = failure(() => names({ labels: "role=mail" }));
  assert.equal(labels.kind, "NotFound");
  assert.equal(
    render(labels),
    `no machine in ${FILE} matches -l "role=mail" (5 machines in the inventory)`,
  );
  const combined = failure(() => names({ names: ["db-*"], labels: "role=web", profile: "prod" }));
  assert.equal(
    render(combined),
    `no machine in ${FILE} matches db-* -l "role=web" --profile "prod" (5 machines in the inventory)`,
  );

  const profile = failure(() => names({ profile: "prd" }));
  assert.equal(profile.kind, "NotFound");
  assert.equal(render(profile), `no profile named "prd" in ${FILE} (did you mean "prod"?)`);
  const noProfile = failure(() => names({ profile: "qa-eu-west" }));
  assert.equal(
    render(noProfile),
    `no profile named "qa-eu-west" in ${FILE} (defined profiles: prod, staging)`,
  );
});

Deno.test("selectMachines: usage mistakes and bad names are refused before selecting", () => {
  const nothing = failure(() => names({}));
  assert.equal(nothing.kind, "Usage");
  assert.equal(nothing.key, "inventory.nothing_asked");
  assert.equal(failure(() => names({ names: [] })).key, "inventory.nothing_asked");

  const both = failure(() => names({ all: true, names: ["web-1"] }));
  assert.equal(both.kind, "Usage");
  assert.equal(
    render(both),
    "--all selects every machine; do not combine it with machine names (web-1)",
  );

  for (const limit of [0, -1, 1.5, Number.NaN, Infinity]) {
    const e = failure(() => names({ all: true, limit }));
    assert.equal(e.kind, "InvalidArgument");
    assert.equal(e.key, "inventory.limit_invalid", String(limit));
  }

  const bad: [string, string][] = [
    ["", "the machine name is empty"],
    ["web 1", 'invalid machine name or pattern "web 1": a space at position 4 is not allowed'],
    ["web;id", 'invalid machine name or pattern "web;id": ";" at position 4 is not allowed'],
    ["user@web", 'invalid machine name or pattern "user@web": "@" at position 5 is not allowed'],
    ["web-[1", "invalid machine pattern \"web-[1\": unbalanced '[' or ']' at position 6"],
    ["web-1]", "invalid machine pattern \"web-1]\": unbalanced '[' or ']' at position 6"],
    ["web-[]", "invalid machine pattern \"web-[]\": the class '[]' ending at position 6 is empty"],
    ["web-[*]", 'invalid machine name or pattern "web-[*]": "*" at position 6 is not allowed'],
  ];
  for (const [pattern, message] of bad) {
    const e = failure(() => names({ names: [pattern] }));
    assert.equal(e.kind, "InvalidArgument", pattern);
    assert.equal(render(e), message);
    assert.equal(e.hint, "inventory.pattern_hint");
  }
  const long = failure(() => names({ names: ["a".repeat(300)] }));
  assert.equal(long.key, "inventory.pattern_too_long");

  // A malformed selector is reported even when the inventory is empty.
  const empty = parseInventory("", { file: FILE });
  assert.equal(
    failure(() => names({ labels: "role=(" }, empty)).key,
    "inventory.selector_invalid",
  );
});

Deno.test("selectMachines: an empty or missing inventory says how to create one", () => {
  const declaresNone = parseInventory("[profiles.prod]\n", { file: FILE });
  const e = failure(() => names({ all: true }, declaresNone));
  assert.equal(e.kind, "NotFound");
  assert.equal(render(e), `no machines to select: ${FILE} declares none`);
  assert.equal(e.hint, "inventory.hint_create");

  const missing: Inventory = {
    machines: [],
    profiles: new Map(),
    searched: ["/p/machines.toml", "/etc/provctl/machines.toml"],
  };
  const none = failure(() => names({ names: ["web-1"] }, missing));
  assert.equal(none.kind, "NotFound");
  assert.equal(
    render(none),
    "no inventory found (looked for /p/machines.toml, /etc/provctl/machines.toml); create machines.toml with a [machines.NAME] table per machine, or pass --inventory FILE",
  );
});

Deno.test("globs: hostile patterns stay fast", () => {
  const many = Array.from(
    { length: 2000 },
    (_, i) => `[machines.n${"a".repeat(50)}${i}]\nhost = "h"\n`,
  );
  const big = parseInventory(many.join(""), { file: FILE });
  const started = performance.now();
  const e = failure(() => names({ names: ["*a*a*a*a*a*a*a*a*a*a*a*a*a*b"] }, big));
  assert.equal(e.key, "inventory.glob_no_match");
  assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
  assert.equal(names({ names: ["n*a1999"] }, big).length, 1);
});
