/**
 * API tokens: a name, a scope (read < operate < admin), an optional expiry and a salted
 * SHA-256 of the secret. The secret (256 random bits) is shown once and never stored;
 * high-entropy secrets need no slow KDF, a salt keeps equal secrets from matching.
 *
 * TokenStore is the seam for the state backends (files now, PostgreSQL later).
 */
import { ProvctlError } from "../core/errors.ts";

export const SCOPES = ["read", "operate", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

/** A token as listed (never with its secret or hash). */
export interface TokenRecord {
  readonly name: string;
  readonly scope: Scope;
  /** ISO time */
  readonly created: string;
  /** ISO time, or null for no expiry */
  readonly expires: string | null;
}

export interface StoredToken extends TokenRecord {
  /** base64 */
  readonly salt: string;
  /** base64 of SHA-256(salt || secret) */
  readonly hash: string;
}

export interface TokenStore {
  /** Adds a token; a ProvctlError (Conflict) when the name is taken. */
  add(token: StoredToken): Promise<void>;
  /** Removes a token; false when there was none of that name. */
  remove(name: string): Promise<boolean>;
  list(): Promise<StoredToken[]>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const SECRET_PREFIX = "pvt_";

export function checkTokenName(name: string): string {
  if (!NAME.test(name)) {
    throw new ProvctlError("InvalidName", "token.name_invalid", { params: { name } });
  }
  return name;
}

export function parseScope(value: string): Scope {
  if ((SCOPES as readonly string[]).includes(value)) return value as Scope;
  throw new ProvctlError("Usage", "token.scope_invalid", {
    params: { scope: value, allowed: SCOPES.join(", ") },
  });
}

const UNIT_MS: Record<string, number> = {
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** "30d", "12h", "90m", "2w" -> milliseconds. */
export function parseExpiry(value: string): number {
  const m = /^(\d{1,6})([mhdw])$/.exec(value.trim());
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]] : 0;
  if (!m || ms <= 0) {
    throw new ProvctlError("Usage", "token.expires_invalid", { params: { value } });
  }
  return ms;
}

/** True when `scope` includes `needed`. */
export function scopeAllows(scope: Scope, needed: Scope): boolean {
  return SCOPES.indexOf(scope) >= SCOPES.indexOf(needed);
}

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const b64url = (bytes: Uint8Array) =>
  b64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

async function digest(salt: Uint8Array, secret: string): Promise<Uint8Array> {
  const data = new Uint8Array([...salt, ...new TextEncoder().encode(secret)]);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

/** Equal-length comparison whose time does not depend on where the bytes differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** A new token: its secret (to show once) and what is stored. */
export async function newToken(
  options: { name: string; scope: Scope; expiresInMs?: number; now?: Date },
): Promise<{ secret: string; stored: StoredToken }> {
  const now = options.now ?? new Date();
  const secret = SECRET_PREFIX + b64url(crypto.getRandomValues(new Uint8Array(32)));
  const salt = crypto.getRandomValues(new Uint8Array(16));
  return {
    secret,
    stored: {
      name: checkTokenName(options.name),
      scope: options.scope,
      created: now.toISOString(),
      expires: options.expiresInMs === undefined
        ? null
        : new Date(now.getTime() + options.expiresInMs).toISOString(),
      salt: b64(salt),
      hash: b64(await digest(salt, secret)),
    },
  };
}

export type Verdict =
  | { readonly ok: true; readonly token: TokenRecord }
  | { readonly ok: false; readonly reason: "missing" | "invalid" }
  | { readonly ok: false; readonly reason: "expired"; readonly name: string };

/**
 * The token a presented secret belongs to. Every stored token is hashed and compared
 * (no early exit), so timing does not reveal which names or prefixes exist.
 */
export async function verifySecret(
  tokens: readonly StoredToken[],
  secret: string | undefined,
  now: Date = new Date(),
  cache?: VerifyCache,
): Promise<Verdict> {
  if (!secret) return { ok: false, reason: "missing" };
  let found: StoredToken | undefined;
  const cached = cache?.get(tokens, secret);
  if (cached !== undefined) {
    found = cached ?? undefined;
  } else {
    for (const t of tokens) {
      const match = constantTimeEqual(await digest(unb64(t.salt), secret), unb64(t.hash));
      if (match) found = t;
    }
    cache?.set(tokens, secret, found ?? null);
  }
  if (!found) return { ok: false, reason: "invalid" };
  if (found.expires !== null && Date.parse(found.expires) <= now.getTime()) {
    return { ok: false, reason: "expired", name: found.name };
  }
  return { ok: true, token: publicRecord(found) };
}

/**
 * Which stored token a secret matched, remembered for one list of tokens (a new list,
 * after a create or revoke, starts afresh); expiry is still checked on every request.
 * Bounded: the oldest answers are forgotten first.
 */
export class VerifyCache {
  readonly #max: number;
  #tokens?: readonly StoredToken[];
  readonly #answers = new Map<string, StoredToken | null>();

  constructor(max = 1000) {
    this.#max = max;
  }

  get(tokens: readonly StoredToken[], secret: string): StoredToken | null | undefined {
    if (tokens !== this.#tokens) return undefined;
    return this.#answers.get(secret);
  }

  set(tokens: readonly StoredToken[], secret: string, token: StoredToken | null): void {
    if (tokens !== this.#tokens) {
      this.#tokens = tokens;
      this.#answers.clear();
    }
    if (this.#answers.size >= this.#max) {
      this.#answers.delete(this.#answers.keys().next().value!);
    }
    this.#answers.set(secret, token);
  }
}

export function publicRecord(t: StoredToken): TokenRecord {
  return { name: t.name, scope: t.scope, created: t.created, expires: t.expires };
}
