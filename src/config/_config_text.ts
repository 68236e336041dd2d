/** Reading config files, apart from TOML parsing (which is loaded only when a file exists). */
import { ProvctlError } from "../core/errors.ts";

/** A config file's text, or undefined when it does not exist; other failures are errors. */
export async function readConfigText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new ProvctlError(
      e instanceof Deno.errors.PermissionDenied ? "PermissionDenied" : "InvalidConfig",
      "config.read_failed",
      { params: { path, reason: (e as Error).message }, cause: e },
    );
  }
}
