/**
 * A service verb on one machine, returning its record: the one code path behind
 * `provctl start|stop|restart|status` (per target) and the API's /services routes.
 */
import type { ServiceName } from "../core/service_name.ts";
import type { MachineConfig } from "../fleet/inventory.ts";
import {
  type ServiceStatusRecord,
  type ServiceStopRecord,
  statusRecord,
  stopRecord,
} from "../backends/service_records.ts";
import {
  type DefinitionFlags,
  forMachine,
  resolveDefinition,
  servicesFromFile,
} from "./services.ts";
import type { Session } from "./session.ts";
import type { Target } from "./target.ts";

/** `host`: the machine's inventory name (undefined = this machine or --host). */
export interface On {
  readonly target: Target;
  readonly host?: string;
  readonly machine?: MachineConfig;
}

export async function startService(
  session: Session,
  on: On,
  name: ServiceName,
  flags: DefinitionFlags = {},
  command: readonly string[] = [],
): Promise<ServiceStatusRecord> {
  const { definition, backend: fileBackend } = await resolveDefinition(
    session,
    name,
    flags,
    command,
  );
  const backend = await on.target.backend(session.flags.backend, fileBackend);
  // On a fleet, {var} placeholders in the command are each machine's variables.
  const def = await forMachine(definition, on.machine);
  session.debug(
    `${on.host ?? "local"} backend ${backend.name}: ${definition.binary} ${
      JSON.stringify(definition.args)
    }`,
  );
  const result = await backend.start(def);
  return statusRecord({ name, machine: on.host, backend: backend.name, status: result.status });
}

export async function stopService(
  session: Session,
  on: On,
  name: ServiceName,
): Promise<ServiceStopRecord> {
  const file = await servicesFromFile(session);
  const backend = await on.target.backend(session.flags.backend, file.get(name)?.backend);
  return stopRecord(name, on.host, backend.name, await backend.stop(name));
}

export async function restartService(
  session: Session,
  on: On,
  name: ServiceName,
): Promise<ServiceStatusRecord> {
  const entry = (await servicesFromFile(session)).get(name);
  const backend = await on.target.backend(session.flags.backend, entry?.backend);
  const def = entry
    ? await forMachine((await resolveDefinition(session, name, {}, [])).definition, on.machine)
    : undefined;
  const result = await backend.restart(name, def);
  return statusRecord({ name, machine: on.host, backend: backend.name, status: result.status });
}

/** The statuses of `names`, or of every service known there (services file + backend). */
export async function serviceStatuses(
  session: Session,
  on: On,
  names: readonly ServiceName[],
): Promise<ServiceStatusRecord[]> {
  const file = await servicesFromFile(session);
  let wanted: ServiceName[] = [...names];
  if (wanted.length === 0) {
    const known = new Set<ServiceName>(file.keys());
    for (const n of await (await on.target.backend(session.flags.backend)).list()) known.add(n);
    wanted = [...known].sort();
  }
  return await Promise.all(wanted.map(async (name) => {
    const backend = await on.target.backend(session.flags.backend, file.get(name)?.backend);
    return statusRecord({
      name,
      machine: on.host,
      backend: backend.name,
      status: await backend.status(name),
    });
  }));
}
