import assert from "node:assert/strict";
import { join } from "node:path";
import { ProvctlError } from "../../src/core/errors.ts";
import { loadConfig } from "../../src/config/loader.ts";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";
import {
  expandArgv,
  expandVars,
  loadInventory,
  type MachineConfig,
  machineTarget,
  parseInventory,
} from "../../src/fleet/inventory.ts";

const catalog = new Messages(embeddedMessages());
const render = (e: ProvctlError) => catalog.format(e.key, e.params);
const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const KEYS_FILE = join(FIXTURES, "keys", "machines.toml");
const EXAMPLE = new URL("../../configs/machines.example.toml", import.meta.url).pathname;
const FILE = "m.toml";

/** `m.toml:LINE:COL` of the first occurrence of `needle` in `text` (found independently). */
function loc(text: string, needle: string, occurrence = 1): string {
  let index = -1;
  for (let i = 0; i < occurrence; i++) index = text.indexOf(needle, index + 1);
  assert.ok(index >= 0, `${needle} not in the text`);
  const before = text.slice(0, index).split("\n");
  return `${FILE}:${before.length}:${before[before.length - 1].length + 1}`;
}

function lineOf(text: string, needle: string): number {
  return text.slice(0, text.indexOf(needle)).split("\n").length;
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

/** The error parsing `lines` gives; asserts kind InvalidConfig and the message key. */
function inventoryError(lines: string[], key: string): { e: ProvctlError; text: string } {
  const text = lines.join("\n") + "\n";
  const e = failure(() => parseInventory(text, { file: FILE }));
  assert.equal(e.kind, "InvalidConfig", e.message);
  assert.equal(e.key, key, e.message);
  return { e, text };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "provctl_inventory_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("inventory: every key, inherited [defaults] < profile < machine", async () => {
  const inventory = await loadInventory({ file: KEYS_FILE, cwd: "/", configDirs: [] });
  const text = await Deno.readTextFile(KEYS_FILE);
  assert.equal(inventory.file, KEYS_FILE);
  assert.deepEqual(inventory.searched, [KEYS_FILE]);
  // File order, although JavaScript would put the integer-like name "10" first.
  assert.deepEqual(inventory.machines.map((m) => m.name), ["web-1", "db-1", "10", "plain"]);
  const [web, db, ten, plain] = inventory.machines;

  assert.deepEqual(
    web,
    {
      name: "web-1",
      host: "10.0.0.11",
      port: 2200, // [defaults]
      user: "ops", // profile over [defaults]
      jump: ["ops@bastion.example.com:2222", "gw.internal"], // profile, replaced whole
      identity: "~/.ssh/prod_ed25519", // "~/" kept for the SSH layer to expand
      labels: { "managed-by": "provctl", env: "prod", "example.com/tier": "gold", role: "web" },
      profile: "prod",
      overrides: {
        forks: 4,
        connectTimeoutMs: 5000,
        commandTimeoutMs: 60000,
        backend: "systemd",
        deployRoot: "/srv/web-1", // [defaults]' template expanded for this machine
        hostKeyPolicy: "accept-new",
      },
      vars: { app_port: "8080", region: "eu", weight: "10" }, // the integer kept as written
      origin: `${KEYS_FILE}:${lineOf(text, "[machines.web-1]")}`,
    } satisfies MachineConfig,
  );
  assert.ok(Object.isFrozen(web) && Object.isFrozen(web.labels) && Object.isFrozen(web.overrides));

  // Every value of the machine's own wins, including jump = [] (connect directly).
  assert.deepEqual(db, {
    name: "db-1",
    host: "fd00::21", // brackets dropped
    port: 22,
    user: "postgres",
    jump: [],
    identity: "/etc/provctl/db_key",
    labels: { "managed-by": "provctl", env: "prod-db", "example.com/tier": "gold", role: "db" },
    profile: "prod",
    overrides: {
      forks: 1,
      connectTimeoutMs: 0,
      commandTimeoutMs: 1000,
      backend: "pidfile",
      deployRoot: "/var/lib/postgres/eu", // {user} and a var from [defaults]
      hostKeyPolicy: "off",
    },
    vars: { app_port: "5432", region: "eu" },
    origin: `${KEYS_FILE}:${lineOf(text, "[machines.db-1]")}`,
  });

  assert.deepEqual(ten, {
    name: "10",
    host: "ten.example.com",
    port: 2200,
    user: "deploy",
    jump: ["bastion.example.com"],
    identity: join(FIXTURES, "keys", "keys", "default_ed25519"), // relative to the file
    labels: { "managed-by": "provctl", env: "staging" },
    profile: "staging",
    overrides: {
      forks: 8,
      connectTimeoutMs: 5000,
      commandTimeoutMs: 20000,
      backend: "systemd",
      deployRoot: "/srv/10",
      hostKeyPolicy: "strict",
    },
    vars: { app_port: "8000", region: "eu" },
    origin: `${KEYS_FILE}:${lineOf(text, "[machines.10]")}`,
  });
  assert.equal(plain.profile, undefined);
  assert.equal(plain.user, "deploy");

  assert.deepEqual([...inventory.profiles.keys()], ["prod", "staging"]);
  const prod = inventory.profiles.get("prod")!;
  assert.equal(prod.origin, `${KEYS_FILE}:${lineOf(text, "[profiles.prod]")}`);
  assert.equal(prod.user, "ops");
  assert.deepEqual(prod.labels, { env: "prod", "example.com/tier": "gold" });
  assert.deepEqual(prod.overrides, {
    forks: 4,
    commandTimeoutMs: 60000,
    hostKeyPolicy: "accept-new",
  });
  assert.deepEqual(inventory.profiles.get("staging")!.vars, {});
});

Deno.test("inventory: a machine with only a host has no optional settings", () => {
  const inventory = parseInventory('[machines.a]\nhost = "a.example.com"\n', { file: FILE });
  assert.deepEqual(inventory.machines, [{
    name: "a",
    host: "a.example.com",
    labels: {},
    overrides: {},
    vars: {},
    origin: `${FILE}:1`,
  }]);
  assert.equal(parseInventory("", { file: FILE }).machines.length, 0);
});

Deno.test("inventory: the commented example loads and documents every key", async () => {
  const inventory = await loadInventory({ file: EXAMPLE, cwd: "/", configDirs: [] });
  assert.deepEqual(
    inventory.machines.map((m) => [m.name, machineTarget(m)]),
    [
      ["web-1", "deploy@10.0.0.11"],
      ["web-2", "deploy@10.0.0.12"],
      ["db-1", "deploy@[fd00::21]:2222"],
      ["stage-web", "stage@stage-web.example.com"],
    ],
  );
  assert.equal(inventory.machines[0].overrides.deployRoot, "/srv/web-1");
  // The keys allowed in a machine, as the loader lists them in its unknown-key hint.
  const e = failure(() => parseInventory('[machines.x]\nhost = "h"\nzzz = 1\n', { file: FILE }));
  const allowed = String(e.params.allowed).split(", ");
  assert.ok(allowed.length >= 14, String(e.params.allowed));
  const example = await Deno.readTextFile(EXAMPLE);
  for (const key of allowed) {
    assert.match(example, new RegExp(`^(# )?${key} = `, "m"), `${key} is not documented`);
  }
  for (const table of ["[defaults]", "[profiles.", "[machines."]) {
    assert.ok(example.includes(table), table);
  }
});

Deno.test("loadInventory: --inventory, $PROVCTL_INVENTORY, ./machines.toml, config dirs, none", async () => {
  await withDir(async (dir) => {
    const cwd = join(dir, "project");
    const user = join(dir, "user");
    const system = join(dir, "system");
    for (const d of [cwd, user, system]) await Deno.mkdir(d);
    const write = (path: string, host: string) =>
      Deno.writeTextFile(path, `[machines.m]\nhost = "${host}"\n`);
    const hostOf = async (options: Parameters<typeof loadInventory>[0]) =>
      (await loadInventory(options)).machines[0]?.host;
    const configDirs = [user, system];

    // Nothing anywhere: an empty inventory that says where it looked.
    const empty = await loadInventory({ cwd, configDirs, env: {} });
    assert.deepEqual(empty, {
      machines: [],
      profiles: new Map(),
      searched: [
        join(cwd, "machines.toml"),
        join(user, "machines.toml"),
        join(system, "machines.toml"),
      ],
    });

    await write(join(system, "machines.toml"), "from-system");
    assert.equal(await hostOf({ cwd, configDirs }), "from-system");
    await write(join(user, "machines.toml"), "from-user");
    assert.equal(await hostOf({ cwd, configDirs }), "from-user");
    await write(join(cwd, "machines.toml"), "from-cwd");
    const found = await loadInventory({ cwd, configDirs });
    assert.equal(found.file, join(cwd, "machines.toml"));
    assert.deepEqual(found.searched, [join(cwd, "machines.toml")]);

    // --inventory is relative to cwd and wins; so does $PROVCTL_INVENTORY without it.
    await write(join(cwd, "other.toml"), "from-flag");
    await write(join(dir, "env.toml"), "from-env");
    const env = { PROVCTL_INVENTORY: join(dir, "env.toml") };
    assert.equal(await hostOf({ file: "other.toml", cwd, configDirs, env }), "from-flag");
    assert.equal(await hostOf({ cwd, configDirs, env }), "from-env");
    assert.equal(await hostOf({ cwd, configDirs, env: { PROVCTL_INVENTORY: "" } }), "from-cwd");

    // A named file that does not exist is an error, never an empty inventory.
    for (const options of [{ file: "nope.toml" }, { env: { PROVCTL_INVENTORY: "nope.toml" } }]) {
      const e = await loadInventory({ cwd, configDirs, ...options }).then(
        () => assert.fail("expected an error"),
        (e) => e as ProvctlError,
      );
      assert.equal(e.kind, "InvalidConfig");
      assert.equal(e.key, "inventory.file_missing");
      assert.equal(
        render(e),
        `inventory file ${
          join(cwd, "nope.toml")
        } does not exist; create it or pass the right file with --inventory`,
      );
      assert.equal(e.hint, "inventory.hint_create");
    }
  });
});

Deno.test("loadInventory: [inventory] file of defaults.toml names the file searched for", async () => {
  await withDir(async (dir) => {
    const configDir = join(dir, "conf");
    await Deno.mkdir(configDir);
    await Deno.writeTextFile(
      join(configDir, "defaults.toml"),
      '[inventory]\nfile = "fleet.toml"\n',
    );
    await Deno.writeTextFile(join(configDir, "fleet.toml"), '[machines.f]\nhost = "f"\n');
    await Deno.writeTextFile(join(dir, "machines.toml"), '[machines.ignored]\nhost = "i"\n');
    const config = await loadConfig({
      configDir,
      env: {},
      systemDir: join(dir, "none"),
      userDir: join(dir, "none"),
    });
    const inventory = await loadInventory({ cwd: dir, configDirs: [configDir], config });
    assert.equal(inventory.file, join(configDir, "fleet.toml"));
    assert.deepEqual(inventory.machines.map((m) => m.name), ["f"]);
  });
});

Deno.test("inventory errors: invalid TOML and misplaced tables, with file:line:col", () => {
  const toml = inventoryError(["[machines.a]", 'host = "a"', "host = 'b'"], "config.toml_invalid");
  assert.equal(toml.e.params.line, 3);

  const top = inventoryError(["[machine.web]", 'host = "a"'], "config.unknown_key_suggest");
  assert.equal(render(top.e), `${FILE}:1:2: unknown key machine (did you mean machines?)`);
  assert.equal(top.e.hint, "inventory.hint_top_keys");

  const notTable = inventoryError(["machines = 3"], "config.wrong_type");
  assert.equal(render(notTable.e), `${FILE}:1:1: machines must be of type table, found integer`);

  const arrayOfTables = inventoryError(["[[machines]]", 'host = "a"'], "config.wrong_type");
  assert.equal(arrayOfTables.e.params.actual, "array with table elements");

  const machineNotTable = inventoryError(["[machines]", 'web = "10.0.0.1"'], "config.wrong_type");
  assert.equal(
    render(machineNotTable.e),
    `${FILE}:2:1: machines.web must be of type table, found string`,
  );
  const profileNotTable = inventoryError(["[profiles]", "prod = 1"], "config.wrong_type");
  assert.equal(profileNotTable.e.params.location, `${FILE}:2:1`);
});

Deno.test("inventory errors: unknown keys in machines, profiles and [defaults] suggest the key", () => {
  const cases: [string[], string, string][] = [
    [["[machines.web]", 'host = "a"', 'lables = { a = "b" }'], "lables", "machines.web.labels"],
    [["[profiles.prod]", 'hostname = "a"'], "hostname", "machines.*"],
    [["[defaults]", "deploy-root = '/x'"], "deploy-root", "defaults.deploy_root"],
    [
      ["[machines.web]", 'host = "a"', "conect_timeout_ms = 5"],
      "conect_timeout_ms",
      "machines.web.connect_timeout_ms",
    ],
  ];
  for (const [lines, key, suggestion] of cases) {
    const text = lines.join("\n") + "\n";
    const e = failure(() => parseInventory(text, { file: FILE }));
    assert.equal(e.params.location, loc(text, key), key);
    if (suggestion === "machines.*") {
      // host exists only in machines: no table-local suggestion is the right one.
      assert.ok(e.key.startsWith("config.unknown_key"), e.key);
    } else {
      assert.equal(e.key, "config.unknown_key_suggest", key);
      assert.equal(e.params.suggestion, suggestion);
    }
    assert.equal(e.hint, "inventory.hint_keys");
  }
  // host and profile belong to machines only.
  const hostInProfile = inventoryError(
    ["[profiles.p]", 'host = "a"'],
    "inventory.machine_only_key",
  );
  assert.equal(
    render(hostInProfile.e),
    `${FILE}:2:1: profiles.p.host can only be set in a machine's table ([machines.NAME])`,
  );
  const profileInDefaults = inventoryError(
    ["[defaults]", 'profile = "prod"'],
    "inventory.machine_only_key",
  );
  assert.equal(profileInDefaults.e.params.location, `${FILE}:2:1`);
});

Deno.test("inventory errors: wrong types name the key, the expected and the found type", () => {
  const cases: [string, string, string][] = [
    ['port = "22"', "port", "integer, found string"],
    ["port = 22.0", "port", "integer, found float"],
    ['jump = "bastion"', "jump", "array of strings, found string"],
    ["jump = [1]", "jump", "array of strings, found array with integer elements"],
    ['labels = "role=web"', "labels", "table, found string"],
    ["labels = { role = 1 }", "labels.role", "string, found integer"],
    ["vars = { debug = true }", "vars.debug", "string, found boolean"],
    ["forks = true", "forks", "integer, found boolean"],
    ["user = 0", "user", "string, found integer"],
    ["backend = ['systemd']", "backend", "string, found array with string elements"],
    ["deploy_root = 1979-05-27", "deploy_root", "string, found date-time"],
  ];
  for (const [line, key, types] of cases) {
    const { e, text } = inventoryError(["[machines.web]", 'host = "a"', line], "config.wrong_type");
    assert.equal(
      render(e),
      `${
        loc(text, key.includes(".") ? key.split(".")[1] + " =" : line)
      }: machines.web.${key} must be of type ${types}`,
    );
  }
  const host = inventoryError(["[machines.web]", "host = 10"], "config.wrong_type");
  assert.equal(
    render(host.e),
    `${FILE}:2:1: machines.web.host must be of type string, found integer`,
  );
});

Deno.test("inventory errors: ranges and allowed values", () => {
  const cases: [string, string, string][] = [
    ["port = 0", "config.out_of_range", "machines.web.port = 0 is out of range; it must be >= 1"],
    [
      "port = 65536",
      "config.out_of_range",
      "machines.web.port = 65536 is out of range; it must be <= 65535",
    ],
    ["forks = 0", "config.out_of_range", "machines.web.forks = 0 is out of range; it must be >= 1"],
    [
      "connect_timeout_ms = -1",
      "config.out_of_range",
      "machines.web.connect_timeout_ms = -1 is out of range; it must be >= 0",
    ],
    [
      "command_timeout_ms = 99999999999999999",
      "config.out_of_range",
      "machines.web.command_timeout_ms = 99999999999999999 is out of range; it must be <= 9007199254740991",
    ],
    [
      'backend = "docker"',
      "config.not_allowed",
      'machines.web.backend = "docker" is not allowed; use one of auto, systemd, launchd, pidfile',
    ],
    [
      'host_key_policy = "yes"',
      "config.not_allowed",
      'machines.web.host_key_policy = "yes" is not allowed; use one of strict, accept-new, off',
    ],
  ];
  for (const [line, key, message] of cases) {
    const { e, text } = inventoryError(["[machines.web]", 'host = "a"', line], key);
    assert.equal(render(e), `${loc(text, line)}: ${message}`);
  }
  const inDefaults = inventoryError(["[defaults]", "port = 70000"], "config.out_of_range");
  assert.equal(inDefaults.e.params.location, `${FILE}:2:1`);
  assert.equal(inDefaults.e.params.key, "defaults.port");
});

Deno.test("inventory errors: names of machines and profiles, and names differing by case", () => {
  const bad: [string, string][] = [
    ['[machines."web 1"]', 'invalid machine name "web 1": a space at position 4 is not allowed'],
    [
      '[machines."-web"]',
      'invalid machine name "-web": it must start with a letter or digit, not "-"',
    ],
    ['[machines."web@1"]', 'invalid machine name "web@1": "@" at position 4 is not allowed'],
    ['[machines."web*"]', 'invalid machine name "web*": "*" at position 4 is not allowed'],
    ['[machines."a\\nb"]', 'invalid machine name "a\\nb": "\\n" at position 2 is not allowed'],
    ['[machines.""]', "invalid machine name: the name is empty"],
    [
      `[machines.${"a".repeat(65)}]`,
      `invalid machine name "${"a".repeat(65)}": 65 characters, the limit is 64`,
    ],
    ['[profiles."prod!"]', 'invalid profile name "prod!": "!" at position 5 is not allowed'],
  ];
  for (const [header, reason] of bad) {
    const { e } = inventoryError([header, 'host = "a"'], "inventory.invalid_at");
    assert.equal(render(e), `${FILE}:1:11: ${reason}`, header);
    assert.equal(e.hint, "inventory.name_rule");
  }
  // The profile a machine names is held to the same rule.
  const ref = inventoryError(
    ["[machines.a]", 'host = "a"', 'profile = "p q"'],
    "inventory.invalid_at",
  );
  assert.equal(ref.e.params.location, `${FILE}:3:1`);

  const dup = inventoryError(
    [
      "[machines.web-1]",
      'host = "a"',
      "[machines.db]",
      'host = "b"',
      "[machines.WEB-1]",
      'host = "c"',
    ],
    "inventory.duplicate_name",
  );
  assert.equal(
    render(dup.e),
    `${FILE}:5:11: machine "WEB-1" has the same name as machine "web-1" (${FILE}:1:11) apart from case; machine names must differ in more than case`,
  );
  // TOML itself refuses the exact same table twice.
  inventoryError(
    ["[machines.a]", 'host = "a"', "[machines.a]", 'host = "b"'],
    "config.toml_invalid",
  );
});

Deno.test("inventory errors: profiles a machine references must exist", () => {
  const suggest = inventoryError(
    ["[profiles.prod]", "[profiles.staging]", "[machines.web]", 'host = "a"', 'profile = "prd"'],
    "inventory.unknown_profile_suggest",
  );
  assert.equal(
    render(suggest.e),
    `${FILE}:5:1: machine "web" uses profile "prd", which is not defined (did you mean "prod"?)`,
  );
  assert.equal(suggest.e.hint, "inventory.hint_profiles");
  const none = inventoryError(
    ["[machines.web]", 'host = "a"', 'profile = "production-eu"'],
    "inventory.unknown_profile",
  );
  assert.equal(
    render(none.e),
    `${FILE}:3:1: machine "web" uses profile "production-eu", which is not defined (defined profiles: none)`,
  );
});

Deno.test("inventory errors: hosts, users and jump hops", () => {
  const hosts: [string, string][] = [
    ['""', 'invalid host "": it is empty'],
    ['"web 1"', 'invalid host "web 1": a space at position 4 is not allowed'],
    ['"web;rm -rf /"', 'invalid host "web;rm -rf /": ";" at position 4 is not allowed'],
    ['"$(id)"', 'invalid host "$(id)": "$" at position 1 is not allowed'],
    ['"-oProxyCommand=x"', 'invalid host "-oProxyCommand=x": "=" at position 15 is not allowed'],
    ['"-web"', 'invalid host "-web": it must not start with "-"'],
    ['"deploy@web"', 'invalid host "deploy@web": the user goes in user = "...", not in host'],
    ['"web:2222"', 'invalid host "web:2222": the SSH port goes in port = N, not in host'],
    ['"fd00::1 "', 'invalid host "fd00::1 ": a space at position 8 is not allowed'],
    [`"${"h".repeat(254)}"`, `invalid host "${"h".repeat(254)}": 254 characters, the limit is 253`],
  ];
  for (const [value, reason] of hosts) {
    const { e } = inventoryError(["[machines.m]", `host = ${value}`], "inventory.invalid_at");
    assert.equal(render(e), `${FILE}:2:1: ${reason}`, value);
    assert.equal(e.hint, "inventory.hint_host");
  }
  for (
    const host of ["web-1.example.com", "10.0.0.1", "fd00::1", "[::1]", "fe80::1%eth0", "WEB_1"]
  ) {
    const inventory = parseInventory(`[machines.m]\nhost = "${host}"\n`, { file: FILE });
    assert.equal(inventory.machines[0].host, host.replace(/^\[(.*)\]$/, "$1"));
  }

  const missing = inventoryError(["[machines.m]", "port = 22"], "inventory.host_missing");
  assert.equal(render(missing.e), `${FILE}:1:11: machine "m" has no host; add host = "HOST-OR-IP"`);

  for (const user of ["a b", "-x", "root@", ""]) {
    const { e } = inventoryError(["[defaults]", `user = "${user}"`], "inventory.invalid_at");
    assert.equal(e.params.location, `${FILE}:2:1`);
    assert.match(render(e), /invalid user/);
  }

  const { e: hop, text } = inventoryError(
    ["[machines.m]", 'host = "a"', 'jump = ["ok.example.com", "bad host"]'],
    "inventory.invalid_at",
  );
  // Array elements have no recorded position: the error points at the key.
  assert.equal(hop.params.location, loc(text, "jump"));
  assert.equal(render(hop), `${FILE}:3:1: invalid SSH host 'bad host': it contains whitespace`);
  const port = inventoryError(["[profiles.p]", 'jump = ["b:0"]'], "inventory.invalid_at");
  assert.equal(render(port.e), `${FILE}:2:1: invalid SSH host 'b:0': '0' is not a port (1-65535)`);
});

Deno.test("inventory errors: labels follow kubectl's rules", () => {
  const cases: [string, string, string][] = [
    [
      '"role x" = "web"',
      '"role x"',
      "invalid label key \"role x\": the name \"role x\" must use letters, digits, '-', '_' and '.', and start and end with a letter or digit",
    ],
    ['"-role" = "web"', '"-role"', "must use letters"],
    ['"role-" = "web"', '"role-"', "must use letters"],
    ['"" = "web"', '""', "invalid label key: the key is empty"],
    [
      '"Example.COM/role" = "web"',
      '"Example.COM/role"',
      "the prefix \"Example.COM\" before '/' must be a lowercase DNS name",
    ],
    ['"/role" = "web"', '"/role"', 'the prefix ""'],
    ['"a/b/c" = "web"', '"a/b/c"', 'the name "b/c" must use'],
    [`${"k".repeat(64)} = "web"`, "k".repeat(64), "the name has 64 characters, the limit is 63"],
    ['role = "web server"', "role", 'invalid value "web server" of label role: use letters'],
    ['role = "-web"', "role", 'invalid value "-web" of label role'],
    ['role = "web;reboot"', "role", 'invalid value "web;reboot"'],
    [`role = "${"v".repeat(64)}"`, "role", "64 characters, the limit is 63"],
  ];
  for (const [entry, needle, reason] of cases) {
    const { e, text } = inventoryError(
      ["[machines.m]", 'host = "a"', `labels = { ${entry} }`],
      "inventory.invalid_at",
    );
    assert.equal(e.params.location, loc(text, needle), entry);
    assert.ok(render(e).includes(reason), `${render(e)}\n  lacks: ${reason}`);
  }
  const ok = parseInventory(
    '[machines.m]\nhost = "a"\nlabels = { "a.b/c_d" = "", x = "1.0-rc_1", Y = "Z" }\n',
    { file: FILE },
  );
  assert.deepEqual(ok.machines[0].labels, { "a.b/c_d": "", x: "1.0-rc_1", Y: "Z" });
});

Deno.test("inventory errors: vars, identity and deploy_root", () => {
  const badName = inventoryError(
    ["[defaults]", 'vars = { "1x" = "a" }'],
    "inventory.var_name_invalid",
  );
  assert.equal(
    render(badName.e),
    `${FILE}:2:10: invalid variable name "1x": use letters, digits and '_', not starting with a digit (at most 64 characters)`,
  );
  const dashed = inventoryError(
    ["[defaults]", 'vars = { app-port = "a" }'],
    "inventory.var_name_invalid",
  );
  assert.equal(dashed.e.params.location, `${FILE}:2:10`);
  const builtin = inventoryError(
    ["[machines.m]", 'host = "a"', 'vars = { host = "b" }'],
    "inventory.var_builtin",
  );
  assert.equal(
    render(builtin.e),
    `${FILE}:3:10: variable host would hide the built-in placeholder {host}; choose another name (built-ins: name, host, user, ssh_port, profile, deploy_root)`,
  );
  const control = inventoryError(["[defaults]", 'vars = { a = "x\\ny" }'], "inventory.invalid_at");
  assert.equal(render(control.e), `${FILE}:2:10: vars.a = "x\\ny" contains a control character`);

  const identity = inventoryError(["[defaults]", 'identity = ""'], "inventory.invalid_at");
  assert.equal(render(identity.e), `${FILE}:2:1: identity is empty`);

  const relative = inventoryError(
    ["[profiles.p]", 'deploy_root = "srv/{name}"', "[machines.m]", 'host = "a"', 'profile = "p"'],
    "inventory.deploy_root_relative",
  );
  assert.equal(
    render(relative.e),
    `${FILE}:2:1: deploy_root = "srv/{name}" must be an absolute path (starting with '/') for machine "m"`,
  );
  // Placeholders in deploy_root are checked per machine, at the line that wrote them.
  const unknown = inventoryError(
    ["[defaults]", 'deploy_root = "/srv/{app}"', "[machines.m]", 'host = "a"'],
    "inventory.invalid_at",
  );
  assert.equal(unknown.e.params.location, `${FILE}:2:1`);
  assert.match(
    render(unknown.e),
    /unknown placeholder \{app\} in "\/srv\/\{app\}" for machine "m"/,
  );
  const unset = inventoryError(
    ["[defaults]", 'deploy_root = "/home/{user}"', "[machines.m]", 'host = "a"'],
    "inventory.invalid_at",
  );
  assert.match(
    render(unset.e),
    /\{user\} in "\/home\/\{user\}" has no value for machine "m": its user is not set/,
  );
  // A machine's own var fills its profile's template.
  const filled = parseInventory(
    '[defaults]\ndeploy_root = "/srv/{app}"\n[machines.m]\nhost = "a"\nvars = { app = "shop" }\n',
    { file: FILE },
  );
  assert.equal(filled.machines[0].overrides.deployRoot, "/srv/shop");
});

Deno.test("expandVars: vars, built-ins and extra values; shell text left alone", () => {
  const inventory = parseInventory(
    [
      "[machines.web-1]",
      'host = "10.0.0.11"',
      "port = 2222",
      'user = "deploy"',
      'deploy_root = "/srv/{name}"',
      'vars = { port = "8080", path = "/health" }',
      "[machines.bare]",
      'host = "bare"',
    ].join("\n"),
    { file: FILE },
  );
  const [web, bare] = inventory.machines;
  assert.equal(
    expandVars(
      "curl -fsS http://{host}:{port}{path} # {name} {user} {ssh_port} {deploy_root}",
      web,
      { as: "shell" },
    ),
    "curl -fsS http://10.0.0.11:8080/health # web-1 deploy 2222 /srv/web-1",
  );
  assert.equal(
    expandVars("ln -sfn {deploy_root}/releases/{version} {deploy_root}/current", web, {
      as: "shell",
      extra: { version: "1.2.3" },
    }),
    "ln -sfn /srv/web-1/releases/1.2.3 /srv/web-1/current",
  );
  assert.equal(expandVars("echo {port}", web, { as: "shell", extra: { port: "9" } }), "echo 9");
  const shell = `awk '{print $1}' f; echo \${HOME} {a,b} {} { x } {{port}} \${{port}} {1}`;
  assert.equal(
    expandVars(shell, web, { as: "shell" }),
    `awk '{print $1}' f; echo \${HOME} {a,b} {} { x } {port} \${port} {1}`,
  );
  assert.equal(expandVars("no placeholders", bare, { as: "word" }), "no placeholders");

  const unknown = failure(() => expandVars("curl {hots}:{port}", web, { as: "shell" }));
  assert.equal(unknown.kind, "InvalidArgument");
  assert.equal(
    render(unknown),
    'unknown placeholder {hots} in "curl {hots}:{port}" for machine "web-1" (did you mean {host}?)',
  );
  assert.equal(unknown.hint, "inventory.hint_placeholders");
  const noSuggestion = failure(() => expandVars("echo {release_tag}", bare, { as: "shell" }));
  assert.equal(
    render(noSuggestion),
    'unknown placeholder {release_tag} in "echo {release_tag}" for machine "bare"; defined: {name}, {host}, {user}, {ssh_port}, {profile}, {deploy_root}',
  );
  const port = failure(() => expandVars("ssh -p {ssh_port} x", bare, { as: "shell" }));
  assert.equal(
    render(port),
    '{ssh_port} in "ssh -p {ssh_port} x" has no value for machine "bare": its port is not set in the inventory',
  );
  const profile = failure(() => expandVars("{profile}", bare, { as: "word" }));
  assert.equal(profile.key, "inventory.placeholder_unset");
});

Deno.test("expandVars: values are quoted in shell text, checked in URLs and addresses", () => {
  const [m] = parseInventory(
    [
      "[machines.m]",
      'host = "10.0.0.11"',
      'vars = { port = "18001;touch /tmp/x", path = "/a b", ok = "8080", at = "evil.com@x" }',
    ].join("\n"),
    { file: FILE },
  ).machines;
  assert.equal(
    expandVars("echo {port} > f; echo {raw:ok}", m, { as: "shell" }),
    "echo '18001;touch /tmp/x' > f; echo 8080",
  );
  assert.equal(expandVars("{port}", m, { as: "word" }), "18001;touch /tmp/x");
  assert.equal(expandVars("http://{host}:{ok}/x", m, { as: "url" }), "http://10.0.0.11:8080/x");
  for (
    const [text, as] of [
      ["http://{host}:{port}/", "url"],
      ["http://{at}/", "url"],
      ["http://{host}:{ok}{path}", "url"],
      ["{host}:{port}", "address"],
    ] as const
  ) {
    const e = failure(() => expandVars(text, m, { as }));
    assert.equal(e.key, "inventory.placeholder_value_invalid", text);
    render(e);
  }
  // argv words stay literal; the script of sh -c is shell text.
  assert.deepEqual(expandArgv(["echo", "{port}"], m), ["echo", "18001;touch /tmp/x"]);
  assert.deepEqual(expandArgv(["/bin/sh", "-ec", "echo {port}", "{port}"], m), [
    "/bin/sh",
    "-ec",
    "echo '18001;touch /tmp/x'",
    "18001;touch /tmp/x",
  ]);
});

Deno.test("machineTarget: [user@]host[:port] that parseTargetSpec reads back", async () => {
  const { parseTargetSpec } = await import("../../src/ssh/target.ts");
  const base = { labels: {}, vars: {}, overrides: {}, origin: "x" };
  const cases: [Omit<MachineConfig, keyof typeof base>, string][] = [
    [{ name: "a", host: "web" }, "web"],
    [{ name: "a", host: "web", user: "u" }, "u@web"],
    [{ name: "a", host: "web", port: 2222 }, "web:2222"],
    [{ name: "a", host: "fd00::1" }, "fd00::1"],
    [{ name: "a", host: "fd00::1", user: "u", port: 22 }, "u@[fd00::1]:22"],
  ];
  for (const [fields, spec] of cases) {
    const machine = { ...base, ...fields };
    assert.equal(machineTarget(machine), spec);
    const parsed = parseTargetSpec(spec);
    assert.deepEqual(
      { host: parsed.host, user: parsed.user, port: parsed.port },
      { host: machine.host, user: machine.user, port: machine.port },
    );
  }
});
