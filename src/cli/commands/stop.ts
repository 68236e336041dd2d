/** provctl stop NAME... */
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { parseNames, servicesFromFile } from "../services.ts";

export default command<GlobalFlags, string[]>(async (session, _flags, ...raw) => {
  const names = parseNames(raw);
  const file = await servicesFromFile(session);
  for (const name of names) {
    const backend = await session.backend(file.get(name)?.backend);
    const result = await backend.stop(name);
    const key = !result.changed
      ? "cli.stop_not_running"
      : result.killed
      ? "cli.stopped_killed"
      : "cli.stopped";
    if (session.output === "json") {
      session.out(
        JSON.stringify({
          name,
          backend: backend.name,
          changed: result.changed,
          killed: result.killed ?? false,
        }),
      );
    } else {
      session.out(session.format(key, { service: name }));
    }
  }
});
