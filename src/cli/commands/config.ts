/** provctl config show | path */
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { table } from "../render.ts";

export const show = command<GlobalFlags, []>(async (session) => {
  const { config } = await session.settings();
  const entries = config.entries();
  if (session.output === "json") {
    session.out(
      JSON.stringify(
        Object.fromEntries(entries.map((e) => [e.key, { value: e.value, origin: e.origin }])),
        null,
        2,
      ),
    );
    return;
  }
  const header = ["key", "value", "origin"].map((k) =>
    session.colors.bold(session.format(`config.column_${k}`))
  );
  session.out(
    table([
      header,
      ...entries.map((e) => [e.key, JSON.stringify(e.value), session.colors.dim(e.origin)]),
    ]).trimEnd(),
  );
});

export const path = command<GlobalFlags, []>(async (session) => {
  const { config } = await session.settings();
  if (session.output === "json") {
    session.out(JSON.stringify(config.searched));
    return;
  }
  const header = ["layer", "file", "found"].map((k) =>
    session.colors.bold(session.format(`config.column_${k}`))
  );
  const rows = config.searched.map((
    s,
  ) => [s.layer, s.path, session.format(s.exists ? "config.found_yes" : "config.found_no")]);
  session.out(table([header, ...rows]).trimEnd());
});
