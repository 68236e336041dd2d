/** provctl start NAME [-- CMD ARGS...] (on this machine, --host, or selected machines) */
import { parseServiceName } from "../../core/service_name.ts";
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import type { FleetFlags } from "../fleet_flags.ts";
import { type DefinitionFlags, forMachine, resolveDefinition } from "../services.ts";
import { printStatuses } from "./_status_output.ts";
import { onTargets } from "./_targets.ts";

export type StartFlags = GlobalFlags & DefinitionFlags & FleetFlags;

export default command<StartFlags, string[]>(async (session, flags, rawName, ...cmd) => {
  const name = parseServiceName(rawName);
  const { definition, backend: fileBackend } = await resolveDefinition(session, name, flags, cmd);
  return await onTargets(session, flags, async (target, host, machine) => {
    const backend = await target.backend(flags.backend, fileBackend);
    // On a fleet, {var} placeholders in the command are each machine's variables.
    const def = await forMachine(definition, machine);
    session.debug(
      `${host ?? "local"} backend ${backend.name}: ${definition.binary} ${
        JSON.stringify(definition.args)
      }`,
    );
    const result = await backend.start(def);
    printStatuses(session, [{ name, host, backend: backend.name, status: result.status }], {
      verb: "started",
    });
  });
});
