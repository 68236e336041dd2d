/**
 * provctl state status | migrate
 *
 * status: the configured state backend, where it is, its schema version and the audit
 * records not yet in the database (it ships them first). migrate: creates or upgrades the
 * PostgreSQL schema; running it again changes nothing.
 */
import type { GlobalFlags } from "../global_flags.ts";
import { command, type Session } from "../session.ts";
import { openStateBackend, stateSettings } from "../../state/select.ts";
import type { StateBackend } from "../../state/backend.ts";
import type { PostgresStateBackend } from "../../state/postgres_backend.ts";

async function openUnchecked(session: Session): Promise<StateBackend> {
  return await openStateBackend(stateSettings(session.loaded.config), {
    env: session.ctx.process.env,
    noCheck: true,
  });
}

export const status = command<GlobalFlags, []>(async (session) => {
  const backend = await openUnchecked(session);
  try {
    const s = await backend.status();
    if (session.output === "json") {
      session.out(JSON.stringify(s));
      return;
    }
    session.out([
      session.format("state.status_backend", { backend: s.backend }),
      session.format("state.status_location", { location: s.location }),
      ...(s.schema_version === null ? [] : [
        session.format("state.status_schema", {
          version: s.schema_version,
          supported: s.schema_supported ?? "-",
        }),
        session.format("state.status_backlog", { count: s.audit_backlog }),
      ]),
    ].join("\n"));
  } finally {
    await backend.close();
  }
});

export const migrate = command<GlobalFlags, []>(async (session) => {
  const backend = await openUnchecked(session);
  try {
    if (backend.name === "files") {
      session.note("state.files_no_migrate", { location: (await backend.status()).location });
      return;
    }
    const pg = backend as PostgresStateBackend;
    const result = await pg.migrate();
    if (session.output === "json") {
      session.out(JSON.stringify({ location: pg.location, ...result }));
      return;
    }
    session.note(result.applied.length > 0 ? "state.migrated" : "state.up_to_date", {
      location: pg.location,
      from: result.from,
      to: result.to,
    });
  } finally {
    await backend.close();
  }
});
