/** provctl logs NAME [-n N] [-f] */
import { parseServiceName } from "../../core/service_name.ts";
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { servicesFromFile } from "../services.ts";

export interface LogsFlags extends GlobalFlags {
  readonly lines?: number;
  readonly follow?: boolean;
}

export default command<LogsFlags, [string]>(async (session, flags, rawName) => {
  const name = parseServiceName(rawName);
  const settings = await session.settings();
  const backend = await session.backend((await servicesFromFile(session)).get(name)?.backend);
  const decoder = new TextDecoder();
  const abort = new AbortController();
  const stop = () => abort.abort();
  if (flags.follow) Deno.addSignalListener("SIGINT", stop);
  try {
    await backend.logs(
      name,
      { lines: flags.lines ?? settings.logLines, follow: flags.follow, signal: abort.signal },
      (chunk) => session.ctx.process.stdout.write(decoder.decode(chunk, { stream: true })),
    );
  } finally {
    if (flags.follow) Deno.removeSignalListener("SIGINT", stop);
  }
});
