import assert from "node:assert/strict";
import { join } from "node:path";
import { isProvctlError, ProvctlError } from "../../src/core/errors.ts";
import { loadConfig } from "../../src/config/loader.ts";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";
import { loadServicesFile, parseEnvFile } from "../../src/config/services_file.ts";
import type { ServiceName } from "../../src/core/service_name.ts";

const catalog = new Messages(embeddedMessages());
const render = (e: ProvctlError) => catalog.format(e.key, e.params);
const SERVICE_KEYS =
  "binary, args, env, env_file, working_dir, backend, user, stop_signal, stop_timeout_ms, restart, restart_delay_ms, restart_max_delay_ms, restart_max, restart_window_ms, min_uptime_ms, description";
const FIXTURE = new URL("./fixtures/project/", import.meta.url).pathname;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "provctl_services_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function servicesError(path: string, key: string): Promise<ProvctlError> {
  let caught: unknown;
  try {
    await loadServicesFile(path, { required: true });
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ProvctlError, `expected a ProvctlError, got ${caught}`);
  assert.equal(caught.kind, "InvalidConfig", caught.message);
  assert.equal(caught.key, key, caught.message);
  return caught;
}

Deno.test("services file: every key becomes part of the definition", async () => {
  const file = join(FIXTURE, "provctl.toml");
  const services = await loadServicesFile(file, { required: true });
  assert.deepEqual([...services.keys()], ["api", "worker@1"]);
  const api = services.get("api" as never)!;
  assert.equal(api.origin, `${file}:3`);
  assert.equal(api.backend, "pidfile");
  assert.deepEqual(api.definition, {
    name: "api",
    binary: "/usr/bin/python3",
    args: ["-m", "http.server", "8080"],
    env: {
      // env_file first, inline env wins (MODE).
      MODE: "from-inline",
      DATABASE_URL: "postgres://u:p@localhost/db",
      GREETING: "hello # not a comment",
      PLAIN: "a b c",
      EMPTY: "",
      ESCAPED: 'line1\nline2 "q"',
      URL: "http://x/#frag",
      PORT: "8080",
    },
    envFile: undefined,
    workingDir: join(FIXTURE, "srv"),
    user: "www-data",
    stopSignal: "SIGINT",
    stopTimeoutMs: 2500,
    restartPolicy: "on-failure",
    restartBackoff: undefined,
    description: "API server",
  });
  const worker = services.get("worker@1" as never)!;
  assert.equal(worker.origin, `${file}:16`);
  assert.equal(worker.backend, undefined);
  assert.equal(worker.definition.binary, "sleep");
  assert.deepEqual(worker.definition.args, ["1000"]);
  assert.deepEqual(worker.definition.env, {});
  assert.equal(worker.definition.workingDir, undefined);
});

Deno.test("services file: unset keys take the loaded config's defaults", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      join(dir, "defaults.toml"),
      '[service]\nstop_signal = "SIGQUIT"\nrestart = "always"\n[timeouts]\nstop_ms = 42\n',
    );
    const defaults = await loadConfig({
      systemDir: dir,
      userDir: join(dir, "none"),
      env: { HOME: dir },
    });
    const file = join(dir, "provctl.toml");
    await Deno.writeTextFile(
      file,
      '[services.a]\nbinary = "true"\n[services.b]\nbinary = "true"\nstop_timeout_ms = 7\n',
    );
    const services = await loadServicesFile(file, { required: false, defaults });
    const a = services.get("a" as never)!.definition;
    assert.deepEqual([a.stopSignal, a.stopTimeoutMs, a.restartPolicy], ["SIGQUIT", 42, "always"]);
    assert.equal(services.get("b" as never)!.definition.stopTimeoutMs, 7);
  });
});

Deno.test("services file: missing default file is empty, missing -f file is an error", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "provctl.toml");
    assert.equal((await loadServicesFile(path, { required: false })).size, 0);
    const e = await servicesError(path, "config.services_file_missing");
    assert.equal(
      render(e),
      `services file ${path} does not exist; create it or pass the right file with -f`,
    );
    await Deno.writeTextFile(path, "# nothing yet\n");
    assert.equal((await loadServicesFile(path, { required: true })).size, 0);
    await Deno.writeTextFile(path, "[services]\n");
    assert.equal((await loadServicesFile(path, { required: true })).size, 0);
  });
});

Deno.test("services file: errors carry file:line:col and the full key", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "svc.toml");
    const cases: [string, string, Record<string, unknown>][] = [
      ['[services.web]\nbinary = "x"\nbnary = "y"\n', "config.unknown_key_suggest", {
        location: `${file}:3:1`,
        key: "services.web.bnary",
        suggestion: "services.web.binary",
        allowed: SERVICE_KEYS,
      }],
      ['[services."worker@1"]\nbinary = "x"\nbniary = "y"\n', "config.unknown_key_suggest", {
        location: `${file}:3:1`,
        key: 'services."worker@1".bniary',
        suggestion: 'services."worker@1".binary',
        allowed: SERVICE_KEYS,
      }],
      ['[services.web]\nbinary = "x"\nworkdir = "y"\n', "config.unknown_key_suggest", {
        location: `${file}:3:1`,
        key: "services.web.workdir",
        suggestion: "services.web.working_dir",
        allowed: SERVICE_KEYS,
      }],
      ['[service.web]\nbinary = "x"\n', "config.unknown_key_suggest", {
        location: `${file}:1:2`,
        key: "service",
        suggestion: "services",
      }],
      ['[services.web]\nbinary = ["x"]\n', "config.wrong_type", {
        location: `${file}:2:1`,
        key: "services.web.binary",
        expected: "string",
        actual: "array with string elements",
      }],
      ['[services.web]\nbinary = "x"\nargs = ["a", 1]\n', "config.wrong_type", {
        location: `${file}:3:1`,
        key: "services.web.args",
        expected: "array of strings",
        actual: "array with string and integer elements",
      }],
      ['[services.web]\nbinary = "x"\nstop_timeout_ms = "5s"\n', "config.wrong_type", {
        location: `${file}:3:1`,
        key: "services.web.stop_timeout_ms",
        expected: "integer",
        actual: "string",
      }],
      ['[services.web]\nbinary = "x"\nenv = { A = 1 }\n', "config.wrong_type", {
        location: `${file}:3:9`,
        key: "services.web.env.A",
        expected: "string",
        actual: "integer",
      }],
      ['[services.web]\nbinary = "x"\nenv = "A=1"\n', "config.wrong_type", {
        location: `${file}:3:1`,
        key: "services.web.env",
        expected: "table",
        actual: "string",
      }],
      ['services = { web = "x" }\n', "config.wrong_type", {
        location: `${file}:1:14`,
        key: "services.web",
        expected: "table",
        actual: "string",
      }],
      ['[services.web]\nbinary = "x"\nrestart = "sometimes"\n', "config.not_allowed", {
        location: `${file}:3:1`,
        key: "services.web.restart",
        value: "sometimes",
        allowed: "no, on-failure, always",
      }],
      ['[services.web]\nbinary = "x"\nbackend = "docker"\n', "config.not_allowed", {
        location: `${file}:3:1`,
        key: "services.web.backend",
        value: "docker",
        allowed: "auto, systemd, launchd, pidfile",
      }],
      ['[services.web]\nbinary = "x"\nstop_signal = "STOP"\n', "config.not_allowed", {
        location: `${file}:3:1`,
        key: "services.web.stop_signal",
        value: "STOP",
        allowed: "SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGUSR1, SIGUSR2, SIGTERM",
      }],
      ['[services.web]\nbinary = "x"\nstop_timeout_ms = -5\n', "config.out_of_range", {
        location: `${file}:3:1`,
        key: "services.web.stop_timeout_ms",
        value: "-5",
        range: ">= 0",
      }],
      ['\n\n[services.web]\nargs = ["a"]\n', "config.service_binary_missing", {
        location: `${file}:3:11`,
        service: "web",
      }],
    ];
    for (const [text, key, params] of cases) {
      await Deno.writeTextFile(file, text);
      const e = await servicesError(file, key);
      assert.deepEqual(e.params, params, text);
    }
    await Deno.writeTextFile(file, '[services.web]\nbinary = "x"\nbnary = "y"\n');
    let e = await servicesError(file, "config.unknown_key_suggest");
    assert.equal(
      render(e),
      `${file}:3:1: unknown key services.web.bnary (did you mean services.web.binary?)`,
    );
    assert.equal(e.hint, "config.hint_services_keys");
    assert.match(catalog.format(e.hint!, e.params), /binary, args, env, env_file, working_dir/);

    await Deno.writeTextFile(file, '\n[services.web]\nbinary = "x"\nenv = "A=1"\n');
    e = await servicesError(file, "config.wrong_type");
    assert.equal(render(e), `${file}:4:1: services.web.env must be of type table, found string`);

    await Deno.writeTextFile(file, '[services.web]\nbinary = "x"\nargs = [\n');
    e = await servicesError(file, "config.toml_invalid");
    assert.equal(e.params.file, file);
    assert.equal(e.params.line, 4);
  });
});

Deno.test("services file: invalid names and env names are reported at their position with core's reason", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "provctl.toml");
    await Deno.writeTextFile(
      file,
      '[services.ok]\nbinary = "x"\n\n[services."we b"]\nbinary = "x"\n',
    );
    let e = await servicesError(file, "config.service_invalid");
    assert.equal(
      render(e),
      `${file}:4:11: invalid service name 'we b': space at position 3 is not allowed`,
    );
    assert.equal(e.hint, "hints.service_name_rule");
    assert.match(catalog.format(e.hint!, e.params), /at most 64 characters/);

    await Deno.writeTextFile(file, '[services."../etc"]\nbinary = "x"\n');
    e = await servicesError(file, "config.service_invalid");
    assert.equal(e.params.location, `${file}:1:11`);

    await Deno.writeTextFile(
      file,
      '[services.web]\nbinary = "x"\n[services.web.env]\nOK = "1"\n"1BAD" = "2"\n',
    );
    e = await servicesError(file, "config.service_invalid");
    assert.equal(
      render(e),
      `${file}:5:1: invalid environment variable name '1BAD': use letters, digits and '_', not starting with a digit`,
    );

    await Deno.writeTextFile(file, '[services.web]\nbinary = ""\n');
    e = await servicesError(file, "config.service_invalid");
    assert.equal(render(e), `${file}:2:1: service web: the binary is empty`);
  });
});

Deno.test("services file: env_file and working_dir are relative to the services file", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(join(dir, "conf"));
    await Deno.writeTextFile(join(dir, "conf", "web.env"), "A=1\nB='two'\n");
    const file = join(dir, "conf", "provctl.toml");
    await Deno.writeTextFile(
      file,
      '[services.web]\nbinary = "x"\nenv_file = "web.env"\nworking_dir = "../app"\nenv.B = "inline"\n',
    );
    const web = (await loadServicesFile(file, { required: true })).get("web" as never)!.definition;
    assert.deepEqual(web.env, { A: "1", B: "inline" });
    assert.equal(web.workingDir, join(dir, "app"));

    await Deno.writeTextFile(file, '[services.web]\nbinary = "x"\n\nenv_file = "missing.env"\n');
    const e = await servicesError(file, "config.env_file_unreadable");
    assert.equal(e.params.location, `${file}:4:1`);
    assert.equal(e.params.path, join(dir, "conf", "missing.env"));
    assert.match(
      render(e),
      new RegExp(`^${file}:4:1: cannot read env_file ${join(dir, "conf", "missing.env")}: `),
    );

    await Deno.writeTextFile(join(dir, "conf", "web.env"), "A=1\n\nthis is not an assignment\n");
    await Deno.writeTextFile(file, '[services.web]\nbinary = "x"\nenv_file = "web.env"\n');
    const bad = await servicesError(file, "config.env_file_bad_line");
    assert.equal(
      render(bad),
      `${join(dir, "conf", "web.env")}:3: expected KEY=VALUE, found "this is not an assignment"`,
    );
  });
});

Deno.test("parseEnvFile: comments, export, quotes, escapes and errors with file:line", () => {
  assert.deepEqual(
    parseEnvFile(
      [
        "# comment",
        "",
        "  export A = 1 ",
        'B="x # y"  # c',
        "C='lit\\n'",
        'D="a\\tb\\\\c\\$"',
        "E=x=y",
        "F=",
        "G=unquoted # comment",
        "H=  spaced  ",
      ].join("\r\n"),
      "f.env",
    ),
    { A: "1", B: "x # y", C: "lit\\n", D: "a\tb\\c$", E: "x=y", F: "", G: "unquoted", H: "spaced" },
  );
  const fails: [string, string, Record<string, unknown>][] = [
    ["A=1\nNOEQUALS\n", "config.env_file_bad_line", { file: "f.env", line: 2, text: "NOEQUALS" }],
    ['A="unterminated\n', "config.env_file_bad_line", {
      file: "f.env",
      line: 1,
      text: 'A="unterminated',
    }],
    ["A='x' trailing\n", "config.env_file_bad_line", {
      file: "f.env",
      line: 1,
      text: "A='x' trailing",
    }],
    ["\n\n1A=2\n", "config.env_file_bad_key", { file: "f.env", line: 3, key: "1A" }],
    ["A-B=2\n", "config.env_file_bad_key", { file: "f.env", line: 1, key: "A-B" }],
  ];
  for (const [text, key, params] of fails) {
    assert.throws(() => parseEnvFile(text, "f.env"), (e) => {
      assert.ok(e instanceof ProvctlError);
      assert.equal(e.key, key, text);
      assert.deepEqual(e.params, params, text);
      return true;
    });
  }
});

Deno.test("services file: restart pacing keys reach the definition; bad values are refused with their position", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl_services_" });
  try {
    const path = `${dir}/svc.toml`;
    await Deno.writeTextFile(
      path,
      `[services.web]\nbinary = "x"\nrestart = "always"\nrestart_delay_ms = 250\nrestart_max = 0\nmin_uptime_ms = 100\n`,
    );
    const web = (await loadServicesFile(path, { required: true })).get("web" as ServiceName)!;
    assert.deepEqual(web.definition.restartBackoff, { delayMs: 250, max: 0, minUptimeMs: 100 });
    await Deno.writeTextFile(path, `[services.web]\nbinary = "x"\nrestart_max = -1\n`);
    await assert.rejects(
      loadServicesFile(path, { required: true }),
      (e: unknown) => isProvctlError(e) && /svc\.toml:3/.test(JSON.stringify(e.params)),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
