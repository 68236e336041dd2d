/**
 * Deploys on a loopback fleet of real sshd hosts, each serving its `current` release
 * over HTTP (python3 -m http.server, started through the pidfile backend by the deploy):
 * dry run, rolling, pruning, manual rollback, a failing canary, blue-green switch and
 * rollback, a refused concurrent deploy, and a deploy killed midway. The commands run
 * as separate processes of the real CLI.
 */
import assert from "node:assert/strict";
import { fleetUnavailable } from "../helpers/fleet.ts";
import { type DeploySandbox, deploySandbox } from "./fixtures/deploy/sandbox.ts";

const unavailable = fleetUnavailable();
if (unavailable) console.error(`deploy fleet tests skipped: ${unavailable}`);

const HEALTH = (port: string) =>
  `type = "http"\nurl = "http://{host}:{${port}}/health.txt"\nbody_contains = "ok"\nfrom = "remote"\n`;

const SERVICES = `
[services.web]
binary = "/usr/bin/python3"
args = ["-m", "http.server", "{web_port}", "--bind", "{host}", "--directory", "{current_dir}"]

[services.canary]
binary = "/usr/bin/python3"
args = ["-m", "http.server", "{canary_port}", "--bind", "{host}", "--directory", "{current_dir}"]

[services.bg]
binary = "/usr/bin/python3"
args = ["-m", "http.server", "{bg_port}", "--bind", "{host}", "--directory", "{current_dir}"]

[deployments.web]
service = "web"
strategy = "rolling"
batch = 2
artifact = "artifacts/web"
deploy_root = "{deploy_root}/web"
keep_releases = 2
health_wait_ms = 8000
target = { all = true }
steps = { before = ["test -f version.txt"], after = ["echo {version} > {deploy_root}/after-{name}.txt"] }

[deployments.web.health]
${HEALTH("web_port")}
[deployments.canary]
service = "canary"
strategy = "canary"
canary = 1
batch = "50%"
artifact = "artifacts/canary"
deploy_root = "{deploy_root}/canary"
health_wait_ms = 2500
target = { machines = ["m*"] }

[deployments.canary.health]
${HEALTH("canary_port")}
[deployments.bg]
service = "bg"
strategy = "blue-green"
artifact = "artifacts/bg"
deploy_root = "{deploy_root}/bg"
health_wait_ms = 8000
switch = "echo {group} {version} {hosts} > lb-bg.txt"
groups.blue = { machines = ["m1", "m2"] }
groups.green = { machines = ["m3", "m4"] }

[deployments.bg.health]
${HEALTH("bg_port")}
[deployments.slow]
strategy = "rolling"
batch = 2
artifact = "artifacts/slow"
deploy_root = "{deploy_root}/slow"
target = { all = true }
# The PID of the sleep goes next to the root, so the test can stop what it left running.
steps = { after = ["echo $$ > {deploy_root}.sleep-{name}.pid; exec sleep {sleep}"] }
`;

interface AuditLine {
  machine: string;
  op: string;
  result: string;
  deployment_id?: string;
  command?: string;
}

async function audit(s: DeploySandbox): Promise<AuditLine[]> {
  const text = await Deno.readTextFile(`${s.stateDir}/audit.jsonl`);
  return text.trim().split("\n").map((l) => JSON.parse(l));
}

/** Everything under the deploy roots and the controller's state dir: path -> link/size. */
async function snapshot(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string) => {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(p);
    } catch {
      out.push(`${p} (missing)`);
      return;
    }
    if (info.isSymlink) out.push(`${p} -> ${await Deno.readLink(p)}`);
    else if (info.isDirectory) {
      out.push(`${p}/`);
      const names: string[] = [];
      for await (const e of Deno.readDir(p)) names.push(e.name);
      for (const n of names.sort()) await walk(`${p}/${n}`);
    } else out.push(`${p} ${info.size} ${info.mtime?.getTime()}`);
  };
  for (const p of paths) await walk(p);
  return out;
}

Deno.test({
  name: "deploy on a loopback fleet",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const s = await deploySandbox(4);
    try {
      await s.writeServices(SERVICES);
      await s.artifact("web", "v1");

      await t.step("dry run prints the plan and changes nothing", async () => {
        const watched = [...s.hosts.map((h) => h.root), s.stateDir];
        const before = await snapshot(watched);
        const dry = await s.run(["deploy", "web", "--version", "v1", "--dry-run"]);
        assert.equal(dry.code, 0, dry.stderr);
        assert.match(dry.stdout, /Plan: deploy web v1 \(rolling\) to 4 machine/);
        assert.match(dry.stdout, /batch 1\/2: m1, m2/);
        assert.match(dry.stdout, /batch 2\/2: m3, m4/);
        const h = s.hosts[2];
        assert.ok(dry.stdout.includes(`m3: deploy root ${h.root}/web`));
        assert.ok(
          dry.stdout.includes(
            `after (in ${h.root}/web/releases/v1): echo v1 > ${h.root}/web/after-m3.txt`,
          ),
        );
        assert.ok(
          dry.stdout.includes(
            `restart web: /usr/bin/python3 -m http.server ${h.ports.web_port} --bind ${h.address}`,
          ),
        );
        assert.ok(
          dry.stdout.includes(`health: `) &&
            dry.stdout.includes(`http://${h.address}:${h.ports.web_port}/health.txt`),
        );
        const json = await s.run(["deploy", "web", "--version", "v1", "--dry-run", "-o", "json"]);
        assert.equal(json.code, 0, json.stderr);
        const plan = JSON.parse(json.stdout).plan;
        assert.deepEqual(plan.batches.map((b: { machines: string[] }) => b.machines), [
          ["m1", "m2"],
          [
            "m3",
            "m4",
          ],
        ]);
        assert.deepEqual(await snapshot(watched), before);
      });

      await t.step("a rolling deploy puts every machine on the new release", async () => {
        const v1 = await s.run(["deploy", "web", "--version", "v1"]);
        assert.equal(v1.code, 0, v1.stderr + v1.stdout);
        await s.artifact("web", "v2");
        const v2 = await s.run(["deploy", "web", "--version", "v2", "-o", "json"]);
        assert.equal(v2.code, 0, v2.stderr + v2.stdout);
        const result = JSON.parse(v2.stdout);
        assert.equal(result.ok, true);
        assert.deepEqual(
          result.machines.map((h: { status: string; previous: string }) => [h.status, h.previous]),
          [
            ["deployed", "v1"],
            ["deployed", "v1"],
            ["deployed", "v1"],
            ["deployed", "v1"],
          ],
        );
        assert.match(v2.stderr, /Batch 1\/2: m1, m2[\s\S]*Batch 2\/2: m3, m4/);
        for (const [i] of s.hosts.entries()) {
          assert.equal(await s.current(i, "web"), "releases/v2");
          assert.deepEqual(await s.get(i, "web_port", "/version.txt"), { status: 200, body: "v2" });
          assert.equal(
            (await Deno.readTextFile(`${s.hosts[i].root}/web/after-m${i + 1}.txt`)).trim(),
            "v2",
          );
        }
        // Every remote operation is in the audit log under the deployment id.
        const records = (await audit(s)).filter((r) => r.deployment_id === result.deployment_id);
        for (
          const op of [
            "deploy.upload",
            "deploy.step",
            "deploy.switch",
            "deploy.restart",
            "deploy.health",
          ]
        ) {
          for (const m of ["m1", "m2", "m3", "m4"]) {
            assert.ok(
              records.some((r) => r.op === op && r.machine === m && r.result === "ok"),
              `${op} on ${m}`,
            );
          }
        }
        const metrics = JSON.parse(await Deno.readTextFile(`${s.stateDir}/metrics.json`));
        assert.match(JSON.stringify(metrics), /deploy\.switch/);
      });

      await t.step(
        "old releases are pruned; rollback goes back and --to picks a release",
        async () => {
          await s.artifact("web", "v3");
          const v3 = await s.run(["deploy", "web", "--version", "v3"]);
          assert.equal(v3.code, 0, v3.stderr + v3.stdout);
          for (const [i] of s.hosts.entries()) {
            assert.deepEqual(await s.releases(i, "web"), ["v2", "v3"]);
          }

          const back = await s.run(["rollback", "web"]);
          assert.equal(back.code, 0, back.stderr + back.stdout);
          assert.match(back.stdout, /Rolled back web to v2 on 4 machine/);
          for (const [i] of s.hosts.entries()) {
            assert.equal(await s.current(i, "web"), "releases/v2");
            assert.deepEqual(await s.get(i, "web_port", "/version.txt"), {
              status: 200,
              body: "v2",
            });
          }
          const to = await s.run(["rollback", "web", "--to", "v3", "-m", "m4"]);
          assert.equal(to.code, 0, to.stderr + to.stdout);
          assert.equal(await s.current(3, "web"), "releases/v3");
          assert.equal(await s.current(0, "web"), "releases/v2");
          assert.deepEqual(await s.get(3, "web_port", "/version.txt"), { status: 200, body: "v3" });

          const missing = await s.run(["rollback", "web", "--to", "v1"]);
          assert.equal(missing.code, 3);
          assert.match(
            missing.stderr,
            /nothing was changed: the release is missing on: m1, m2, m3, m4;/,
          );
          assert.equal(
            await s.current(0, "web"),
            "releases/v2",
            "nothing changed on a failed rollback",
          );
          assert.ok((await audit(s)).some((r) => r.op === "rollback" && r.machine === "m1"));
        },
      );

      await t.step(
        "a canary failing its health check is rolled back, the rest untouched",
        async () => {
          await s.artifact("canary", "good");
          const good = await s.run(["deploy", "canary", "--version", "good"]);
          assert.equal(good.code, 0, good.stderr + good.stdout);
          await s.artifact("canary", "bad", { healthy: false });
          const bad = await s.run(["deploy", "canary", "--version", "bad", "-o", "json"]);
          assert.equal(bad.code, 1, bad.stderr + bad.stdout);
          const result = JSON.parse(bad.stdout);
          assert.equal(result.ok, false);
          assert.equal(result.rolled_back, true);
          assert.equal(result.reason, "canary");
          assert.deepEqual(result.machines.map((h: { status: string }) => h.status), [
            "rolled-back",
            "skipped",
            "skipped",
            "skipped",
          ]);
          assert.equal(result.machines[0].stage, "health");
          assert.match(bad.stderr, /m1: failed at health/);
          assert.match(bad.stderr, /m1: back on good/);
          // The canary is back on the good release and serves it; the others never saw "bad".
          assert.equal(await s.current(0, "canary"), "releases/good");
          assert.deepEqual(await s.get(0, "canary_port", "/health.txt"), {
            status: 200,
            body: "ok",
          });
          for (const i of [1, 2, 3]) {
            assert.equal(await s.current(i, "canary"), "releases/good");
            assert.deepEqual(await s.releases(i, "canary"), ["good"]);
          }
          const records = (await audit(s)).filter((r) => r.deployment_id === result.deployment_id);
          assert.ok(
            records.some((r) =>
              r.machine === "m1" && r.op === "deploy.health" && r.result !== "ok"
            ),
          );
          assert.ok(
            records.some((r) => r.machine === "m1" && r.op === "rollback" && r.result === "ok"),
          );
          // Every machine of the deployment was locked (and unlocked); only the canary changed.
          const changes = records.filter((r) =>
            !/^deploy\.(lock|unlock)/.test(r.op) && r.machine !== "controller"
          );
          assert.ok(!changes.some((r) => r.machine !== "m1"), "only the canary was touched");
          assert.ok(records.some((r) => r.machine === "m4" && r.op === "deploy.lock"));
          const state = JSON.parse(await Deno.readTextFile(`${s.stateDir}/deploy/canary.json`));
          assert.equal(state.version, "good");
        },
      );

      await t.step(
        "blue-green: deploy to the idle group, switch, roll back instantly",
        async () => {
          const lb = `${s.dir}/lb-bg.txt`;
          await s.artifact("bg", "b1");
          const first = await s.run(["deploy", "bg", "--version", "b1"]);
          assert.equal(first.code, 0, first.stderr + first.stdout);
          assert.equal((await Deno.readTextFile(lb)).trim(), "blue b1 m1,m2");
          assert.equal(await s.current(2, "bg"), undefined, "green untouched");

          await s.artifact("bg", "b2");
          const second = await s.run(["deploy", "bg", "--version", "b2", "-o", "json"]);
          assert.equal(second.code, 0, second.stderr + second.stdout);
          assert.equal(JSON.parse(second.stdout).live_group, "green");
          assert.equal((await Deno.readTextFile(lb)).trim(), "green b2 m3,m4");
          for (const i of [2, 3]) {
            assert.deepEqual(await s.get(i, "bg_port", "/version.txt"), {
              status: 200,
              body: "b2",
            });
          }
          // The old group keeps running the old release, ready for rollback.
          for (const i of [0, 1]) {
            assert.deepEqual(await s.get(i, "bg_port", "/version.txt"), {
              status: 200,
              body: "b1",
            });
          }
          let state = JSON.parse(await Deno.readTextFile(`${s.stateDir}/deploy/bg.json`));
          assert.deepEqual([state.live, state.groups], ["green", { blue: "b1", green: "b2" }]);

          const back = await s.run(["rollback", "bg"]);
          assert.equal(back.code, 0, back.stderr + back.stdout);
          assert.equal((await Deno.readTextFile(lb)).trim(), "blue b1 m1,m2");
          state = JSON.parse(await Deno.readTextFile(`${s.stateDir}/deploy/bg.json`));
          assert.equal(state.live, "blue");
          const ops = (await audit(s)).filter((r) => r.machine === "controller").map((r) => r.op);
          // (each run ends with its outcome: deploy.finish, rollback.finish)
          assert.deepEqual(ops.filter((op) => !op.endsWith(".finish")), [
            "deploy.switch",
            "deploy.switch",
            "rollback",
          ]);
          assert.equal(ops.at(-1), "rollback.finish");
        },
      );

      await t.step(
        "blue-green: a failure within --max-failures puts the whole idle group back",
        async () => {
          // Live is blue again; green (m3, m4) is idle on b2. On m4, "releases/b3" is a
          // file, not a release: the switch there fails, m3 gets through.
          await s.artifact("bg", "b3");
          await Deno.writeTextFile(`${s.hosts[3].root}/bg/releases/b3`, "");
          const mixed = await s.run([
            "deploy",
            "bg",
            "--version",
            "b3",
            "--max-failures",
            "1",
            "-o",
            "json",
          ]);
          await Deno.remove(`${s.hosts[3].root}/bg/releases/b3`);
          assert.equal(mixed.code, 1, mixed.stderr + mixed.stdout);
          const result = JSON.parse(mixed.stdout);
          assert.equal(result.reason, "group");
          assert.equal(result.rolled_back, true);
          for (const i of [2, 3]) assert.equal(await s.current(i, "bg"), "releases/b2");
          assert.equal((await Deno.readTextFile(`${s.dir}/lb-bg.txt`)).trim(), "blue b1 m1,m2");
          assert.match(mixed.stderr, /m4: failed at switch/);
        },
      );

      await t.step("an unknown placeholder stops the deploy before anything changes", async () => {
        await s.artifact("slow", "s1");
        const s1 = await s.run(["deploy", "slow", "--version", "s1"]);
        assert.equal(s1.code, 2, s1.stderr);
        assert.match(s1.stderr, /unknown placeholder \{sleep\}/);
        for (const [i] of s.hosts.entries()) assert.equal(await s.current(i, "slow"), undefined);
      });

      await t.step(
        "a second deploy is refused while one runs; a killed deploy leaves consistent releases",
        async () => {
          const slow = (seconds: number) => SERVICES.replace("{sleep}", String(seconds));
          await s.writeServices(slow(0));
          await s.artifact("slow", "s1");
          const s1 = await s.run(["deploy", "slow", "--version", "s1"]);
          assert.equal(s1.code, 0, s1.stderr + s1.stdout);

          await s.writeServices(slow(60));
          await s.artifact("slow", "s2");
          const child = s.spawn(["deploy", "slow", "--version", "s2"]);
          try {
            // Batch 1 (m1, m2) has switched and sleeps in its after step.
            const deadline = Date.now() + 30_000;
            while (
              (await s.current(0, "slow")) !== "releases/s2" ||
              (await s.current(1, "slow")) !== "releases/s2"
            ) {
              assert.ok(Date.now() < deadline, "batch 1 never switched");
              await new Promise((r) => setTimeout(r, 100));
            }
            const second = await s.run(["deploy", "slow", "--version", "s2"]);
            assert.equal(second.code, 1, second.stderr);
            assert.match(
              second.stderr,
              new RegExp(
                `deployment slow is already being deployed or rolled back by pid ${child.pid} `,
              ),
            );
          } finally {
            child.kill("SIGKILL");
            await child.status;
            await child.stdout.cancel();
            await child.stderr.cancel();
            // The killed deploy's steps outlive it on the machines: stop them (their PIDs).
            for (const h of s.hosts) {
              const pidFile = `${h.root}/slow.sleep-${h.name}.pid`;
              const pid = Number(await Deno.readTextFile(pidFile).catch(() => ""));
              if (pid > 1) {
                try {
                  Deno.kill(pid, "SIGKILL");
                } catch { /* already ended */ }
              }
            }
          }
          // Every machine is on a complete release, old or new; the second batch never started.
          for (const [i, h] of s.hosts.entries()) {
            const link = await s.current(i, "slow");
            assert.ok(link === "releases/s1" || link === "releases/s2", `m${i + 1}: ${link}`);
            const served = (await Deno.readTextFile(`${h.root}/slow/current/version.txt`)).trim();
            assert.equal(`releases/${served}`, link);
            if (i >= 2) assert.equal(link, "releases/s1");
          }

          // The dead deploy's lock is recovered by the next one, which completes the job.
          await s.writeServices(slow(0));
          const again = await s.run(["deploy", "slow", "--version", "s2"]);
          assert.equal(again.code, 0, again.stderr + again.stdout);
          assert.match(
            again.stderr,
            new RegExp(`recovered the lock of a deploy that died \\(pid ${child.pid},`),
          );
          for (const [i] of s.hosts.entries()) {
            assert.equal(await s.current(i, "slow"), "releases/s2");
            const leftovers: string[] = [];
            for await (const e of Deno.readDir(`${s.hosts[i].root}/slow`)) leftovers.push(e.name);
            assert.deepEqual(leftovers.sort(), ["current", "releases"]);
          }
        },
      );
    } finally {
      await s.stop();
    }
  },
});
