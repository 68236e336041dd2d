/**
 * The files backend of TokenStore: {state_dir}/tokens.json, mode 0600, written whole to
 * a temporary file and renamed (never half-written), under a lock directory so two
 * `provctl token create` at once do not lose one another's token.
 */
import { ProvctlError } from "../core/errors.ts";
import { fileStamp } from "../core/file_stamp.ts";
import type { StoredToken, TokenStore } from "./tokens.ts";

interface TokenFile {
  version: 1;
  tokens: StoredToken[];
}

const LOCK_WAIT_MS = 5000;

export class FileTokenStore implements TokenStore {
  readonly path: string;
  #cache?: { stamp: string; tokens: StoredToken[] };

  constructor(stateDir: string) {
    this.path = `${stateDir.replace(/\/+$/, "")}/tokens.json`;
  }

  async list(): Promise<StoredToken[]> {
    // The server checks tokens on every request: reread only when the file changed (a
    // revoke renames a new file into place, a chmod changes ctime: both change the stamp).
    const stamp = fileStamp(this.path);
    if (stamp !== undefined && this.#cache?.stamp === stamp) return this.#cache.tokens;
    const tokens = await this.#read();
    this.#cache = stamp === undefined ? undefined : { stamp, tokens };
    return tokens;
  }

  async add(token: StoredToken): Promise<void> {
    await this.#locked(async () => {
      const tokens = await this.#read();
      if (tokens.some((t) => t.name === token.name)) {
        throw new ProvctlError("Conflict", "token.exists", { params: { name: token.name } });
      }
      await this.#write([...tokens, token]);
    });
  }

  async remove(name: string): Promise<boolean> {
    return await this.#locked(async () => {
      const tokens = await this.#read();
      const rest = tokens.filter((t) => t.name !== name);
      if (rest.length === tokens.length) return false;
      await this.#write(rest);
      return true;
    });
  }

  async #read(): Promise<StoredToken[]> {
    let text: string;
    try {
      const info = await Deno.lstat(this.path);
      if (!info.isFile) throw new Error("not a regular file");
      // Another user able to write the file could add a token: refuse to trust it.
      if (info.uid !== null && info.uid !== Deno.uid()) throw new Error("owned by another user");
      if (info.mode !== null && (info.mode & 0o077) !== 0) {
        throw new Error(`mode ${(info.mode & 0o777).toString(8)}, expected 600`);
      }
      text = await Deno.readTextFile(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw this.#unreadable(error);
    }
    try {
      const data = JSON.parse(text) as TokenFile;
      if (data.version !== 1 || !Array.isArray(data.tokens)) throw new Error("unknown format");
      return data.tokens;
    } catch (error) {
      throw this.#unreadable(error);
    }
  }

  async #write(tokens: StoredToken[]): Promise<void> {
    const tmp = `${this.path}.tmp-${Deno.pid}`;
    const body = JSON.stringify({ version: 1, tokens } satisfies TokenFile, null, 2) + "\n";
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      await Deno.chmod(tmp, 0o600);
      await file.write(new TextEncoder().encode(body));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, this.path);
    this.#cache = undefined;
  }

  async #locked<T>(work: () => Promise<T>): Promise<T> {
    const dir = this.path.slice(0, this.path.lastIndexOf("/")) || "/";
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const lock = `${this.path}.lock`;
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        await Deno.mkdir(lock);
        break;
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        if (Date.now() > deadline) {
          throw new ProvctlError("Locked", "token.locked", { params: { path: lock } });
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    try {
      return await work();
    } finally {
      await Deno.remove(lock).catch(() => {});
    }
  }

  #unreadable(error: unknown): ProvctlError {
    return new ProvctlError("InvalidConfig", "token.file_unreadable", {
      params: { path: this.path, reason: error instanceof Error ? error.message : String(error) },
      cause: error,
    });
  }
}
