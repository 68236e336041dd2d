/** provctl doctor: which backends work here, which one `auto` picks, and why. */
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { table } from "../render.ts";
import { detectBackends } from "../../backends/detect.ts";

export default command<GlobalFlags, []>(async (session) => {
  const env = await session.backendEnvironment();
  const report = await detectBackends(env.runner, env.host, {
    scope: env.scope ??
      (env.settings.systemd.scope === "auto" ? undefined : env.settings.systemd.scope),
  });
  if (session.output === "json") {
    const backends = report.backends.map((b) => ({
      name: b.name,
      available: b.available,
      reason: session.format(b.reason.key, b.reason.params),
    }));
    session.out(JSON.stringify({ chosen: report.chosen, backends }));
    return;
  }
  const c = session.colors;
  const header = ["backend", "available", "reason"].map((k) =>
    c.bold(session.format(`doctor.column_${k}`))
  );
  const rows = report.backends.map((b) => [
    b.name,
    b.available
      ? c.green(session.format("doctor.available_yes"))
      : c.dim(session.format("doctor.available_no")),
    session.format(b.reason.key, b.reason.params),
  ]);
  session.out(
    table([header, ...rows]) + session.format("doctor.chosen", { backend: report.chosen }),
  );
});
