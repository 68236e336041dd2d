/**
 * Several controllers on one PostgreSQL state database, through the real CLI on the
 * loopback sshd fleet: two controllers (own HOME and state dir each) race one deploy;
 * a controller SIGKILLed mid-deploy frees its lock and loses no audit record; PostgreSQL
 * stopping during a fleet exec loses and duplicates nothing.
 */
import assert from "node:assert/strict";
import { fleetUnavailable } from "../helpers/fleet.ts";
import { freePort } from "../fixtures/sshd.ts";
import { processAlive, waitFor } from "../helpers/cli.ts";
import { type DeploySandbox, deploySandbox } from "../fleet/fixtures/deploy/sandbox.ts";
import {
  type PgCluster,
  postgresUnavailable,
  sharedPostgres,
  stopSharedPostgres,
} from "../fixtures/postgres.ts";
import type { AuditRecord } from "../../src/observe/audit_log.ts";
import { PostgresStateBackend } from "../../src/state/postgres_backend.ts";
import { newToken } from "../../src/state/tokens.ts";
import { readEvents, type RunningServer, startServer } from "../helpers/serve.ts";

const unavailable = fleetUnavailable() ?? postgresUnavailable();
if (unavailable) console.error(`shared state tests skipped: ${unavailable}`);

/**
 * A deployment whose machines wait in their before step until the file `gate` exists, so
 * a test decides when a deploy holding the lock may go on (not the machine's speed).
 */
const services = (gate: string) => `
[deployments.site]
artifact = "artifacts/site"
deploy_root = "{deploy_root}/site"
batch = 1
target = { machines = ["m*"] }
steps = { before = ["while [ ! -e ${gate} ]; do sleep 0.05; done"] }
`;

interface Controllers {
  s: DeploySandbox;
  pg: PgCluster;
  db: string;
  /** Controller A's and B's environment: the same database, their own HOME and state. */
  a: Record<string, string>;
  b: Record<string, string>;
  auditOf(env: Record<string, string>): Promise<AuditRecord[]>;
  dbIds(where?: string): Promise<string[]>;
}

async function controllers(name: string, machines: number): Promise<Controllers> {
  const pg = await sharedPostgres();
  const url = await pg.database(name);
  const s = await deploySandbox(machines);
  const env = (who: string) => ({
    HOME: `${s.dir}/${who}`,
    XDG_STATE_HOME: `${s.dir}/${who}/state`,
    PROVCTL_STATE_BACKEND: "postgres",
    PROVCTL_DATABASE_URL: url,
    USER: `operator-${who}`,
  });
  const db = await PostgresStateBackend.open({ url, sslmode: "disable" });
  await db.migrate();
  await db.close();
  return {
    s,
    pg,
    db: name,
    a: env("a"),
    b: env("b"),
    async auditOf(e) {
      try {
        const text = await Deno.readTextFile(`${e.XDG_STATE_HOME}/provctl/audit.jsonl`);
        return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return [];
        throw error;
      }
    },
    async dbIds(where = "true") {
      const out = await pg.psql(`select id from provctl_audit where ${where} order by seq`, name);
      return out === "" ? [] : out.split("\n");
    },
  };
}

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

/**
 * provctl without the flags the deploy sandbox appends (`state status`, and `exec`, whose
 * command after "--" they would join); fleet flags go before "--".
 */
function spawnPlain(c: Controllers, args: string[], env: Record<string, string>) {
  const dash = args.indexOf("--");
  const fleet = ["--inventory", c.s.f.inventory, "--ssh-config", c.s.f.sshConfig];
  const full = dash < 0 ? args : [...args.slice(0, dash), ...fleet, ...args.slice(dash)];
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", MAIN, ...full],
    env: { ...c.s.f.cli.env, PROVCTL_STATE_DIR: "", ...env },
    clearEnv: true,
    cwd: c.s.dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function plain(c: Controllers, args: string[], env: Record<string, string>) {
  return await output(spawnPlain(c, args, env));
}

function output(child: Deno.ChildProcess) {
  return child.output().then((o) => ({
    code: o.code,
    stdout: new TextDecoder().decode(o.stdout),
    stderr: new TextDecoder().decode(o.stderr),
  }));
}

Deno.test({
  name: "two controllers race one deploy: exactly one runs, the other is refused naming it",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const c = await controllers("race", 2);
    try {
      const gate = `${c.s.dir}/gate`;
      await c.s.writeServices(services(gate));
      await c.s.artifact("site", "one");
      const oa = output(c.s.spawn(["deploy", "site", "--version", "v1"], c.a));
      const ob = output(c.s.spawn(["deploy", "site", "--version", "v1"], c.b));
      // The winner waits at the gate holding the lock: the first to end is the loser.
      const first = await Promise.race([oa, ob]);
      assert.equal(first.code, 1, first.stderr);
      await Deno.writeTextFile(gate, "");
      const [ra, rb] = await Promise.all([oa, ob]);
      const results = [ra, rb];
      const won = results.filter((r) => r.code === 0);
      const lost = results.filter((r) => r.code !== 0);
      assert.equal(won.length, 1, `${ra.stderr}\n---\n${rb.stderr}`);
      assert.equal(lost[0].code, 1, lost[0].stderr);
      const winner = ra.code === 0 ? "a" : "b";
      assert.match(
        lost[0].stderr,
        new RegExp(
          `^provctl: error: deployment site is already being deployed or rolled back by pid \\d+ on .* \\(user operator-${winner}, deploy site-\\S+, since \\d{4}-`,
          "m",
        ),
      );
      // The recorded state: one deploy (what it switches to, then how it ended: two
      // revisions), seen by both controllers.
      assert.equal(
        await c.pg.psql(
          "select revision || ' ' || (state->>'version') from provctl_deployments",
          c.db,
        ),
        "2 v1",
      );
      for (const e of [c.a, c.b]) {
        const dry = await c.s.run(["deploy", "site", "--version", "v2", "--dry-run"], e);
        assert.equal(dry.code, 0, dry.stderr);
      }
      assert.equal(await c.pg.psql("select count(*) from provctl_deploy_locks", c.db), "0");

      // While one deploys, the other is refused at once, naming the holder.
      await Deno.remove(gate);
      const running = c.s.spawn(["deploy", "site", "--version", "v2"], c.a);
      await waitFor(
        "A to hold the lock",
        async () => (await c.pg.psql("select count(*) from provctl_deploy_locks", c.db)) === "1",
        90_000,
      );
      const refused = await c.s.run(["rollback", "site"], c.b);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, new RegExp(`by pid ${running.pid} on `));
      assert.match(refused.stderr, /user operator-a, deploy site-/);
      await Deno.writeTextFile(gate, "");
      const done = await output(running);
      assert.equal(done.code, 0, done.stderr);
      const back = await c.s.run(["rollback", "site"], c.b);
      assert.equal(back.code, 0, back.stderr);
      assert.match(
        await c.pg.psql(
          "select revision || ' ' || (state->>'version') from provctl_deployments",
          c.db,
        ),
        /^5 v1$/,
      );
    } finally {
      await c.s.stop();
    }
  },
});

Deno.test({
  name: "a controller SIGKILLed mid-deploy frees its lock; its audit records all reach the table",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const c = await controllers("killed", 3);
    try {
      const gate = `${c.s.dir}/gate`;
      await c.s.writeServices(services(gate));
      await c.s.artifact("site", "one");
      const doomed = c.s.spawn(["deploy", "site", "--version", "v1"], c.a);
      const status = doomed.status;
      // Mid-deploy (waiting in m1's before step): its first operations are recorded.
      await waitFor(
        "A's first audit records in the database",
        async () => (await c.dbIds("op like 'deploy%'")).length >= 2,
        90_000,
      );
      Deno.kill(doomed.pid, "SIGKILL");
      await status;
      assert.equal(processAlive(doomed.pid), false);
      const reported = await c.auditOf(c.a);
      assert.ok(reported.length >= 2);
      // Every record it had acknowledged from the database is there already.
      const before = await c.dbIds();
      assert.ok(before.length >= 2);

      // Its advisory lock went with its session: B deploys at once, and says whose it was.
      await Deno.writeTextFile(gate, "");
      const next = await c.s.run(["deploy", "site", "--version", "v2"], c.b);
      assert.equal(next.code, 0, next.stderr);
      assert.match(
        next.stderr,
        new RegExp(`recovered the lock of a deploy that died \\(pid ${doomed.pid}`),
      );
      assert.equal(
        await c.pg.psql(
          "select revision || ' ' || (state->>'version') from provctl_deployments",
          c.db,
        ),
        "2 v2", // B: what it was about to switch to, then how it ended
      );

      // A record written locally in the instant before the kill, not yet sent, goes with
      // A's next run (here its status); then the table holds exactly A's log, once each.
      const st = await plain(c, ["state", "status", "-o", "json"], c.a);
      assert.equal(st.code, 0, st.stderr);
      assert.equal(JSON.parse(st.stdout).audit_backlog, 0);
      const ids = await c.dbIds(`(record->>'pid')::int = ${doomed.pid}`);
      assert.deepEqual(ids, reported.map((r) => r.id));
      assert.equal(
        await c.pg.psql("select count(*) - count(distinct id) from provctl_audit", c.db),
        "0",
      );
      // B's own records are there too.
      const bIds = (await c.auditOf(c.b)).map((r) => r.id!);
      const all = new Set(await c.dbIds());
      assert.ok(bIds.length > 0 && bIds.every((id) => all.has(id)));
    } finally {
      await c.s.stop();
    }
  },
});

Deno.test({
  name: "PostgreSQL down during a fleet exec: the exec finishes, the backlog follows, once each",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const c = await controllers("outage", 3);
    try {
      // Down in the middle: machines run one at a time, each when the test opens its gate
      // (m1 with the database up, m2 while it is down, m3 once it is back).
      const gate = `${c.s.dir}/gate`;
      const exec = spawnPlain(c, [
        "exec",
        "--all",
        "--forks",
        "1",
        "--",
        "sh",
        "-c",
        `while [ ! -e ${gate} ]; do sleep 0.05; done; rm -f ${gate}; echo hi`,
      ], c.a);
      const open = () => Deno.writeTextFile(gate, "");
      await open();
      await waitFor(
        "m1's record in the database",
        async () => (await c.dbIds()).length === 1,
        60_000,
      );
      await c.pg.stopServer();
      await open();
      await waitFor(
        "m2's record in the local log",
        async () => (await c.auditOf(c.a)).length === 2,
        60_000,
      );
      await c.pg.startServer();
      await open();
      const done = await output(exec);
      assert.equal(done.code, 0, done.stderr);
      assert.equal(done.stdout.match(/hi/g)?.length, 3, done.stdout);
      // It did write during the outage, and sent that backlog once the database was back.
      assert.match(done.stderr, /state database is unreachable/);
      assert.match(done.stderr, /state database is back: sent [1-9]\d* audit records/);
      let local = (await c.auditOf(c.a)).map((r) => r.id);
      assert.equal(local.length, 3);
      assert.deepEqual(await c.dbIds(), local);

      // Down for a whole exec: it still runs (with one warning); the next run sends it all.
      await c.pg.stopServer();
      const offline = await plain(c, ["exec", "--all", "--", "echo", "hi"], c.a);
      assert.equal(offline.code, 0, offline.stderr);
      assert.equal(offline.stdout.match(/hi/g)?.length, 3, offline.stdout);
      assert.equal(
        offline.stderr.match(/state database is unreachable/g)?.length,
        1,
        offline.stderr,
      );
      const refused = await plain(c, ["state", "status"], c.a);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /cannot reach the state database/);
      await c.pg.startServer();
      const status = await plain(c, ["state", "status"], c.a);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /^audit backlog\s+0 records/m);
      local = (await c.auditOf(c.a)).map((r) => r.id);
      assert.equal(local.length, 6);
      assert.deepEqual(await c.dbIds(), local);
      assert.equal(await c.pg.psql("select count(distinct id) from provctl_audit", c.db), "6");
      // Another controller's `provctl audit` reads them from the database.
      const seen = await plain(c, ["audit", "-o", "json"], c.b);
      assert.equal(seen.code, 0, seen.stderr);
      assert.deepEqual(seen.stdout.trim().split("\n").map((l) => JSON.parse(l).id), local);
      // Append-only: not even the owner can change or delete a record.
      await assert.rejects(
        c.pg.psql("update provctl_audit set result = 'ok'", c.db),
        /append-only/,
      );
      await assert.rejects(c.pg.psql("delete from provctl_audit", c.db), /append-only/);
    } finally {
      await c.s.stop();
    }
  },
});

Deno.test({
  name: "two provctl serve on one database: an exec started on one streams and shows on the other",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const c = await controllers("serve", 2);
    const servers: RunningServer[] = [];
    try {
      await c.s.writeServices(services(c.s.dir));
      const db = await PostgresStateBackend.open({
        url: c.a.PROVCTL_DATABASE_URL,
        sslmode: "disable",
      });
      const { secret, stored } = await newToken({ name: "ci", scope: "operate" });
      await db.tokens.add(stored);
      await db.close();
      const a = await startServer((args) => c.s.spawn(args, c.a));
      servers.push(a);
      const b = await startServer((args) => c.s.spawn(args, c.b));
      servers.push(b);
      const headers = { authorization: `Bearer ${secret}` };

      const stream = await fetch(`${b.url}/api/v1/events?topics=operation,audit`, { headers });
      assert.equal(stream.status, 200);
      // Set once A answered (the stream is opened first, so no event is missed).
      const target = { id: "" };
      const seen = readEvents(
        stream,
        (events) =>
          target.id !== "" &&
          events.some((e) =>
            e.event === "operation" && JSON.parse(e.data!).type === "finished" &&
            JSON.parse(e.data!).data.id === target.id
          ),
        60_000,
      );
      // Started on A (the token, created in the database, is known to both).
      const started = await fetch(`${a.url}/api/v1/exec`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify({ machines: ["m*"], argv: ["echo", "hi"] }),
      });
      assert.equal(started.status, 202, await started.clone().text());
      target.id = (await started.json()).id;
      const opId = target.id;
      const events = await seen;
      const mine = events.filter((e) => e.event === "operation")
        .map((e) => JSON.parse(e.data!)).filter((e) => e.data.id === opId);
      assert.deepEqual(mine.map((e) => e.type).filter((t) => t !== "machine"), [
        "started",
        "finished",
      ]);
      const audit = events.filter((e) => e.event === "audit").map((e) => JSON.parse(e.data!).data);
      assert.ok(audit.some((r) => r.op === "exec" && r.operator === "ci"), JSON.stringify(audit));
      // B answers for A's operation, from the database.
      let op: { status: string; results: unknown[] } | undefined;
      for (let i = 0; i < 100; i++) {
        const res = await fetch(`${b.url}/api/v1/operations/${opId}`, { headers });
        assert.equal(res.status, 200);
        op = await res.json();
        if (op!.status !== "running") break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(op!.status, "succeeded", JSON.stringify(op));
      assert.equal(op!.results.length, 2);
      const list = await (await fetch(`${b.url}/api/v1/operations`, { headers })).json();
      assert.ok(list.items.some((o: { id: string }) => o.id === opId));
      // B's /audit pages the database: A's exec records are there, newest first.
      const page = await (await fetch(`${b.url}/api/v1/audit?op=exec&limit=1`, { headers }))
        .json();
      assert.equal(page.records.length, 1);
      assert.equal(page.records[0].operator, "ci");
      assert.equal(page.next_cursor, "1");
      const older = await (await fetch(`${b.url}/api/v1/audit?op=exec&cursor=1`, { headers }))
        .json();
      assert.deepEqual(
        [...older.records, ...page.records].map((r: { machine: string }) => r.machine).sort(),
        ["m1", "m2"],
      );
    } finally {
      for (const server of servers) assert.equal(await server.stop(), 0, server.stderr());
      await c.s.stop();
    }
  },
});

Deno.test({
  name: "SSH circuit breakers are shared: one controller's failures open it for the other",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const c = await controllers("breakers", 1);
    try {
      await Deno.writeTextFile(
        `${c.s.dir}/config/provctl/defaults.toml`,
        "[ssh]\nbreaker_threshold = 2\nretry_attempts = 1\nbreaker_cooldown_ms = 600000\n",
        { append: true },
      );
      const port = freePort("127.0.0.1");
      await Deno.writeTextFile(
        c.s.f.inventory,
        `\n[machines.dead]\nhost = "127.0.0.1"\nport = ${port}\nuser = "root"\n` +
          `identity = "${c.s.f.fleet.clientKey}"\n`,
        { append: true },
      );
      for (let i = 0; i < 2; i++) {
        const down = await plain(c, ["exec", "-m", "dead", "--", "true"], c.a);
        assert.equal(down.code, 1, down.stderr);
        assert.match(down.stderr, /unreachable/);
      }
      // B never tried: the open circuit it sees (and fails fast on) is A's.
      const listed = await plain(c, ["hosts", "breakers", "-o", "json"], c.b);
      assert.equal(listed.code, 0, listed.stderr);
      const row = JSON.parse(listed.stdout);
      assert.equal(row.host, `127.0.0.1:${port}`);
      assert.equal(row.state, "open");
      const fast = await plain(c, ["exec", "-m", "dead", "--", "true"], c.b);
      assert.equal(fast.code, 1, fast.stderr);
      assert.match(fast.stderr, /circuit open after 2 consecutive connection failures/);
      await assert.rejects(Deno.stat(`${c.b.XDG_STATE_HOME}/provctl/breakers`));
      const reset = await plain(c, ["hosts", "breakers", "--reset", "all"], c.b);
      assert.equal(reset.code, 0, reset.stderr);
      assert.equal((await plain(c, ["hosts", "breakers", "-o", "json"], c.a)).stdout, "");
    } finally {
      await c.s.stop();
    }
  },
});

Deno.test({
  name:
    "a deploy whose database session was lost still runs: the next one is refused at its machines",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const c = await controllers("lost_session", 2);
    try {
      const gate = `${c.s.dir}/gate`;
      await c.s.writeServices(services(gate));
      await c.s.artifact("site", "one");
      const a = c.s.spawn(["deploy", "site", "--version", "v1"], c.a);
      const ra = output(a);
      // A holds every machine's lock and waits in m1's before step.
      await waitFor(
        "A in m1's before step",
        async () => {
          try {
            await Deno.stat(`${c.s.hosts[0].root}/site/releases/v1`);
            return true;
          } catch {
            return false;
          }
        },
        90_000,
      );
      // Its advisory lock goes with its session (a database restart, a dropped
      // connection), but A itself carries on: it is not dead.
      await c.pg.psql(
        "select pg_terminate_backend(session_pid) from provctl_deploy_locks",
        c.db,
      );
      const rb = output(c.s.spawn(["deploy", "site", "--version", "v1"], c.b));
      // B must be refused at A's machine locks, not break them and deploy alongside A.
      const first = await Promise.race([
        rb.then(() => "b"),
        new Promise((r) => setTimeout(() => r("timeout"), 30_000)),
      ]);
      await Deno.writeTextFile(gate, "");
      const [doneA, doneB] = await Promise.all([ra, rb]);
      assert.equal(first, "b", `B was not refused: ${doneB.stderr}`);
      assert.equal(doneB.code, 1, doneB.stderr);
      assert.match(doneB.stderr, new RegExp(`machine m1 is locked by pid ${a.pid} on `));
      assert.match(doneB.stderr, /whose state database session ended/);
      for (const [i] of c.s.hosts.entries()) {
        assert.equal(await c.s.current(i, "site"), "releases/v1");
      }
      // A carries on to the end and records its outcome (its lost session is no crash).
      assert.equal(doneA.code, 0, doneA.stderr);
      assert.equal(
        await c.pg.psql("select state->>'version' from provctl_deployments", c.db),
        "v1",
      );
    } finally {
      await c.s.stop();
    }
  },
});

Deno.test({
  name: "shared state tests: stop the cluster",
  ignore: Boolean(unavailable),
  fn: stopSharedPostgres,
});
