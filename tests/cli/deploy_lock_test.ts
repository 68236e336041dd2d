/**
 * The lock on a deployment's target machines, between controllers that share nothing
 * but the fleet (separate processes, HOMEs and state dirs), on real sshd hosts: two
 * racing deploys, exactly one runs; a controller killed with SIGKILL leaves a lock that
 * `deploy unlock` or the expiry recovers, and the next deploy completes.
 */
import assert from "node:assert/strict";
import { fleetUnavailable } from "../helpers/fleet.ts";
import { type DeploySandbox, deploySandbox } from "../fleet/fixtures/deploy/sandbox.ts";
import type { CliResult } from "../helpers/cli.ts";

const unavailable = fleetUnavailable();
if (unavailable) console.error(`deploy lock tests skipped: ${unavailable}`);

/** A controller of its own: provctl with another HOME and state dir, same fleet. */
async function controller(s: DeploySandbox, label: string) {
  const home = `${s.dir}/controller-${label}`;
  await Deno.mkdir(home, { recursive: true });
  const env = {
    ...s.f.cli.env,
    HOME: home,
    PROVCTL_STATE_DIR: "",
    XDG_STATE_HOME: `${home}/state`,
    USER: `user-${label}`,
  };
  const command = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: s.argv(args),
      env,
      clearEnv: true,
      cwd: s.dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
  const decode = (out: Deno.CommandOutput): CliResult => ({
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  });
  /** Runs provctl on a pseudo-terminal (script(1)), typing `input`. */
  const onTerminal = async (args: string[], input: string): Promise<CliResult> => {
    const quote = (w: string) => `'${w.replaceAll("'", `'\\''`)}'`;
    const words = [Deno.execPath(), ...s.argv(args)];
    const child = new Deno.Command("script", {
      args: ["-q", "-e", "-c", words.map(quote).join(" "), "/dev/null"],
      env: { ...env, TERM: "dumb" },
      clearEnv: true,
      cwd: s.dir,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
    return decode(await child.output());
  };
  return {
    stateDir: `${home}/state/provctl`,
    onTerminal,
    spawn: (args: string[]) => command(args).spawn(),
    run: async (args: string[]) => decode(await command(args).output()),
    decode,
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(path: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!await exists(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const SERVICES = `
[deployments.app]
artifact = "artifacts/app"
deploy_root = "{deploy_root}/app"
batch = "100%"
target = { all = true }
# "hold" makes the deploy take a while; "hang" makes it wait for a kill.
steps = { before = ["if [ -e {deploy_root}/../hold ]; then sleep 4; fi", "if [ -e {deploy_root}/../hang ]; then touch {deploy_root}/../hanging; sleep 60; fi"] }
`;

Deno.test({
  name: "target lock: two controllers race one deploy; exactly one runs, the other is refused",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await deploySandbox(2);
    try {
      await s.writeServices(SERVICES);
      await s.artifact("app", "one");
      for (const h of s.hosts) {
        await Deno.mkdir(h.root, { recursive: true });
        await Deno.writeTextFile(`${h.root}/hold`, "");
      }
      const a = await controller(s, "a");
      const b = await controller(s, "b");
      const [ra, rb] = await Promise.all([
        a.spawn(["deploy", "app", "--version", "v1"]).output().then(a.decode),
        b.spawn(["deploy", "app", "--version", "v1"]).output().then(b.decode),
      ]);
      const results = [ra, rb];
      const winners = results.filter((r) => r.code === 0);
      const losers = results.filter((r) => r.code !== 0);
      assert.equal(winners.length, 1, results.map((r) => r.stderr).join("\n---\n"));
      assert.equal(losers[0].code, 1);
      assert.match(
        losers[0].stderr,
        /provctl: error: deployment app: machine m1 is locked by pid \d+ on .+ \(user user-[ab], deploy app-\S+, since \S+\); nothing was changed/,
      );
      assert.match(losers[0].stderr, /provctl deploy unlock app/);
      // The loser changed nothing: its audit log has no upload, step or switch.
      const loserState = ra.code === 0 ? b.stateDir : a.stateDir;
      const audit = await Deno.readTextFile(`${loserState}/audit.jsonl`).catch(() => "");
      assert.doesNotMatch(audit, /"op":"deploy\.(upload|step|switch)"/);
      for (const [i, h] of s.hosts.entries()) {
        assert.equal(await s.current(i, "app"), "releases/v1");
        assert.equal(await exists(`${h.root}/app/.provctl-lock`), false, "released");
      }
    } finally {
      await s.stop();
    }
  },
});

Deno.test({
  name: "target lock: a SIGKILLed controller's lock is broken by unlock or by expiry",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await deploySandbox(2);
    try {
      await s.writeServices(SERVICES);
      const a = await controller(s, "a");
      const b = await controller(s, "b");
      const killMidDeploy = async (version: string) => {
        await s.artifact("app", version);
        for (const h of s.hosts) {
          await Deno.mkdir(h.root, { recursive: true });
          await Deno.writeTextFile(`${h.root}/hang`, "");
        }
        const child = a.spawn(["deploy", "app", "--version", version]);
        await waitFor(`${s.hosts[0].root}/hanging`, 60_000);
        child.kill("SIGKILL");
        await child.output();
        for (const h of s.hosts) {
          await Deno.remove(`${h.root}/hang`);
          await Deno.remove(`${h.root}/hanging`).catch(() => {});
        }
        assert.ok(await exists(`${s.hosts[0].root}/app/.provctl-lock/holder`), "left behind");
        return child.pid;
      };

      const pid = await killMidDeploy("v1");
      const refused = await b.run(["deploy", "app", "--version", "v1"]);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, new RegExp(`locked by pid ${pid} on .* \\(user user-a, deploy`));

      const noYes = await b.run(["deploy", "unlock", "app"]);
      assert.equal(noYes.code, 2, noYes.stderr);
      assert.match(noYes.stdout, new RegExp(`m1: locked by pid ${pid}`));
      assert.match(noYes.stderr, /confirm with --yes/);
      // On a terminal (script(1) gives it one) it asks; "n" breaks nothing.
      const declined = await b.onTerminal(["deploy", "unlock", "app"], "n\n");
      assert.equal(declined.code, 1, declined.stdout);
      assert.match(declined.stdout, /Break 2 deploy lock\(s\) of app\?/);
      assert.match(declined.stdout, /nothing was broken/);
      assert.ok(await exists(`${s.hosts[0].root}/app/.provctl-lock`));
      const unlocked = await b.run(["deploy", "unlock", "app", "--yes"]);
      assert.equal(unlocked.code, 0, unlocked.stderr);
      assert.match(unlocked.stdout, /m1: lock broken/);
      const audit = await Deno.readTextFile(`${b.stateDir}/audit.jsonl`);
      assert.match(audit, /"op":"deploy\.unlock"/);
      const done = await b.run(["deploy", "app", "--version", "v1"]);
      assert.equal(done.code, 0, done.stderr);
      for (const [i] of s.hosts.entries()) assert.equal(await s.current(i, "app"), "releases/v1");

      // Killed again; this time the lock has expired by the time the next deploy comes.
      await killMidDeploy("v2");
      await Deno.writeTextFile(
        `${s.dir}/config/provctl/defaults.toml`,
        "[health]\nwait_interval_ms = 150\ntimeout_ms = 2000\n[deploy]\ntarget_lock_expiry_ms = 1000\n",
      );
      await new Promise((r) => setTimeout(r, 2100));
      const recovered = await b.run(["deploy", "app", "--version", "v2"]);
      assert.equal(recovered.code, 0, recovered.stderr);
      assert.match(
        recovered.stderr,
        /m1: broke the deploy lock of pid \d+ on .* \(user user-a/,
      );
      assert.match(
        await Deno.readTextFile(`${b.stateDir}/audit.jsonl`),
        /"op":"deploy\.lock_break"/,
      );
      for (const [i, h] of s.hosts.entries()) {
        assert.equal(await s.current(i, "app"), "releases/v2");
        assert.equal(await exists(`${h.root}/app/.provctl-lock`), false);
        // The killed runs' uploads were cleaned by the next run that held the lock.
        assert.equal(await exists(`${h.root}/app/.staging`), false);
      }
    } finally {
      await s.stop();
    }
  },
});

Deno.test({
  name: "target lock: SIGTERM and SIGINT release the machines' locks before provctl exits",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await deploySandbox(1);
    try {
      await s.writeServices(SERVICES);
      const a = await controller(s, "a");
      const root = s.hosts[0].root;
      for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
        await s.artifact("app", signal);
        await Deno.mkdir(root, { recursive: true });
        await Deno.writeTextFile(`${root}/hang`, "");
        const child = a.spawn(["deploy", "app", "--version", signal]);
        await waitFor(`${root}/hanging`, 60_000);
        assert.ok(await exists(`${root}/app/.provctl-lock`));
        child.kill(signal);
        const out = await child.output();
        assert.equal(out.code, code, new TextDecoder().decode(out.stderr));
        assert.equal(await exists(`${root}/app/.provctl-lock`), false, `${signal} released it`);
        await Deno.remove(`${root}/hang`);
        await Deno.remove(`${root}/hanging`);
      }
      const after = await a.run(["deploy", "app", "--version", "v1"]);
      assert.equal(after.code, 0, after.stderr);
    } finally {
      await s.stop();
    }
  },
});
