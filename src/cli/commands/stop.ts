/** provctl stop NAME... (on this machine, --host, or machines selected from the inventory) */
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import type { FleetFlags } from "../fleet_flags.ts";
import { parseNames, servicesFromFile } from "../services.ts";
import { onTargets } from "./_targets.ts";

export default command<GlobalFlags & FleetFlags, string[]>(async (session, flags, ...raw) => {
  const names = parseNames(raw);
  const file = await servicesFromFile(session);
  return await onTargets(session, flags, async (target, host) => {
    for (const name of names) {
      const backend = await target.backend(flags.backend, file.get(name)?.backend);
      const result = await backend.stop(name);
      if (session.output === "json") {
        session.out(JSON.stringify({
          name,
          host: host ?? "local",
          backend: backend.name,
          changed: result.changed,
          killed: result.killed ?? false,
        }));
        continue;
      }
      const key = !result.changed
        ? "cli.stop_not_running"
        : result.killed
        ? "cli.stopped_killed"
        : "cli.stopped";
      const line = session.format(key, { service: name });
      session.out(host ? session.format("fleet.host_line", { host, text: line }) : line);
    }
  });
});
