/**
 * Machine vars with shell syntax in them, through every place `{placeholders}` expand,
 * on a loopback fleet of real sshd hosts: deploy steps (before/after), the deployment's
 * service (`sh -c` script and argv words) and health command, `exec --shell`, `exec --
 * sh -c`, plain exec argv, `health -- CMD`, fleet `start`/`restart`, and URLs/addresses of
 * health checks (refused). Nothing the value holds may run, and it must arrive as its text.
 */
import assert from "node:assert/strict";
import { fleetUnavailable } from "../helpers/fleet.ts";
import { deploySandbox, PORT_VARS } from "../fleet/fixtures/deploy/sandbox.ts";

const unavailable = fleetUnavailable();
if (unavailable) console.error(`placeholder quoting tests skipped: ${unavailable}`);

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "placeholders: hostile machine vars never run and arrive literally, at every site",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await deploySandbox(2);
    try {
      const marker = (n: number) => `${s.dir}/pwned-${n}`;
      const evil = `18001;touch ${marker(1)} $(touch ${marker(2)}) \`touch ${marker(3)}\` ` +
        `'q' "d" \\ $HOME && touch ${marker(4)} #`;
      // (Inventory vars hold no control characters; newlines are covered in shell_template_test.)
      // The sandbox's machines, with the hostile value as one more var.
      const inventory = s.f.fleet.hosts.map((h, i) => {
        const vars = PORT_VARS.map((v) => `${v} = "${s.hosts[i].ports[v]}"`).join(", ");
        return `[machines.m${i + 1}]\nhost = "${h.address}"\nport = ${h.port}\nuser = "root"\n` +
          `identity = "${s.f.fleet.clientKey}"\ndeploy_root = "${s.hosts[i].root}"\n` +
          `vars = { ${vars}, evil = ${JSON.stringify(evil)} }\n`;
      }).join("\n");
      await Deno.writeTextFile(s.f.inventory, inventory);
      const out = (i: number, file: string) => `${s.hosts[i].root}/${file}`;
      const expectLiteral = async (file: string) => {
        for (const [i] of s.hosts.entries()) {
          assert.equal(await Deno.readTextFile(out(i, file)), evil, `${file} on m${i + 1}`);
        }
      };
      const noMarkers = async (where: string) => {
        for (const n of [1, 2, 3, 4]) {
          assert.equal(await exists(marker(n)), false, `${where}: marker ${n} was created`);
        }
      };

      // s.run appends its flags at the end; s.f.run puts them before "--".
      await s.writeServices(`
[services.evil]
binary = "/bin/sh"
args = ["-c", "printf %s {evil} > {deploy_root}/../svc.out; exec sleep 300", "{evil}"]

[deployments.evil]
service = "evil"
artifact = "artifacts/evil"
deploy_root = "{deploy_root}/evil"
health_wait_ms = 8000
target = { all = true }
steps = { before = ["printf %s {evil} > {deploy_root}/../before.out", "printf %s \\"{evil}\\" > {deploy_root}/../before2.out"], after = ["printf %s '{evil}' > {deploy_root}/../after.out"] }

[deployments.evil.health]
type = "command"
program = "/bin/sh"
args = ["-c", "printf %s {evil} > {deploy_root}/../health.out"]
`);
      await s.artifact("evil", "one");
      const dry = await s.run(["deploy", "evil", "--dry-run"]);
      assert.equal(dry.code, 0, dry.stderr);
      await noMarkers("dry run");
      const deployed = await s.run(["deploy", "evil"]);
      assert.equal(deployed.code, 0, deployed.stderr + deployed.stdout);
      await noMarkers("deploy");
      for (const file of ["before.out", "before2.out", "after.out", "health.out", "svc.out"]) {
        await expectLiteral(file);
      }

      const shell = await s.run(["exec", "--all", "--shell", `printf %s {evil} > ${out(0, "x")}`]);
      assert.equal(shell.code, 0, shell.stderr);
      assert.equal(await Deno.readTextFile(out(0, "x")), evil);
      const shC = await s.f.run([
        "exec",
        "--all",
        "--",
        "sh",
        "-c",
        `printf %s "{evil}" > {deploy_root}/shc.out`,
      ]);
      assert.equal(shC.code, 0, shC.stderr);
      await expectLiteral("shc.out");
      const argv = await s.f.run([
        "exec",
        "-m",
        "m1",
        "-o",
        "json",
        "--",
        "printf",
        "%s",
        "{evil}",
      ]);
      assert.equal(argv.code, 0, argv.stderr);
      assert.equal(JSON.parse(argv.stdout).stdout, evil);
      await noMarkers("exec");

      const health = await s.f.run([
        "health",
        "--all",
        "--",
        "/bin/sh",
        "-c",
        "printf %s {evil} > {deploy_root}/hc.out",
      ]);
      assert.equal(health.code, 0, health.stderr + health.stdout);
      await expectLiteral("hc.out");
      for (const flags of [["--http", "http://{host}:{evil}/"], ["--tcp", "{host}:{evil}"]]) {
        for (const from of ["controller", "remote"]) {
          const bad = await s.run(["health", "--all", ...flags, "--from", from]);
          assert.equal(bad.code, 2, bad.stderr);
          assert.match(
            bad.stderr,
            /provctl: error: \{evil\} = .* cannot go into the host:port part/,
          );
        }
      }
      await noMarkers("health");

      const start = await s.f.run([
        "start",
        "probe",
        "--all",
        "--",
        "/bin/sh",
        "-c",
        "printf %s {evil} > {deploy_root}/start.out; exec sleep 300",
      ]);
      assert.equal(start.code, 0, start.stderr + start.stdout);
      const restart = await s.run(["restart", "probe", "--all"]);
      assert.equal(restart.code, 0, restart.stderr + restart.stdout);
      await expectLiteral("start.out");
      await s.run(["stop", "probe", "--all"]);
      await noMarkers("start/restart");
    } finally {
      await s.stop();
    }
  },
});
