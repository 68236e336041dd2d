/**
 * provctl restart NAME... — with the definition from the services file when there is
 * one; on fleets, `--batch N` restarts N machines at a time (each batch done first).
 */
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import type { FleetFlags } from "../fleet_flags.ts";
import { parseNames } from "../services.ts";
import { restartService } from "../service_actions.ts";
import { printStatuses } from "./_status_output.ts";
import { onTargets } from "./_targets.ts";

export interface RestartFlags extends GlobalFlags, FleetFlags {
  readonly batch?: number;
}

export default command<RestartFlags, string[]>(async (session, flags, ...raw) => {
  const names = parseNames(raw);
  return await onTargets(session, flags, async (target, host, machine) => {
    for (const name of names) {
      const record = await restartService(session, { target, host, machine }, name);
      printStatuses(session, [record], { verb: "restarted", withMachine: host !== undefined });
    }
  }, { batch: flags.batch });
});
