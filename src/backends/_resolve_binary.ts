/**
 * The absolute path of a service's program on the target machine, as unit files and
 * plists need it: absolute paths are kept, bare names looked up on the target's PATH,
 * relative paths refused (they would depend on the manager's working directory).
 */
import { ProvctlError } from "../core/errors.ts";
import type { ServiceDefinition } from "../core/service_definition.ts";
import { sh } from "../exec/host_fs.ts";
import type { CommandRunner } from "../exec/runner.ts";

export async function resolveBinary(
  runner: CommandRunner,
  def: ServiceDefinition,
  options: { timeoutMs: number; backend: "systemd" | "launchd" },
): Promise<string> {
  if (def.binary.startsWith("/")) return def.binary;
  if (def.binary.includes("/")) {
    throw new ProvctlError("InvalidArgument", `${options.backend}.path_not_absolute`, {
      params: { service: def.name, field: "binary", path: def.binary },
    });
  }
  const result = await sh(runner, `command -v -- "$1"`, [def.binary], {
    timeoutMs: options.timeoutMs,
  });
  const found = result.stdout.trim();
  if (result.code !== 0 || !found.startsWith("/")) {
    throw new ProvctlError("SpawnFailed", "errors.program_not_found_on", {
      params: { service: def.name, program: def.binary, target: runner.target },
    });
  }
  return found;
}
