/**
 * provctl restart NAME... — with the definition from the services file when there is
 * one; on fleets, `--batch N` restarts N machines at a time (each batch done first).
 */
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import type { FleetFlags } from "../fleet_flags.ts";
import { forMachine, parseNames, resolveDefinition, servicesFromFile } from "../services.ts";
import { printStatuses } from "./_status_output.ts";
import { onTargets } from "./_targets.ts";

export interface RestartFlags extends GlobalFlags, FleetFlags {
  readonly batch?: number;
}

export default command<RestartFlags, string[]>(async (session, flags, ...raw) => {
  const names = parseNames(raw);
  const file = await servicesFromFile(session);
  return await onTargets(session, flags, async (target, host, machine) => {
    for (const name of names) {
      const entry = file.get(name);
      const backend = await target.backend(flags.backend, entry?.backend);
      const def = entry
        ? await forMachine((await resolveDefinition(session, name, {}, [])).definition, machine)
        : undefined;
      const result = await backend.restart(name, def);
      printStatuses(session, [{ name, host, backend: backend.name, status: result.status }], {
        verb: "restarted",
      });
    }
  }, { batch: flags.batch });
});
