/**
 * provctl must not read repository files at run time (configs are text imports), so a
 * single-file bundle of src/main.ts — what `deno compile` would embed — works from an
 * empty directory with nothing but the deno binary.
 */
import assert from "node:assert/strict";
import { bundle } from "../../scripts/bundle.ts";
import { startServer } from "../helpers/serve.ts";

const dec = new TextDecoder();

Deno.test("a single-file bundle runs from an empty directory on its embedded defaults", async () => {
  const work = await Deno.makeTempDir({ prefix: "provctl-bundle-" });
  const home = `${work}/home`;
  const empty = `${work}/empty`;
  await Deno.mkdir(home);
  await Deno.mkdir(empty);
  const bundlePath = `${empty}/provctl.js`;
  try {
    await bundle(bundlePath);
    assert.deepEqual([...Deno.readDirSync(empty)].map((e) => e.name), ["provctl.js"]);

    // Only the deno binary: no repository, no config file, no deno.json, fresh HOME.
    const env: Record<string, string> = {
      PATH: "/usr/bin:/bin",
      HOME: home,
      DENO_DIR: `${work}/deno-dir`,
      NO_COLOR: "1",
    };
    const provctl = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", "--no-config", "--quiet", bundlePath, ...args],
        cwd: empty,
        env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };

    const version = await provctl("--version");
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), "0.1.0");

    const show = await provctl("config", "show", "-o", "json");
    assert.equal(show.code, 0, show.stderr);
    const config = JSON.parse(show.stdout);
    assert.deepEqual(config["general.output"], { value: "text", origin: "embedded" });
    assert.deepEqual(config["paths.state_dir"], {
      value: "{xdg_state_home}/provctl",
      origin: "embedded",
    });

    const empty0 = await provctl("status");
    assert.equal(empty0.code, 0, empty0.stderr);

    const start = await provctl("start", "bundled", "--backend", "pidfile", "--", "sleep", "300");
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, /Started bundled \(PID \d+, backend pidfile\)/);
    // The embedded defaults put state under $HOME/.local/state/provctl.
    const pidText = await Deno.readTextFile(`${home}/.local/state/provctl/run/bundled.pid`);
    const pid = Number(/pid=(\d+)/.exec(pidText)![1]);

    const status = await provctl("status", "bundled", "--backend", "pidfile", "-o", "json");
    assert.equal(JSON.parse(status.stdout).pid, pid);

    const stop = await provctl("stop", "bundled", "--backend", "pidfile");
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout, "Stopped bundled\n");

    const bad = await provctl("start", "../x", "--", "true");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^provctl: error: invalid service name/);

    // The dashboard's assets (its own files and the npm packages' dist files) are in the
    // bundle too: `serve` answers them from this empty directory.
    const server = await startServer((args) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", "--no-config", "--quiet", bundlePath, ...args],
        cwd: empty,
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn()
    );
    try {
      for (const path of ["/", "/assets/app.js", "/assets/preact.js", "/assets/uplot.js"]) {
        const res = await fetch(`${server.url}${path}`);
        const body = await res.text();
        assert.equal(res.status, 200, path);
        assert.ok(body.length > 500, path);
      }
    } finally {
      assert.equal(await server.stop(), 0);
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

import { startSshdFleet } from "../fixtures/sshd.ts";
import { fleetUnavailable } from "../helpers/fleet.ts";

const noSshd = fleetUnavailable();
Deno.test({
  name: "the single-file bundle reaches a real sshd (ssh2 bundled, pure-JS crypto)",
  ignore: Boolean(noSshd),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const work = await Deno.makeTempDir({ prefix: "provctl-bundle-ssh-" });
    const fleet = await startSshdFleet({ count: 1 });
    try {
      const bundlePath = `${work}/provctl.js`;
      await bundle(bundlePath);
      const [h] = fleet.hosts;
      await Deno.writeTextFile(
        `${work}/ssh_config`,
        `Host target\n  HostName ${h.address}\n  Port ${h.port}\n  User root\n  IdentityFile ${fleet.clientKey}\n` +
          `  IdentitiesOnly yes\n  UserKnownHostsFile ${fleet.knownHosts}\n`,
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          "--no-config",
          "--quiet",
          bundlePath,
          "exec",
          "--host",
          "target",
          "--ssh-config",
          `${work}/ssh_config`,
          "--",
          "printf",
          "%s|",
          "a b",
          "$HOME",
        ],
        cwd: work,
        env: { PATH: "/usr/bin:/bin", HOME: work, DENO_DIR: `${work}/deno-dir`, NO_COLOR: "1" },
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, dec.decode(out.stderr));
      assert.equal(dec.decode(out.stdout), "a b|$HOME|");
    } finally {
      await fleet.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
});

import { bundleSplit, deferNodeModule, lazyChunkImports } from "../../scripts/bundle.ts";

/** The files `entry` loads before running: its static imports, transitively. */
async function staticClosure(entry: string): Promise<Map<string, string>> {
  const dir = entry.slice(0, entry.lastIndexOf("/"));
  const seen = new Map<string, string>();
  const visit = async (file: string) => {
    if (seen.has(file)) return;
    const text = await Deno.readTextFile(`${dir}/${file}`);
    seen.set(file, text);
    // Static forms only: `import ... from "./x.js"` and `import "./x.js"`, not import().
    for (const m of text.matchAll(/^(?:import|export)\s(?:[^;]*?\sfrom\s)?"\.\/([^"]+)";?$/gm)) {
      await visit(m[1]);
    }
  };
  await visit(entry.slice(dir.length + 1));
  return seen;
}

Deno.test({
  name:
    "the code-split bundle loads no node: built-in and no lazy chunk at start; ssh2's require works on first use",
  ignore: Boolean(noSshd),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const work = await Deno.makeTempDir({ prefix: "provctl-split-" });
    const fleet = await startSshdFleet({ count: 1 });
    try {
      const entry = await bundleSplit(`${work}/dist`);
      const eager = await staticClosure(entry);
      for (const [file, text] of eager) {
        assert.doesNotMatch(
          text,
          /from\s*"node:|import\s*"node:/,
          `${file} imports node: at start`,
        );
      }
      // Deno's module graph follows literal import() specifiers at start: no chunk has one.
      for await (const file of Deno.readDir(`${work}/dist`)) {
        const text = await Deno.readTextFile(`${work}/dist/${file.name}`);
        assert.doesNotMatch(text, /\bimport\("\.\//, `${file.name} has a literal import()`);
      }
      assert.equal(
        lazyChunkImports('x = await import("./deploy-AB12.js");'),
        'x = await import(String("./deploy-AB12.js"));',
      );
      assert.throws(
        () => deferNodeModule("import { createRequire as __deno_internal_createRequire } x"),
        /createRequire helper changed/,
      );
      const [h] = fleet.hosts;
      await Deno.writeTextFile(
        `${work}/ssh_config`,
        `Host target\n  HostName ${h.address}\n  Port ${h.port}\n  User root\n  IdentityFile ${fleet.clientKey}\n` +
          `  IdentitiesOnly yes\n  UserKnownHostsFile ${fleet.knownHosts}\n`,
      );
      const split = async (args: string[]) => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "--allow-all", "--no-config", "--quiet", entry, ...args],
          cwd: work,
          env: { PATH: "/usr/bin:/bin", HOME: work, DENO_DIR: `${work}/deno-dir`, NO_COLOR: "1" },
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
        }).output();
        return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
      };
      const out = await split(["exec", "--host", "target", "--ssh-config", `${work}/ssh_config`]
        .concat(["--", "echo", "split ok"]));
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout, "split ok\n");

      // That exec started the connection keeper from the same bundle entry: a second one
      // reuses its connection.
      const again = await split(["exec", "--host", "target", "--ssh-config", `${work}/ssh_config`]
        .concat(["--", "echo", "again"]));
      assert.equal(again.stdout, "again\n", again.stderr);
      const held = JSON.parse((await split(["hosts", "connections", "-o", "json"])).stdout);
      assert.deepEqual([held.created, held.reused], [1, 1]);
      const keeper = [...Deno.readDirSync("/proc")].map((e) => {
        try {
          return Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
        } catch {
          return [];
        }
      }).find((args) => args.includes("__keeper") && args.some((a) => a.startsWith(work)));
      assert.ok(keeper?.includes(`file://${entry}`), keeper?.join(" "));
      assert.equal((await split(["hosts", "connections", "--close"])).code, 0);
    } finally {
      await fleet.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
});
