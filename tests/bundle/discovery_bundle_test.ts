/**
 * The providers' npm modules (aws4fetch, fast-xml-parser) are loaded lazily, only when a
 * source of that kind is configured; a single-file bundle must still carry them: the
 * bundle discovers AWS machines (SigV4-signed, XML) from the fake EC2 API.
 */
import assert from "node:assert/strict";
import { bundle } from "../../scripts/bundle.ts";
import { startAwsFake } from "../discovery/fakes/aws.ts";
import { fixtureMachines } from "../discovery/fakes/fixture.ts";

Deno.test({
  name: "a bundle discovers AWS machines (lazily loaded aws4fetch and fast-xml-parser)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const work = await Deno.makeTempDir({ prefix: "provctl-bundle-discovery-" });
    const fake = startAwsFake(fixtureMachines());
    try {
      const bundlePath = `${work}/provctl.js`;
      await bundle(bundlePath);
      await Deno.writeTextFile(
        `${work}/machines.toml`,
        `[sources.ec2]\nprovider = "aws"\napi_url = "${fake.apiUrl}"\n${fake.sourceLines}\n`,
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          "--no-config",
          "--quiet",
          bundlePath,
          "machines",
          "list",
          "-o",
          "json",
        ],
        cwd: work,
        env: { PATH: "/usr/bin:/bin", HOME: work, NO_COLOR: "1", ...fake.env },
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const rows = stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(rows.length, 7);
      assert.ok(rows.every((r) => r.source === "ec2"));
      assert.ok(fake.requests.length >= 4, "both regions, several pages");
    } finally {
      await fake.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});
