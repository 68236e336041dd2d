import assert from "node:assert/strict";
import { join } from "node:path";
import { ProvctlError } from "../../src/core/errors.ts";
import { ENV_OVERRIDES, loadConfig, type LoadConfigOptions } from "../../src/config/loader.ts";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";
import { defaultsSchema } from "../../src/config/schema.ts";

const catalog = new Messages(embeddedMessages());

/** Temp dirs for the four file layers; nothing reads the real /etc or ~/.config. */
async function withLayers(
  fn: (dirs: { system: string; user: string; cli: string; root: string }) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "provctl_config_" });
  try {
    const dirs = {
      system: join(root, "etc"),
      user: join(root, "user"),
      cli: join(root, "cli"),
      root,
    };
    for (const d of [dirs.system, dirs.user, dirs.cli]) await Deno.mkdir(d);
    await fn(dirs);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function opts(
  dirs: { system: string; user: string },
  extra: LoadConfigOptions = {},
): LoadConfigOptions {
  return { systemDir: dirs.system, userDir: dirs.user, env: { HOME: "/home/alice" }, ...extra };
}

/** Asserts `promise` rejects with InvalidConfig `key` and returns the rendered message. */
async function configError(promise: Promise<unknown>, key: string): Promise<ProvctlError> {
  let caught: unknown;
  try {
    await promise;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ProvctlError, `expected a ProvctlError, got ${caught}`);
  assert.equal(caught.kind, "InvalidConfig", caught.message);
  assert.equal(caught.key, key, caught.message);
  assert.equal(caught.exitCode, 2);
  return caught;
}

const render = (e: ProvctlError) => catalog.format(e.key, e.params);

Deno.test("embedded defaults only: every key from defaults.toml with origin embedded", async () => {
  await withLayers(async (dirs) => {
    const config = await loadConfig(opts(dirs));
    assert.equal(config.string("general.backend"), "auto");
    assert.equal(config.integer("timeouts.stop_ms"), 10000);
    assert.equal(config.integer("logs.lines"), 50);
    assert.equal(config.origin("timeouts.stop_ms"), "embedded");
    const keys = config.entries().map((e) => e.key);
    assert.deepEqual(keys, [...defaultsSchema().keys.keys()]);
    assert.ok(config.entries().every((e) => e.origin === "embedded"));
  });
});

Deno.test("layers: system < user < --config-dir < env, each origin recorded with its line", async () => {
  await withLayers(async (dirs) => {
    await Deno.writeTextFile(
      join(dirs.system, "defaults.toml"),
      '[general]\nbackend = "pidfile"\noutput = "json"\n\n[timeouts]\nstop_ms = 1000\nlock_ms = 1\n[logs]\nlines = 9\n',
    );
    await Deno.writeTextFile(
      join(dirs.user, "defaults.toml"),
      "[timeouts]\nstop_ms = 2000\nlock_ms = 2\n",
    );
    await Deno.writeTextFile(join(dirs.cli, "defaults.toml"), "# cli\ntimeouts.stop_ms = 3000\n");
    const config = await loadConfig(
      opts(dirs, { configDir: dirs.cli, env: { HOME: "/h", PROVCTL_LOG_LINES: "77" } }),
    );
    const sys = join(dirs.system, "defaults.toml");
    const user = join(dirs.user, "defaults.toml");
    const cli = join(dirs.cli, "defaults.toml");
    assert.equal(config.get("general.backend"), "pidfile");
    assert.equal(config.origin("general.backend"), `${sys}:2`);
    assert.equal(config.get("general.output"), "json");
    assert.equal(config.origin("general.output"), `${sys}:3`);
    assert.equal(config.get("timeouts.lock_ms"), 2);
    assert.equal(config.origin("timeouts.lock_ms"), `${user}:3`);
    assert.equal(config.get("timeouts.stop_ms"), 3000);
    assert.equal(config.origin("timeouts.stop_ms"), `${cli}:2`);
    assert.equal(config.get("logs.lines"), 77);
    assert.equal(config.origin("logs.lines"), "env PROVCTL_LOG_LINES");
    assert.equal(config.get("general.color"), "auto");
    assert.equal(config.origin("general.color"), "embedded");
    const shown = config.entries().find((e) => e.key === "timeouts.stop_ms");
    assert.deepEqual(shown, { key: "timeouts.stop_ms", value: 3000, origin: `${cli}:2` });
  });
});

Deno.test("searched lists every file looked for with its layer and whether it exists", async () => {
  await withLayers(async (dirs) => {
    await Deno.writeTextFile(join(dirs.user, "messages.toml"), "");
    const config = await loadConfig(opts(dirs, { configDir: dirs.cli }));
    assert.deepEqual(config.searched, [
      {
        layer: "system",
        kind: "defaults",
        path: join(dirs.system, "defaults.toml"),
        exists: false,
      },
      {
        layer: "system",
        kind: "messages",
        path: join(dirs.system, "messages.toml"),
        exists: false,
      },
      { layer: "user", kind: "defaults", path: join(dirs.user, "defaults.toml"), exists: false },
      { layer: "user", kind: "messages", path: join(dirs.user, "messages.toml"), exists: true },
      {
        layer: "config-dir",
        kind: "defaults",
        path: join(dirs.cli, "defaults.toml"),
        exists: false,
      },
      {
        layer: "config-dir",
        kind: "messages",
        path: join(dirs.cli, "messages.toml"),
        exists: false,
      },
    ]);
  });
});

Deno.test("missing system and user dirs are fine; a missing --config-dir is an error", async () => {
  await withLayers(async (dirs) => {
    const gone = { system: join(dirs.root, "no-etc"), user: join(dirs.root, "no-user") };
    const config = await loadConfig(opts(gone));
    assert.equal(config.searched.length, 4);
    assert.ok(config.searched.every((s) => !s.exists));
    const missing = join(dirs.root, "nope");
    const e = await configError(
      loadConfig(opts(dirs, { configDir: missing })),
      "config.dir_missing",
    );
    assert.equal(render(e), `config directory ${missing} (--config-dir) does not exist`);
    const file = join(dirs.root, "file");
    await Deno.writeTextFile(file, "");
    await configError(loadConfig(opts(dirs, { configDir: file })), "config.dir_not_directory");
  });
});

Deno.test("default user dir: $XDG_CONFIG_HOME/provctl, else ~/.config/provctl", async () => {
  await withLayers(async (dirs) => {
    const xdg = join(dirs.root, "xdg");
    await Deno.mkdir(join(xdg, "provctl"), { recursive: true });
    await Deno.writeTextFile(join(xdg, "provctl", "defaults.toml"), "[logs]\nlines = 3\n");
    const viaXdg = await loadConfig({
      systemDir: dirs.system,
      env: { HOME: dirs.root, XDG_CONFIG_HOME: xdg },
    });
    assert.equal(viaXdg.get("logs.lines"), 3);
    assert.equal(viaXdg.searched[2].path, join(xdg, "provctl", "defaults.toml"));

    const home = join(dirs.root, "home");
    await Deno.mkdir(join(home, ".config", "provctl"), { recursive: true });
    await Deno.writeTextFile(
      join(home, ".config", "provctl", "defaults.toml"),
      "[logs]\nlines = 4\n",
    );
    // A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
    const viaHome = await loadConfig({
      systemDir: dirs.system,
      env: { HOME: home, XDG_CONFIG_HOME: "rel" },
    });
    assert.equal(viaHome.get("logs.lines"), 4);
    assert.equal(
      viaHome.origin("logs.lines"),
      `${join(home, ".config", "provctl", "defaults.toml")}:2`,
    );

    const noHome = await loadConfig({ systemDir: dirs.system, env: {} });
    assert.equal(noHome.searched.length, 2, "no HOME and no XDG_CONFIG_HOME: no user layer");
  });
});

Deno.test("env overrides: every documented variable is parsed to its key's type", async () => {
  await withLayers(async (dirs) => {
    const env = {
      HOME: "/h",
      PROVCTL_BACKEND: "pidfile",
      PROVCTL_OUTPUT: "json",
      PROVCTL_COLOR: "never",
      PROVCTL_STATE_DIR: "{tmp}/state",
      PROVCTL_SERVICES_FILE: "{home}/svc.toml",
      PROVCTL_STOP_TIMEOUT_MS: "1500",
      PROVCTL_START_GRACE_MS: "+20",
      PROVCTL_LOCK_TIMEOUT_MS: " 30 ",
      PROVCTL_COMMAND_TIMEOUT_MS: "0",
      PROVCTL_STOP_SIGNAL: "int",
      PROVCTL_LOG_LINES: "5",
      PROVCTL_SERVE_LISTEN: "[::1]:8080",
      PROVCTL_STATE_BACKEND: "postgres",
    };
    const config = await loadConfig(opts(dirs, { env }));
    assert.deepEqual(
      Object.fromEntries(Object.values(ENV_OVERRIDES).map((k) => [k, config.get(k)])),
      {
        "general.backend": "pidfile",
        "general.output": "json",
        "general.color": "never",
        "paths.state_dir": "{tmp}/state",
        "paths.services_file": "{home}/svc.toml",
        "timeouts.stop_ms": 1500,
        "timeouts.start_grace_ms": 20,
        "timeouts.lock_ms": 30,
        "timeouts.command_ms": 0,
        "service.stop_signal": "SIGINT",
        "logs.lines": 5,
        "serve.listen": "[::1]:8080",
        "state.backend": "postgres",
      },
    );
    for (const [variable, key] of Object.entries(ENV_OVERRIDES)) {
      assert.equal(config.origin(key), `env ${variable}`);
      assert.ok(defaultsSchema().keys.has(key), `${variable} maps to unknown key ${key}`);
    }
    assert.equal(config.path("paths.state_dir"), "/tmp/state");
  });
});

Deno.test("env overrides: an empty value is ignored; a bad value names the variable", async () => {
  await withLayers(async (dirs) => {
    const empty = await loadConfig(opts(dirs, { env: { PROVCTL_BACKEND: "" } }));
    assert.equal(empty.origin("general.backend"), "embedded");

    let e = await configError(
      loadConfig(opts(dirs, { env: { PROVCTL_STOP_TIMEOUT_MS: "10s" } })),
      "config.env_wrong_type",
    );
    assert.equal(
      render(e),
      'environment variable PROVCTL_STOP_TIMEOUT_MS="10s" is not a valid integer (it sets timeouts.stop_ms)',
    );
    await configError(
      loadConfig(opts(dirs, { env: { PROVCTL_LOG_LINES: "1.5" } })),
      "config.env_wrong_type",
    );
    await configError(
      loadConfig(opts(dirs, { env: { PROVCTL_LOG_LINES: "99999999999999999999" } })),
      "config.env_wrong_type",
    );
    e = await configError(
      loadConfig(opts(dirs, { env: { PROVCTL_LOG_LINES: "-1" } })),
      "config.env_out_of_range",
    );
    assert.equal(
      render(e),
      "environment variable PROVCTL_LOG_LINES=-1 is out of range for logs.lines; it must be >= 0",
    );
    e = await configError(
      loadConfig(opts(dirs, { env: { PROVCTL_BACKEND: "docker" } })),
      "config.env_not_allowed",
    );
    assert.equal(
      render(e),
      'environment variable PROVCTL_BACKEND="docker" is not allowed for general.backend; use one of auto, systemd, launchd, pidfile',
    );
    e = await configError(
      loadConfig(opts(dirs, { env: { PROVCTL_STATE_DIR: "{hom}/x" } })),
      "config.env_unknown_placeholder_at",
    );
    assert.equal(
      render(e),
      'environment variable PROVCTL_STATE_DIR: unknown placeholder {hom} in "{hom}/x"; allowed here: {home}, {tmp}, {xdg_state_home}',
    );
  });
});

Deno.test("invalid TOML: file, line, column and smol-toml's reason", async () => {
  await withLayers(async (dirs) => {
    const file = join(dirs.user, "defaults.toml");
    await Deno.writeTextFile(file, "[timeouts]\nstop_ms = 10\nlock_ms = = 3\n");
    const e = await configError(loadConfig(opts(dirs)), "config.toml_invalid");
    assert.equal(e.params.file, file);
    assert.equal(e.params.line, 3);
    assert.equal(e.params.column, 11);
    assert.match(String(e.params.reason), /\S/);
    assert.ok(
      !String(e.params.reason).includes("\n"),
      "reason is one line, without smol-toml's code block",
    );
    assert.equal(render(e), `${file}:3:11: invalid TOML: ${e.params.reason}`);
  });
});

Deno.test("unknown key: file:line:col of the key, full dotted name, nearest valid key", async () => {
  await withLayers(async (dirs) => {
    const file = join(dirs.system, "defaults.toml");
    const cases: [string, string, string | undefined][] = [
      ["[timeouts]\nstop_ms = 1\n  stpo_ms = 5\n", "3:3 timeouts.stpo_ms", "timeouts.stop_ms"],
      ["# x\n[timeout]\nstop_ms = 5\n", "2:2 timeout", "timeouts"],
      ["[general]\nstop_ms = 5\n", "2:1 general.stop_ms", "timeouts.stop_ms"],
      ["timeouts.stop_ms = 1\ntimeouts.lock = 2\n", "2:10 timeouts.lock", "timeouts.lock_ms"],
      ["logs = { lines = 1, line = 2 }\n", "1:21 logs.line", "logs.lines"],
      ['[paths]\n"state.dir" = "x"\n', '2:1 paths."state.dir"', "paths.state_dir"],
      ["[frobnicate]\nx = 1\n", "1:2 frobnicate", undefined],
    ];
    for (const [text, where, suggestion] of cases) {
      await Deno.writeTextFile(file, text);
      const e = await configError(
        loadConfig(opts(dirs)),
        suggestion ? "config.unknown_key_suggest" : "config.unknown_key",
      );
      const [pos, key] = where.split(" ");
      assert.equal(e.params.location, `${file}:${pos}`, text);
      assert.equal(e.params.key, key, text);
      assert.equal(e.params.suggestion, suggestion, text);
      assert.equal(e.hint, "config.hint_keys");
    }
    await Deno.writeTextFile(file, "[timeouts]\nstpo_ms = 5\n");
    const e = await configError(loadConfig(opts(dirs)), "config.unknown_key_suggest");
    assert.equal(
      render(e),
      `${file}:2:1: unknown key timeouts.stpo_ms (did you mean timeouts.stop_ms?)`,
    );
  });
});

Deno.test("wrong type: file:line:col, key, expected and found type", async () => {
  await withLayers(async (dirs) => {
    const file = join(dirs.cli, "defaults.toml");
    const cases: [string, string, string, string, string][] = [
      ['[timeouts]\nstop_ms = "10s"\n', "2:1", "timeouts.stop_ms", "integer", "string"],
      ["[timeouts]\nstop_ms = 1.5\n", "2:1", "timeouts.stop_ms", "integer", "float"],
      ["[general]\nbackend = 1\n", "2:1", "general.backend", "string", "integer"],
      [
        '[general]\nbackend = ["a"]\n',
        "2:1",
        "general.backend",
        "string",
        "array with string elements",
      ],
      ["timeouts = 5\n", "1:1", "timeouts", "table", "integer"],
      ["[logs]\nlines = 1979-05-27\n", "2:1", "logs.lines", "integer", "date-time"],
      ["[general]\ncolor = { a = 1 }\n", "2:1", "general.color", "string", "table"],
      ["[general]\ncolor = true\n", "2:1", "general.color", "string", "boolean"],
    ];
    for (const [text, pos, key, expected, actual] of cases) {
      await Deno.writeTextFile(file, text);
      const e = await configError(
        loadConfig(opts(dirs, { configDir: dirs.cli })),
        "config.wrong_type",
      );
      assert.deepEqual(e.params, { location: `${file}:${pos}`, key, expected, actual }, text);
    }
    await Deno.writeTextFile(file, '\n[timeouts]\n  stop_ms = "10s"\n');
    const e = await configError(
      loadConfig(opts(dirs, { configDir: dirs.cli })),
      "config.wrong_type",
    );
    assert.equal(render(e), `${file}:3:3: timeouts.stop_ms must be of type integer, found string`);
  });
});

Deno.test("allowed values and ranges: enums list the allowed values, *_ms must be >= 0", async () => {
  await withLayers(async (dirs) => {
    const file = join(dirs.user, "defaults.toml");
    const enums: [string, string, string][] = [
      ['[general]\nbackend = "docker"\n', "general.backend", "auto, systemd, launchd, pidfile"],
      ['[general]\noutput = "yaml"\n', "general.output", "text, json"],
      ['[general]\ncolor = "yes"\n', "general.color", "auto, always, never"],
      ['[service]\nrestart = "sometimes"\n', "service.restart", "no, on-failure, always"],
      [
        '[service]\nstop_signal = "SIGSTOP"\n',
        "service.stop_signal",
        "SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGUSR1, SIGUSR2, SIGTERM",
      ],
    ];
    for (const [text, key, allowed] of enums) {
      await Deno.writeTextFile(file, text);
      const e = await configError(loadConfig(opts(dirs)), "config.not_allowed");
      assert.equal(e.params.location, `${file}:2:1`);
      assert.equal(e.params.key, key);
      assert.equal(e.params.allowed, allowed);
    }
    await Deno.writeTextFile(file, '[general]\nbackend = "docker"\n');
    let e = await configError(loadConfig(opts(dirs)), "config.not_allowed");
    assert.equal(
      render(e),
      `${file}:2:1: general.backend = "docker" is not allowed; use one of auto, systemd, launchd, pidfile`,
    );

    await Deno.writeTextFile(file, "[timeouts]\nlock_ms = -1\n");
    e = await configError(loadConfig(opts(dirs)), "config.out_of_range");
    assert.equal(render(e), `${file}:2:1: timeouts.lock_ms = -1 is out of range; it must be >= 0`);
    await Deno.writeTextFile(file, "[logs]\nlines = 9007199254740993\n");
    e = await configError(loadConfig(opts(dirs)), "config.out_of_range");
    assert.equal(e.params.key, "logs.lines");

    // A key with an upper bound (rules of tables other engineers added).
    if (defaultsSchema().keys.has("ssh.retry_jitter_percent")) {
      await Deno.writeTextFile(file, "[ssh]\nretry_jitter_percent = 101\n");
      e = await configError(loadConfig(opts(dirs)), "config.out_of_range");
      assert.equal(
        render(e),
        `${file}:2:1: ssh.retry_jitter_percent = 101 is out of range; it must be <= 100`,
      );
    }

    // Accepted spellings of a signal are stored canonically.
    await Deno.writeTextFile(file, '[service]\nstop_signal = "hup"\n');
    assert.equal((await loadConfig(opts(dirs))).get("service.stop_signal"), "SIGHUP");
  });
});

Deno.test("path templates are checked at load time: unknown placeholder, stray brace, missing {service_name}", async () => {
  await withLayers(async (dirs) => {
    const file = join(dirs.system, "defaults.toml");
    await Deno.writeTextFile(file, '[paths]\npid_file = "{state_dir}/{service}.pid"\n');
    let e = await configError(loadConfig(opts(dirs)), "config.unknown_placeholder_at");
    assert.equal(
      render(e),
      `${file}:2:1: paths.pid_file: unknown placeholder {service} in "{state_dir}/{service}.pid"; ` +
        "allowed here: {home}, {tmp}, {xdg_state_home}, {state_dir}, {service_name}",
    );
    // {state_dir} cannot refer to itself or to a service.
    await Deno.writeTextFile(file, '[paths]\nstate_dir = "{state_dir}/x"\n');
    e = await configError(loadConfig(opts(dirs)), "config.unknown_placeholder_at");
    assert.equal(e.params.allowed, "{home}, {tmp}, {xdg_state_home}");

    await Deno.writeTextFile(file, '[paths]\nlog_file = "{state_dir/logs/{service_name}.log"\n');
    e = await configError(loadConfig(opts(dirs)), "config.stray_brace");
    assert.equal(e.params.location, `${file}:2:1`);

    await Deno.writeTextFile(file, '[paths]\nlog_file = "{state_dir}/logs/all.log"\n');
    e = await configError(loadConfig(opts(dirs)), "config.missing_placeholder");
    assert.equal(
      render(e),
      `${file}:2:1: paths.log_file = "{state_dir}/logs/all.log" must contain {service_name}, or every service would share one file`,
    );
  });
});

Deno.test("path(): expands placeholders from the environment, state_dir and caller vars", async () => {
  await withLayers(async (dirs) => {
    const env = { HOME: "/home/bob", TMPDIR: "/var/tmp/" };
    let config = await loadConfig(opts(dirs, { env }));
    assert.equal(config.path("paths.state_dir"), "/home/bob/.local/state/provctl");
    assert.equal(
      config.path("paths.pid_file", { service_name: "web" }),
      "/home/bob/.local/state/provctl/run/web.pid",
    );
    assert.equal(
      config.path("paths.log_file", { service_name: "db" }),
      "/home/bob/.local/state/provctl/logs/db.log",
    );
    assert.equal(config.placeholders.tmp, "/var/tmp");
    assert.throws(
      () => config.path("paths.pid_file"),
      (e) =>
        e instanceof ProvctlError && e.kind === "Internal" &&
        /needs \{service_name\}/.test(String(e.params.detail)),
      "a caller that forgets service_name is a bug",
    );

    config = await loadConfig(opts(dirs, { env: { ...env, XDG_STATE_HOME: "/xdg/state" } }));
    assert.equal(
      config.path("paths.pid_file", { service_name: "a" }),
      "/xdg/state/provctl/run/a.pid",
    );

    await Deno.writeTextFile(join(dirs.user, "defaults.toml"), '[paths]\nstate_dir = "{tmp}/pc"\n');
    config = await loadConfig(opts(dirs, { env }));
    assert.equal(config.path("paths.log_file", { service_name: "x" }), "/var/tmp/pc/logs/x.log");

    // Without HOME, {home}-based paths cannot be expanded: a clear error, not "undefined/...".
    config = await loadConfig({ systemDir: dirs.system, userDir: dirs.user, env: {} });
    assert.equal(config.path("paths.log_file", { service_name: "x" }), "/tmp/pc/logs/x.log");
    config = await loadConfig({
      systemDir: dirs.system,
      userDir: join(dirs.root, "none"),
      env: {},
    });
    assert.equal(config.placeholders.home, undefined);
    assert.throws(
      () => config.path("paths.log_file", { service_name: "x" }),
      (e) =>
        e instanceof ProvctlError && e.key === "config.placeholder_unset" &&
        e.params.placeholder === "{state_dir}",
    );
  });
});

Deno.test("messages.toml overrides: later layers win; unknown key and wrong type are errors", async () => {
  await withLayers(async (dirs) => {
    await Deno.writeTextFile(
      join(dirs.system, "messages.toml"),
      '[errors]\nname_empty = "system: empty"\nbinary_empty = "system: {service} binary"\n',
    );
    await Deno.writeTextFile(join(dirs.cli, "messages.toml"), 'errors.name_empty = "cli: empty"\n');
    const config = await loadConfig(opts(dirs, { configDir: dirs.cli }));
    assert.equal(config.messages.format("errors.name_empty"), "cli: empty");
    assert.equal(
      config.messages.format("errors.binary_empty", { service: "web" }),
      "system: web binary",
    );
    assert.equal(
      config.messages.format("config.dir_missing", { path: "/x" }),
      "config directory /x (--config-dir) does not exist",
      "keys not overridden come from the embedded catalog",
    );
    assert.deepEqual(config.messageOverrides.map((o) => [o.key, o.origin]), [
      ["errors.name_empty", `${join(dirs.cli, "messages.toml")}:1`],
      ["errors.binary_empty", `${join(dirs.system, "messages.toml")}:3`],
    ]);

    const file = join(dirs.user, "messages.toml");
    await Deno.writeTextFile(file, '[errors]\nname_emtpy = "typo"\n');
    let e = await configError(loadConfig(opts(dirs)), "config.unknown_key_suggest");
    assert.equal(
      render(e),
      `${file}:2:1: unknown key errors.name_emtpy (did you mean errors.name_empty?)`,
    );
    await Deno.writeTextFile(file, '[erors]\nname_empty = "typo"\n');
    e = await configError(loadConfig(opts(dirs)), "config.unknown_key_suggest");
    assert.deepEqual([e.params.location, e.params.key, e.params.suggestion], [
      `${file}:1:2`,
      "erors",
      "errors",
    ]);
    await Deno.writeTextFile(file, "[errors]\nname_empty = 3\n");
    e = await configError(loadConfig(opts(dirs)), "config.wrong_type");
    assert.deepEqual(e.params, {
      location: `${file}:2:1`,
      key: "errors.name_empty",
      expected: "string",
      actual: "integer",
    });
    await Deno.writeTextFile(file, 'errors = "x"\n');
    e = await configError(loadConfig(opts(dirs)), "config.wrong_type");
    assert.equal(e.params.expected, "table");
    await Deno.writeTextFile(file, "[errors\n");
    await configError(loadConfig(opts(dirs)), "config.toml_invalid");
  });
});

Deno.test("an unreadable config file is an error naming it", async () => {
  await withLayers(async (dirs) => {
    // A directory where a file is expected cannot be read, even as root.
    await Deno.mkdir(join(dirs.user, "defaults.toml"));
    const e = await configError(loadConfig(opts(dirs)), "config.read_failed");
    assert.equal(e.params.path, join(dirs.user, "defaults.toml"));
  });
});

Deno.test("typed accessors: a key of another type or an unknown key is a bug (Internal)", async () => {
  await withLayers(async (dirs) => {
    const config = await loadConfig(opts(dirs));
    assert.throws(
      () => config.integer("general.backend"),
      (e) => e instanceof ProvctlError && e.kind === "Internal",
    );
    assert.throws(
      () => config.get("timeouts.nope"),
      (e) => e instanceof ProvctlError && e.kind === "Internal",
    );
    assert.throws(
      () => config.origin("nope"),
      (e) => e instanceof ProvctlError && e.kind === "Internal",
    );
  });
});
