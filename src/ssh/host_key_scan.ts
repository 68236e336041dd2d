/**
 * Host keys for `provctl hostkey`: the key a host presents in the key exchange, obtained
 * WITHOUT authenticating to it (like ssh-keyscan), directly or through the plan's jump
 * hosts (which are verified and authenticated as usual); and the known_hosts entries
 * recorded for a host.
 *
 * How the key is captured: the target is connected to with host key policy accept-new
 * and a throw-away known_hosts file, so session.ts's own host key path records the
 * presented key there; the moment it is recorded the connection is aborted (before the
 * first authentication request is sent) and the key is read back from that file. This
 * keeps hop handling, timeouts and error messages those of connectSession.
 */
import { ProvctlError } from "../core/errors.ts";
import type { ConnectOptions } from "./session.ts";
import type { ConnectionPlan, Endpoint } from "./_plan.ts";
import type { Marker } from "./_known_hosts_parse.ts";

/** One known_hosts line whose host field matches the host looked up. */
export interface KnownHostEntry {
  readonly file: string;
  readonly line: number;
  readonly marker: Marker;
  /** Absent when the line cannot be parsed (then `error` says why). */
  readonly keyType?: string;
  readonly blob?: Uint8Array;
  readonly error?: string;
}

/**
 * The key `plan.target` presents (SSH wire format). Options are those of
 * connectSession; onHostKey is told about the hops only.
 */
export async function scanHostKey(
  plan: ConnectionPlan,
  options: ConnectOptions = {},
): Promise<Uint8Array> {
  const [{ connectSession }, { parseKnownHosts }] = await Promise.all([
    import("./session.ts"),
    import("./_known_hosts_parse.ts"),
  ]);
  const dir = await Deno.makeTempDir({ prefix: "provctl-keyscan-" });
  const scratch = `${dir}/known_hosts`;
  const target: Endpoint = {
    ...plan.target,
    hostKeyPolicy: "accept-new",
    knownHostsFiles: [scratch],
    globalKnownHostsFiles: [], // the key must land in the scratch file, known or not
    revokedHostKeys: undefined, // a revoked key is captured too; the caller judges it
    hostKeyAlias: undefined,
  };
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  let captured = false;
  try {
    try {
      const session = await connectSession({ hops: plan.hops, target }, {
        ...options,
        signal,
        onHostKey: (where, endpoint, verdict) => {
          if (endpoint !== target) return options.onHostKey?.(where, endpoint, verdict);
          captured = true;
          // Aborting now destroys the client before it asks to authenticate.
          stop.abort();
        },
      });
      session.close(); // not reached unless the server skipped authentication
    } catch (error) {
      if (!captured) throw error;
    }
    const text = await Deno.readTextFile(scratch).catch(() => "");
    const entry = parseKnownHosts(text).find((e) => "blob" in e.key);
    if (entry === undefined || !("blob" in entry.key)) {
      throw new ProvctlError("Internal", "errors.internal", {
        params: { detail: "the scanned host key was not recorded" },
      });
    }
    return entry.key.blob;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Every known_hosts line matching an endpoint (by HostKeyAlias, or host and port the
 * way OpenSSH looks them up), in file order; `name` is the name looked up.
 */
export async function knownHostEntries(
  endpoint: Pick<
    Endpoint,
    "host" | "port" | "knownHostsFiles" | "globalKnownHostsFiles" | "hostKeyAlias"
  >,
): Promise<{ name: string; entries: KnownHostEntry[] }> {
  const { hostsMatch, lookupName, parseKnownHosts } = await import("./_known_hosts_parse.ts");
  const name = endpoint.hostKeyAlias
    ? endpoint.hostKeyAlias.toLowerCase()
    : lookupName(endpoint.host, endpoint.port);
  const entries: KnownHostEntry[] = [];
  const files = [
    ...endpoint.knownHostsFiles.map(expandHome),
    ...(endpoint.globalKnownHostsFiles ?? []),
  ];
  for (const file of files) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw new ProvctlError("InvalidConfig", "known_hosts.unreadable", {
        params: { file, reason: error instanceof Error ? error.message : String(error) },
        cause: error,
      });
    }
    for (const entry of parseKnownHosts(text)) {
      if (!hostsMatch(entry.hosts, name)) continue;
      entries.push(
        "blob" in entry.key
          ? {
            file,
            line: entry.line,
            marker: entry.marker,
            keyType: entry.key.type,
            blob: entry.key.blob,
          }
          : { file, line: entry.line, marker: entry.marker, error: entry.key.error },
      );
    }
  }
  return { name, entries };
}

function expandHome(path: string): string {
  if (path !== "~" && !path.startsWith("~/")) return path;
  const home = Deno.env.get("HOME");
  return home ? home + path.slice(1) : path;
}
