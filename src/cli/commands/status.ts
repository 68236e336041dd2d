/** provctl status [NAME...]: every known service when no name is given. Exit 3 if any is not running. */
import { ExitCode } from "../../core/errors.ts";
import type { ServiceName } from "../../core/service_name.ts";
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { parseNames, servicesFromFile } from "../services.ts";
import { printStatuses, type ServiceStatusRow } from "./_status_output.ts";

export default command<GlobalFlags, string[]>(async (session, _flags, ...raw) => {
  const names = parseNames(raw);
  const file = await servicesFromFile(session);
  let targets: ServiceName[] = names;
  if (names.length === 0) {
    const known = new Set<ServiceName>(file.keys() as Iterable<ServiceName>);
    for (const n of await (await session.backend()).list()) known.add(n);
    targets = [...known].sort();
    if (targets.length === 0) {
      if (session.output === "text") session.note("cli.no_services");
      return ExitCode.ok;
    }
  }
  const rows: ServiceStatusRow[] = await Promise.all(targets.map(async (name) => {
    const backend = await session.backend(file.get(name)?.backend);
    return { name, backend: backend.name, status: await backend.status(name) };
  }));
  printStatuses(session, rows);
  return rows.every((r) => r.status.state === "running") ? ExitCode.ok : ExitCode.notFound;
});
