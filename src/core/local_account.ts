/**
 * The local user running provctl: its name and home directory, as OpenSSH and the audit
 * log need them. $USER/$LOGNAME and $HOME first (what the user set), else the passwd entry
 * of the uid, read from /etc/passwd in-process. node:os's userInfo() would also see
 * accounts only NSS knows (LDAP), but loading Node's compatibility layer costs an invocation
 * about 8 ms of start-up: callers that must know use it only when this answer is empty.
 */
export interface LocalAccount {
  /** Login name; "" when no source knows it. */
  readonly name: string;
  /** Home directory; undefined when no source knows it. */
  readonly home?: string;
  readonly uid: number | null;
}

let cached: LocalAccount | undefined;

export function localAccount(): LocalAccount {
  if (cached) return cached;
  let uid: number | null = null;
  try {
    uid = Deno.uid();
  } catch { /* not on this platform (Windows) */ }
  let name = Deno.env.get("USER") || Deno.env.get("LOGNAME") || "";
  let home = Deno.env.get("HOME") || undefined;
  if ((!name || home === undefined) && uid !== null) {
    const entry = passwdEntry(uid);
    name ||= entry?.name ?? "";
    home ??= entry?.home || undefined;
  }
  cached = { name, home, uid };
  return cached;
}

/** The /etc/passwd line of `uid` (name:password:uid:gid:gecos:home:shell). */
function passwdEntry(uid: number): { name: string; home: string } | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync("/etc/passwd");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const fields = line.split(":");
    if (fields.length >= 7 && fields[2] === String(uid)) {
      return { name: fields[0], home: fields[5] };
    }
  }
  return undefined;
}
