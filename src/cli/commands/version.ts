/** provctl version */
import { VERSION } from "../../version.ts";
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";

export default command<GlobalFlags, []>((session) => {
  if (session.output === "json") {
    session.out(
      JSON.stringify({
        version: VERSION,
        deno: Deno.version.deno,
        os: Deno.build.os,
        arch: Deno.build.arch,
      }),
    );
  } else {
    session.out(
      session.format("cli.version", {
        version: VERSION,
        deno: Deno.version.deno,
        os: Deno.build.os,
        arch: Deno.build.arch,
      }),
    );
  }
  return Promise.resolve();
});
