/** provctl start NAME [-- CMD ARGS...] (on this machine, --host, or selected machines) */
import { parseServiceName } from "../../core/service_name.ts";
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import type { FleetFlags } from "../fleet_flags.ts";
import type { DefinitionFlags } from "../services.ts";
import { startService } from "../service_actions.ts";
import { printStatuses } from "./_status_output.ts";
import { onTargets } from "./_targets.ts";

export type StartFlags = GlobalFlags & DefinitionFlags & FleetFlags;

export default command<StartFlags, string[]>(async (session, flags, rawName, ...cmd) => {
  const name = parseServiceName(rawName);
  return await onTargets(session, flags, async (target, host, machine) => {
    const record = await startService(session, { target, host, machine }, name, flags, cmd);
    printStatuses(session, [record], { verb: "started", withMachine: host !== undefined });
  });
});
