/** Reading config files, apart from TOML parsing (which is loaded only when a file exists). */
import { ProvctlError } from "../core/errors.ts";

/**
 * A config file's text, or undefined when it does not exist; other failures are errors.
 * Read synchronously: config files are small and every invocation looks for four of them
 * (usually missing), where an async op per file costs start-up about 0.2 ms each.
 */
export function readConfigText(path: string): Promise<string | undefined> {
  try {
    return Promise.resolve(Deno.readTextFileSync(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return Promise.resolve(undefined);
    return Promise.reject(
      new ProvctlError(
        e instanceof Deno.errors.PermissionDenied ? "PermissionDenied" : "InvalidConfig",
        "config.read_failed",
        { params: { path, reason: (e as Error).message }, cause: e },
      ),
    );
  }
}
