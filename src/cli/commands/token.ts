/**
 * provctl token create NAME --scope read|operate|admin [--expires 30d] | list | revoke NAME
 *
 * The secret of a new token goes alone to stdout (a script captures it with $(...));
 * everything else goes to stderr. Only a salted hash is kept, in the state backend
 * ({state_dir}/tokens.json, or the shared database with [state] backend = "postgres").
 */
import { ProvctlError } from "../../core/errors.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { table } from "../render.ts";
import { command, type Session } from "../session.ts";
import {
  checkTokenName,
  newToken,
  parseExpiry,
  parseScope,
  publicRecord,
  type TokenRecord,
  type TokenStore,
} from "../../state/tokens.ts";

export interface TokenCreateFlags extends GlobalFlags {
  readonly scope?: string;
  readonly expires?: string;
}

async function store(session: Session): Promise<TokenStore> {
  return (await session.state()).tokens;
}

export const create = command<TokenCreateFlags, [string]>(async (session, flags, name) => {
  checkTokenName(name);
  if (flags.scope === undefined) throw new ProvctlError("Usage", "token.scope_missing");
  const scope = parseScope(flags.scope);
  const expiresInMs = flags.expires === undefined ? undefined : parseExpiry(flags.expires);
  const { secret, stored } = await newToken({ name, scope, expiresInMs });
  await (await store(session)).add(stored);
  session.ctx.process.stdout.write(`${secret}\n`);
  session.note("token.created", {
    name,
    scope,
    expires: stored.expires ?? session.format("token.never"),
  });
});

export const list = command<GlobalFlags, []>(async (session) => {
  const tokens: TokenRecord[] = (await (await store(session)).list()).map(publicRecord);
  if (session.output === "json") {
    for (const t of tokens) session.out(JSON.stringify(t));
    return;
  }
  if (tokens.length === 0) {
    session.note("token.none");
    return;
  }
  const header = ["name", "scope", "created", "expires"].map((k) =>
    session.colors.bold(session.format(`token.column_${k}`))
  );
  const rows = tokens.map((t) => [
    t.name,
    t.scope,
    t.created,
    t.expires ?? session.format("token.never"),
  ]);
  session.out(table([header, ...rows]).trimEnd());
});

export const revoke = command<GlobalFlags, [string]>(async (session, _flags, name) => {
  checkTokenName(name);
  if (!(await (await store(session)).remove(name))) {
    throw new ProvctlError("NotFound", "token.not_found", { params: { name } });
  }
  session.note("token.revoked", { name });
});
