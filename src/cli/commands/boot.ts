/** provctl enable|disable NAME...: boot persistence (systemd, launchd); uninstall NAME... */
import type { Backend, BootControl } from "../../backends/backend.ts";
import { ProvctlError } from "../../core/errors.ts";
import type { ServiceName } from "../../core/service_name.ts";
import { command, type Session } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { parseNames, resolveDefinition, servicesFromFile } from "../services.ts";

function bootOf(backend: Backend): BootControl {
  if (backend.boot === undefined) {
    throw new ProvctlError("Unsupported", "cli.boot_unsupported", {
      params: { backend: backend.name },
    });
  }
  return backend.boot;
}

async function each(
  session: Session,
  raw: string[],
  fn: (backend: Backend, name: ServiceName) => Promise<void>,
) {
  const names = parseNames(raw);
  const file = await servicesFromFile(session);
  for (const name of names) await fn(await session.backend(file.get(name)?.backend), name);
}

export const enable = command<GlobalFlags, string[]>(async (session, _flags, ...raw) => {
  const file = await servicesFromFile(session);
  await each(session, raw, async (backend, name) => {
    const capable = bootOf(backend);
    // A service declared in the file is installed (unit written) before it is enabled.
    if (file.has(name) && capable.install) {
      await capable.install((await resolveDefinition(session, name, {}, [])).definition);
    }
    const result = await capable.enable(name);
    if (result.warning) session.warn(result.warning);
    session.out(
      session.format(result.changed ? "cli.enabled" : "cli.enabled_already", { service: name }),
    );
  });
});

export const disable = command<GlobalFlags, string[]>(async (session, _flags, ...raw) => {
  await each(session, raw, async (backend, name) => {
    const result = await bootOf(backend).disable(name);
    session.out(
      session.format(result.changed ? "cli.disabled" : "cli.disabled_already", { service: name }),
    );
  });
});

export const uninstall = command<GlobalFlags, string[]>(async (session, _flags, ...raw) => {
  await each(session, raw, async (backend, name) => {
    await backend.uninstall(name);
    session.out(session.format("cli.uninstalled", { service: name }));
  });
});
