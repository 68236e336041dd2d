/**
 * provctl serve [--listen ADDR:PORT] [--tls-cert FILE --tls-key FILE] [--insecure-http]
 * The API server (src/serve/), loaded only by this command.
 */
import type { FleetFlags } from "../fleet_flags.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { command } from "../session.ts";

export interface ServeFlags extends GlobalFlags, Pick<FleetFlags, "inventory" | "forks"> {
  readonly listen?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly insecureHttp?: boolean;
}

export default command<ServeFlags, []>(async (session, flags) => {
  const { serve } = await import("../../serve/server.ts");
  const { listen, tlsCert, tlsKey, insecureHttp, output: _o, quiet: _q, ...rest } = flags;
  const stderr = session.ctx.process.stderr;
  await serve({
    settings: session.loaded,
    flags: rest,
    env: session.ctx.process.env,
    cwd: session.ctx.cwd,
    listen,
    tlsCert,
    tlsKey,
    insecureHttp,
    note: (key, params) => {
      if (key === "serve.insecure") session.warn({ key, params: params ?? {} });
      else session.note(key, params);
    },
    log: (line) => stderr.write(`${line}\n`),
  });
});
