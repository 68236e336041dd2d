/**
 * The three POSIX path operations the config loaders need. Written here rather than
 * imported from node:path because loading Deno's Node compatibility layer costs about
 * 5 ms of every provctl start-up, and config is loaded by every command.
 */

export function join(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  const normal = normalize(joined);
  // Like node:path, join keeps a trailing slash; resolve drops it.
  return joined.endsWith("/") && normal !== "/" ? `${normal}/` : normal;
}

export function dirname(path: string): string {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const slash = trimmed.lastIndexOf("/");
  if (slash < 0) return ".";
  if (slash === 0) return "/";
  return trimmed.slice(0, slash);
}

/** An absolute path: `to` against `from` (default: the current directory). */
export function resolve(from: string, to?: string): string {
  const target = to === undefined ? from : to;
  const base = to === undefined ? Deno.cwd() : from;
  return normalize(
    target.startsWith("/")
      ? target
      : `${base.startsWith("/") ? base : `${Deno.cwd()}/${base}`}/${target}`,
  );
}

function normalize(path: string): string {
  const absolute = path.startsWith("/");
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
    } else out.push(part);
  }
  const joined = out.join("/");
  return absolute ? `/${joined}` : joined || ".";
}
