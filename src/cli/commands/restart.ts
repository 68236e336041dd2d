/** provctl restart NAME... — with the definition from the services file when there is one. */
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { parseNames, resolveDefinition, servicesFromFile } from "../services.ts";
import { printStatuses } from "./_status_output.ts";

export default command<GlobalFlags, string[]>(async (session, _flags, ...raw) => {
  const names = parseNames(raw);
  const file = await servicesFromFile(session);
  for (const name of names) {
    const entry = file.get(name);
    const backend = await session.backend(entry?.backend);
    const def = entry ? (await resolveDefinition(session, name, {}, [])).definition : undefined;
    const result = await backend.restart(name, def);
    printStatuses(session, [{ name, backend: backend.name, status: result.status }], {
      verb: "restarted",
    });
  }
});
