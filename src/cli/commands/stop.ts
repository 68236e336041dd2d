/** provctl stop NAME... (on this machine, --host, or machines selected from the inventory) */
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import type { FleetFlags } from "../fleet_flags.ts";
import { parseNames } from "../services.ts";
import { stopService } from "../service_actions.ts";
import { onTargets } from "./_targets.ts";

export default command<GlobalFlags & FleetFlags, string[]>(async (session, flags, ...raw) => {
  const names = parseNames(raw);
  return await onTargets(session, flags, async (target, host, machine) => {
    for (const name of names) {
      const result = await stopService(session, { target, host, machine }, name);
      if (session.output === "json") {
        session.out(JSON.stringify(result));
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
