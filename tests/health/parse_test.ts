import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { isProvctlError } from "../../src/core/errors.ts";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";
import { parseHealthCheck, parseHealthScripts } from "../../src/health/checks.ts";

const messages = new Messages(embeddedMessages());
const WHERE = "deploy.toml:7 [deployments.web.health]";

/** Parses TOML the way provctl's config files are parsed (integers as BigInt). */
function toml(text: string): Record<string, unknown> {
  return parse(text, { integersAsBigInt: true }) as Record<string, unknown>;
}

Deno.test("http checks from TOML: defaults and every option", () => {
  assert.deepEqual(
    parseHealthCheck(toml('type = "http"\nurl = "http://127.0.0.1:8080/health"'), WHERE),
    {
      type: "http",
      url: "http://127.0.0.1:8080/health",
      from: "controller",
      method: "GET",
      status: { min: 200, max: 399 },
      headers: {},
      tlsInsecure: false,
    },
  );
  const full = parseHealthCheck(
    toml(`
type = "http"
url = "https://127.0.0.1:8443/ready"
from = "remote"
method = "get"
status = "200-204"
headers = { Authorization = "Bearer x", "X-Probe" = "provctl" }
body_regex = '^\\{"status":"ok"'
timeout_ms = 2500
ca_file = "/etc/ssl/private/test-ca.pem"
`),
    WHERE,
  );
  assert.deepEqual(full, {
    type: "http",
    timeoutMs: 2500,
    url: "https://127.0.0.1:8443/ready",
    from: "remote",
    method: "GET",
    status: { min: 200, max: 204 },
    headers: { Authorization: "Bearer x", "X-Probe": "provctl" },
    bodyRegex: '^\\{"status":"ok"',
    tlsInsecure: false,
    caFile: "/etc/ssl/private/test-ca.pem",
  });
  const statuses: [string, { min: number; max: number }][] = [
    ["status = 204", { min: 204, max: 204 }],
    ['status = "503"', { min: 503, max: 503 }],
    ['status = "2xx"', { min: 200, max: 299 }],
    ["status = [200, 302]", { min: 200, max: 302 }],
  ];
  for (const [line, range] of statuses) {
    const check = parseHealthCheck(toml(`type = "http"\nurl = "http://h/"\n${line}`), WHERE);
    assert.deepEqual(check.type === "http" && check.status, range, line);
  }
});

Deno.test("command, tcp and custom checks from TOML", () => {
  assert.deepEqual(
    parseHealthCheck(
      toml(
        'type = "command"\nprogram = "pg_isready"\nargs = ["-h", "127.0.0.1"]\nenv = { PGCONNECT_TIMEOUT = "2" }',
      ),
      WHERE,
    ),
    {
      type: "command",
      program: "pg_isready",
      args: ["-h", "127.0.0.1"],
      env: { PGCONNECT_TIMEOUT: "2" },
    },
  );
  assert.deepEqual(parseHealthCheck(toml('type = "tcp"\nhost = "127.0.0.1"\nport = 5432'), WHERE), {
    type: "tcp",
    host: "127.0.0.1",
    port: 5432,
    from: "controller",
  });
  assert.deepEqual(
    parseHealthCheck(toml('type = "tcp"\naddress = "[::1]:6379"\nfrom = "remote"'), WHERE),
    { type: "tcp", host: "::1", port: 6379, from: "remote" },
  );
  const scripts = parseHealthScripts(
    toml('[queue]\nprogram = "/usr/local/bin/queue-depth"\nargs = ["--max", "1000"]\ncwd = "/srv"'),
    "machines.toml [health.scripts]",
  );
  assert.deepEqual(
    parseHealthCheck(toml('type = "custom"\nscript = "queue"\nargs = ["--verbose"]'), WHERE, {
      scripts,
    }),
    {
      type: "custom",
      script: "queue",
      program: "/usr/local/bin/queue-depth",
      args: ["--max", "1000", "--verbose"],
      cwd: "/srv",
    },
  );
});

Deno.test("bad health check tables are InvalidConfig errors naming the place and the fix", () => {
  const scripts = parseHealthScripts({ db: { program: "db-ping" } }, "s");
  const cases: [unknown, string, RegExp][] = [
    ["http://x", "health.check_not_table", /must be a table .* found string/],
    [{ url: "http://x/" }, "health.type_missing", /has no type; set type = "command"/],
    [
      { type: "grpc" },
      "health.unknown_type",
      /unknown health check type 'grpc'; use one of command, http, tcp, custom/,
    ],
    [
      { type: "http", url: "http://x/", verb: "GET" },
      "health.unknown_key",
      /unknown key 'verb' in a http health check; allowed keys: type, timeout_ms, url/,
    ],
    [{ type: "http" }, "health.missing_key", /a http health check needs url/],
    [{ type: "http", url: "" }, "health.empty_value", /url must not be empty/],
    [{ type: "http", url: "ftp://x/" }, "health.bad_url", /invalid url 'ftp:\/\/x\/'/],
    [{ type: "http", url: "/health" }, "health.bad_url", /absolute http/],
    [{ type: "http", url: "http://x/", method: "POST" }, "health.bad_method", /use GET or HEAD/],
    [
      { type: "http", url: "http://x/", from: "elsewhere" },
      "health.bad_from",
      /use controller .* or remote/,
    ],
    [{ type: "http", url: "http://x/", status: "600" }, "health.bad_status", /invalid status 600/],
    [
      { type: "http", url: "http://x/", status: "399-200" },
      "health.bad_status",
      /invalid status 399-200/,
    ],
    [
      { type: "http", url: "http://x/", status: [200] },
      "health.bad_status",
      /invalid status \[200\]/,
    ],
    [
      { type: "http", url: "http://x/", headers: { "Bad Name": "x" } },
      "health.bad_header",
      /invalid header 'Bad Name'/,
    ],
    [
      { type: "http", url: "http://x/", headers: { X: "a\r\nInjected: 1" } },
      "health.bad_header",
      /line breaks/,
    ],
    [
      { type: "http", url: "http://x/", headers: { X: 1n } },
      "health.wrong_type",
      /headers must be a table of strings, found table/,
    ],
    [
      { type: "http", url: "http://x/", body_regex: "(" },
      "health.bad_regex",
      /invalid body_regex '\('/,
    ],
    [
      { type: "http", url: "http://x/", method: "HEAD", body_contains: "ok" },
      "health.body_with_head",
      /need method = "GET"/,
    ],
    [
      { type: "http", url: "http://x/", tls_insecure: true },
      "health.tls_without_https",
      /https:\/\/ URLs only/,
    ],
    [
      { type: "http", url: "https://x/", tls_insecure: "yes" },
      "health.wrong_type",
      /tls_insecure must be true or false, found string/,
    ],
    [
      { type: "http", url: "https://x/", tls_insecure: true, ca_file: "/ca.pem" },
      "health.tls_conflict",
      /not both/,
    ],
    [
      { type: "http", url: "http://x/", timeout_ms: 0n },
      "health.bad_timeout",
      /invalid timeout_ms 0/,
    ],
    [
      { type: "http", url: "http://x/", timeout_ms: 1.5 },
      "health.wrong_type",
      /timeout_ms must be an integer, found float/,
    ],
    [{ type: "tcp", host: "127.0.0.1" }, "health.missing_key", /a tcp health check needs port/],
    [{ type: "tcp", host: "127.0.0.1", port: 70000n }, "health.bad_port", /invalid port 70000/],
    [{ type: "tcp", host: "-oProxyCommand=x", port: 22n }, "health.bad_host", /leading '-'/],
    [{ type: "tcp", address: "127.0.0.1" }, "health.bad_address", /use HOST:PORT/],
    [{ type: "tcp", address: "127.0.0.1:80", port: 81n }, "health.address_and_host", /not both/],
    [
      { type: "command", args: ["x"] },
      "health.missing_key",
      /a command health check needs program/,
    ],
    [
      { type: "command", program: "x", args: "a b" },
      "health.wrong_type",
      /args must be an array of strings, found string/,
    ],
    [{ type: "command", program: "x", env: { "1X": "y" } }, "health.bad_env_key", /'1X'/],
    [
      { type: "custom", script: "db" },
      "health.no_scripts",
      /add \[health\.scripts\.db\] with program and args/,
    ],
  ];
  for (const [value, key, text] of cases) {
    let caught: unknown;
    try {
      parseHealthCheck(value, WHERE);
    } catch (e) {
      caught = e;
    }
    assert.ok(
      isProvctlError(caught, "InvalidConfig"),
      `${JSON.stringify(value, (_, v) => typeof v === "bigint" ? Number(v) : v)}: ${caught}`,
    );
    assert.equal(caught.key, key);
    const rendered = messages.format(caught.key, caught.params);
    assert.ok(rendered.startsWith(`${WHERE}: `), rendered);
    assert.match(rendered, text);
  }
  assert.throws(
    () => parseHealthCheck({ type: "custom", script: "cache" }, WHERE, { scripts }),
    (e) =>
      isProvctlError(e) &&
      messages.format(e.key, e.params) ===
        `${WHERE}: no health script named 'cache'; defined scripts: db`,
  );
});

Deno.test("bad health script tables are InvalidConfig errors", () => {
  const render = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (isProvctlError(e, "InvalidConfig")) return messages.format(e.key, e.params);
      throw e;
    }
    assert.fail("no error");
  };
  assert.match(
    render(() => parseHealthScripts([], "m.toml [health.scripts]")),
    /must be a table of NAME = /,
  );
  assert.match(
    render(() => parseHealthScripts({ db: "db-ping" }, "m.toml")),
    /health script 'db' must be a table/,
  );
  assert.match(
    render(() => parseHealthScripts({ "-x": { program: "p" } }, "m.toml")),
    /invalid health script name '-x'/,
  );
  assert.match(
    render(() => parseHealthScripts({ db: { args: [] } }, "m.toml")),
    /m\.toml \(script db\): a script health check needs program/,
  );
  assert.match(
    render(() => parseHealthScripts({ db: { program: "p", shell: true } }, "m.toml")),
    /unknown key 'shell'/,
  );
});
