import assert from "node:assert/strict";
import { isSecretName, MASK, Redactor } from "../../src/observe/redact.ts";
import { isProvctlError } from "../../src/core/errors.ts";

const r = new Redactor();

Deno.test("secret-looking names, by whole word", () => {
  const secret = [
    "PASSWORD",
    "password",
    "DB_PASSWORD",
    "dbPassword",
    "MYSQL_PWD",
    "PASSWD",
    "PASS",
    "passphrase",
    "SECRET",
    "AWS_SECRET_ACCESS_KEY",
    "client-secret",
    "GITHUB_TOKEN",
    "authToken",
    "x-auth-token",
    "KEY",
    "api_key",
    "APIKEY",
    "X-Api-Key",
    "MYAPIKEY",
    "privateKey",
    "CREDENTIALS",
    "creds",
    "Authorization",
    "Proxy-Authorization",
    "AUTH",
    "oauth",
    "HTTP_AUTH",
    "Cookie",
    "DBPASSWORD",
    "githubtoken",
  ];
  const benign = [
    "keyboard",
    "monkey",
    "MONKEY",
    "hockey",
    "PASSIVE",
    "passthrough",
    "compass",
    "TOKENIZER_PARALLELISM",
    "author",
    "GIT_AUTHOR_NAME",
    "authority",
    "PWD",
    "OLDPWD",
    "HOME",
    "PATH",
    "password-file",
    "PASSWORD_STORE_DIR",
    "SSH_AUTH_SOCK",
    "KEY_ID",
    "secret-name",
    "token-path",
    "no-password",
    "public_key",
    "hotkey",
    "",
    "-",
  ];
  for (const name of secret) assert.equal(isSecretName(name), true, name);
  for (const name of benign) assert.equal(isSecretName(name), false, name);
});

Deno.test("env assignments in argv", () => {
  assert.deepEqual(
    r.argv(["env", "PASSWORD=hunter2", "MONKEY=1", "keyboard=us", "API_KEY=abc", "app"]),
    ["env", `PASSWORD=${MASK}`, "MONKEY=1", "keyboard=us", `API_KEY=${MASK}`, "app"],
  );
  assert.deepEqual(r.argv(["PWD=/srv", "HOME=/root"]), ["PWD=/srv", "HOME=/root"]);
  // An empty value stays empty of secrets either way.
  assert.deepEqual(r.argv(["TOKEN="]), ["TOKEN="]);
});

Deno.test("flags: --name=value, --name value, -name value", () => {
  assert.deepEqual(r.argv(["--password=hunter2"]), [`--password=${MASK}`]);
  assert.deepEqual(r.argv(["--token", "abc", "--verbose"]), ["--token", MASK, "--verbose"]);
  assert.deepEqual(r.argv(["-password", "x y z"]), ["-password", MASK]);
  assert.deepEqual(r.argv(["--db-password", "p", "host"]), ["--db-password", MASK, "host"]);
  // A secret flag followed by another flag: that flag is kept (a switch-like secret flag).
  assert.deepEqual(r.argv(["--ask-pass", "--verbose"]), ["--ask-pass", "--verbose"]);
  // Not secrets.
  assert.deepEqual(r.argv(["--keyboard", "us", "--monkey=1"]), ["--keyboard", "us", "--monkey=1"]);
  assert.deepEqual(r.argv(["--password-file", "/run/secrets/pw"]), [
    "--password-file",
    "/run/secrets/pw",
  ]);
  assert.deepEqual(r.argv(["--author", "Jane <j@x>"]), ["--author", "Jane <j@x>"]);
  assert.deepEqual(r.argv(["--no-password", "x"]), ["--no-password", "x"]);
  // The last argument being a secret flag is fine.
  assert.deepEqual(r.argv(["--token"]), ["--token"]);
});

Deno.test("URLs with user:password@", () => {
  assert.equal(
    r.text("https://alice:s3cr3t@example.com/repo.git"),
    `https://alice:${MASK}@example.com/repo.git`,
  );
  assert.equal(
    r.text("postgres://app:p%40ss@db:5432/x and redis://:pw@127.0.0.1:6379"),
    `postgres://app:${MASK}@db:5432/x and redis://:${MASK}@127.0.0.1:6379`,
  );
  // No password: unchanged. Ports are not passwords.
  for (const s of ["https://alice@example.com/", "http://127.0.0.1:8080/health", "ssh://h:22/x"]) {
    assert.equal(r.text(s), s);
  }
  // Query string parameters with secret names.
  assert.equal(
    r.text("https://x/api?token=abc&page=2&api_key=def"),
    `https://x/api?token=${MASK}&page=2&api_key=${MASK}`,
  );
});

Deno.test("headers", () => {
  assert.deepEqual(
    r.argv(["curl", "-H", "Authorization: Bearer eyJ.abc", "-H", "Accept: text/plain"]),
    ["curl", "-H", `Authorization: ${MASK}`, "-H", "Accept: text/plain"],
  );
  assert.equal(r.text("X-Api-Key:abc123"), `X-Api-Key: ${MASK}`);
  assert.equal(r.text("Cookie: session=abc; theme=dark"), `Cookie: ${MASK}`);
  assert.equal(
    r.text(`curl -H 'Authorization: Basic YWxhZGRpbjpvcGVu' https://x`),
    `curl -H 'Authorization: ${MASK}' https://x`,
  );
  // A header inside a longer line whose first "name:" is not secret.
  assert.equal(
    r.text("request failed: Authorization: Bearer zzz"),
    `request failed: Authorization: ${MASK}`,
  );
  assert.equal(r.text("Content-Type: application/json"), "Content-Type: application/json");
});

Deno.test("shell scripts: assignments and flags inside text, quotes kept", () => {
  assert.equal(
    r.text(`PGPASSWORD='a b c' psql -h db --password="x\\"y" -c 'select 1'; echo done`),
    `PGPASSWORD='${MASK}' psql -h db --password="${MASK}" -c 'select 1'; echo done`,
  );
  assert.equal(
    r.text("export GITHUB_TOKEN=ghp_123 && make deploy"),
    `export GITHUB_TOKEN=${MASK} && make deploy`,
  );
  assert.equal(r.text("echo monkey=1 keyboard=2"), "echo monkey=1 keyboard=2");
});

Deno.test("JSON members and PEM private keys", () => {
  assert.equal(
    r.text(`{"user":"a","password":"p\\"w","n":1,"token":123}`),
    `{"user":"a","password":"${MASK}","n":1,"token":${MASK}}`,
  );
  const pem =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----";
  assert.equal(r.text(`printf '%s' '${pem}' > k`), `printf '%s' '${MASK}' > k`);
  // A truncated PEM block is hidden to the end.
  assert.equal(r.text("x -----BEGIN RSA PRIVATE KEY-----\nAAAA"), `x ${MASK}`);
});

Deno.test("extra patterns: whole match, or only the capture groups", () => {
  const custom = new Redactor({ extraPatterns: ["ghp_[A-Za-z0-9]+", /serial=(\d+)-(\d+)/] });
  assert.equal(custom.text("git clone ghp_abcDEF123"), `git clone ${MASK}`);
  assert.equal(custom.text("x serial=12-34 y"), `x serial=${MASK}-${MASK} y`);
  // Default rules still apply.
  assert.equal(custom.text("TOKEN=a"), `TOKEN=${MASK}`);
  // A pattern that can match the empty string does not loop or mask nothing.
  assert.equal(new Redactor({ extraPatterns: ["z*"] }).text("abc"), "abc");
});

Deno.test("an invalid extra pattern is a config error naming it", () => {
  assert.throws(
    () => new Redactor({ extraPatterns: ["(unclosed"] }),
    (e) =>
      isProvctlError(e, "InvalidConfig") && e.key === "observe.redact_pattern_invalid" &&
      e.params.pattern === "(unclosed",
  );
});

Deno.test("command(): one display line, redacted and quoted", () => {
  assert.equal(
    r.command("mysql", ["-u", "root", "--password", "p w", "-e", "select 'x'"]),
    `mysql -u root --password '***' -e 'select '\\''x'\\'''`.replace("'***'", MASK),
  );
  assert.equal(r.command("systemctl", ["restart", "api.service"]), "systemctl restart api.service");
  assert.equal(r.command("sh", ["-c", "A=1 TOKEN=t run"]), `sh -c 'A=1 TOKEN=${MASK} run'`);
});

Deno.test("hostile inputs do not throw and leave no secret behind", () => {
  const secret = "S3CRET-VALUE";
  const cases = [
    `PASSWORD=${secret}`,
    `password=${secret}`,
    `--password=${secret}`,
    `--Password ${secret}`,
    `-p4ss --token=${secret}`,
    `a=b PASSWORD="${secret}" c=d`,
    `Authorization: Bearer ${secret}`,
    `proxy-authorization:${secret}`,
    `https://u:${secret}@h`,
    `{"api_key": "${secret}"}`,
    `env -i SECRET=${secret} API_TOKEN=${secret} sh`,
    `x\nTOKEN=${secret}\ny`,
    `curl "https://h/?access_token=${secret}"`,
  ];
  for (const text of cases) {
    const out = r.text(text);
    assert.equal(out.includes(secret), false, `${text} -> ${out}`);
  }
  // Weird input: long, unicode, NULs, unbalanced quotes.
  for (const text of ["'", '"', "=", "==", "--=", "\0PASSWORD=\0", "é=ü", "x".repeat(100_000)]) {
    assert.equal(typeof r.text(text), "string");
  }
  assert.equal(r.text("PASSWORD=\0x"), `PASSWORD=${MASK}`);
});

Deno.test("real command lines: secrets masked, everything else left as it was", () => {
  const r = new Redactor();
  // [shell text as typed, as it must appear in the audit log]
  const table: [string, string][] = [
    ["curl -u admin:S3cret https://x/", "curl -u admin:*** https://x/"],
    ["curl --user admin:S3cret https://x/", "curl --user admin:*** https://x/"],
    ["curl -uadmin:S3cret https://x/", "curl -uadmin:*** https://x/"],
    [
      "/usr/bin/curl -fsS --user='adm:S3 cr' https://x/",
      "/usr/bin/curl -fsS --user='adm:***' https://x/",
    ],
    ["curl -U proxy:S3cret https://x/", "curl -U proxy:*** https://x/"],
    ["mysql -uroot -pS3cret db", "mysql -uroot -p*** db"],
    ["cd /x && mysql -h db -p'S3cret' app; echo ok", "cd /x && mysql -h db -p*** app; echo ok"],
    ["sudo mysqldump -pS3cret db | gzip > d.gz", "sudo mysqldump -p*** db | gzip > d.gz"],
    ["mysql --password S3cret db", "mysql --password *** db"],
    ["mysql --password=S3cret db", "mysql --password=*** db"],
    ["sshpass -p S3cret ssh host uptime", "sshpass -p *** ssh host uptime"],
    ["sshpass -pS3cret ssh host", "sshpass -p*** ssh host"],
    ["redis-cli -a S3cret ping", "redis-cli -a *** ping"],
    ["docker login -u me -p S3cret registry", "docker login -u me -p *** registry"],
    [
      "curl -H 'Authorization: Bearer S3cret' https://x/",
      "curl -H 'Authorization: ***' https://x/",
    ],
    [
      "git clone https://bot:S3cret@git.example.com/r.git",
      "git clone https://bot:***@git.example.com/r.git",
    ],
    ["PGPASSWORD=S3cret psql -h db -U app", "PGPASSWORD=*** psql -h db -U app"],
    ["curl 'https://x/api?token=S3cret&page=2'", "curl 'https://x/api?token=***&page=2'"],
    ["aws s3 ls --profile p AKIAIOSFODNN7EXAMPLE", "aws s3 ls --profile p ***"],
    [
      "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG aws s3 ls",
      "AWS_SECRET_ACCESS_KEY=*** aws s3 ls",
    ],
    [
      "echo ghp_abcdefghijklmnopqrstuvwxyz0123456789 | gh auth login --with-token",
      "echo *** | gh auth login --with-token",
    ],
    [
      "curl -H 'X-Token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl' x",
      "curl -H 'X-Token: ***' x",
    ],
    // Must stay as they are: no secret, or options that mean something else elsewhere.
    ["mysql -u root -p db", "mysql -u root -p db"],
    ["curl -u admin https://x/", "curl -u admin https://x/"],
    ["docker run -p 8080:80 -u app nginx", "docker run -p 8080:80 -u app nginx"],
    ["ssh -p 2222 -i ~/.ssh/id_ed25519 host", "ssh -p 2222 -i ~/.ssh/id_ed25519 host"],
    ["rsync -a -p src/ dst/", "rsync -a -p src/ dst/"],
    ["ps -p 123 -o user:20,pid", "ps -p 123 -o user:20,pid"],
    [
      "systemctl restart api && curl -fsS http://127.0.0.1:8080/health",
      "systemctl restart api && curl -fsS http://127.0.0.1:8080/health",
    ],
    [
      "tar -xzf api.tar.gz && ln -sfn releases/1.2 current",
      "tar -xzf api.tar.gz && ln -sfn releases/1.2 current",
    ],
    [
      "echo AKIA-not-a-key GIT_AUTHOR_NAME=x --keyboard us",
      "echo AKIA-not-a-key GIT_AUTHOR_NAME=x --keyboard us",
    ],
  ];
  for (const [input, expected] of table) assert.equal(r.text(input), expected, input);

  // The same as argv (no shell): the program decides what its options mean.
  const argv: [string, string[], string][] = [
    ["mysql", ["-pS3cret", "db"], "mysql -p*** db"],
    ["sshpass", ["-p", "S3cret", "ssh", "h"], "sshpass -p *** ssh h"],
    ["curl", ["-u", "a:S3 cret", "https://x/"], "curl -u a:*** https://x/"],
    ["/usr/bin/redis-cli", ["-a", "S3cret"], "/usr/bin/redis-cli -a ***"],
    ["docker", ["login", "-p", "S3cret"], "docker login -p ***"],
    ["docker", ["run", "-p", "80:80", "x"], "docker run -p 80:80 x"],
    ["ssh", ["-p", "22", "h"], "ssh -p 22 h"],
  ];
  for (const [program, args, expected] of argv) {
    assert.equal(r.command(program, args), expected, `${program} ${args.join(" ")}`);
  }
  // Linear time on hostile input.
  const started = performance.now();
  r.text("docker ".repeat(20000));
  r.text("mysql -pX ".repeat(20000));
  assert.ok(performance.now() - started < 5000);
});
