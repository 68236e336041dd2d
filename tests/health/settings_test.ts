import assert from "node:assert/strict";
import { isProvctlError } from "../../src/core/errors.ts";
import { loadConfig } from "../../src/config/loader.ts";
import { healthSettings } from "../../src/health/settings.ts";

Deno.test("health settings: embedded defaults, a config file override, value rules", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-health-config-" });
  const empty = `${dir}/none`;
  try {
    const defaults = await loadConfig({ env: {}, systemDir: empty, userDir: empty });
    assert.deepEqual(healthSettings(defaults), {
      timeoutMs: 5000,
      intervalMs: 5000,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      waitTimeoutMs: 60000,
      waitIntervalMs: 1000,
    });
    await Deno.writeTextFile(
      `${dir}/defaults.toml`,
      "[health]\nunhealthy_threshold = 5\ntimeout_ms = 1500\n",
    );
    const custom = await loadConfig({ env: {}, systemDir: empty, userDir: empty, configDir: dir });
    assert.equal(healthSettings(custom).unhealthyThreshold, 5);
    assert.equal(healthSettings(custom).timeoutMs, 1500);

    await Deno.writeTextFile(`${dir}/defaults.toml`, "[health]\nhealthy_threshold = 0\n");
    await assert.rejects(
      loadConfig({ env: {}, systemDir: empty, userDir: empty, configDir: dir }),
      (e) => isProvctlError(e, "InvalidConfig"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
