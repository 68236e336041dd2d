/** provctl start NAME [-- CMD ARGS...] */
import { parseServiceName } from "../../core/service_name.ts";
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { type DefinitionFlags, resolveDefinition } from "../services.ts";
import { printStatuses } from "./_status_output.ts";

export type StartFlags = GlobalFlags & DefinitionFlags;

export default command<StartFlags, string[]>(async (session, flags, rawName, ...cmd) => {
  const name = parseServiceName(rawName);
  const { definition, backend: fileBackend } = await resolveDefinition(session, name, flags, cmd);
  const backend = await session.backend(fileBackend);
  session.debug(`backend ${backend.name}: ${definition.binary} ${JSON.stringify(definition.args)}`);
  const result = await backend.start(definition);
  printStatuses(session, [{ name, backend: backend.name, status: result.status }], {
    verb: "started",
  });
});
