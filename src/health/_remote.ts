/**
 * Network checks run ON the machine behind a runner (an endpoint bound to the
 * remote's 127.0.0.1, reached through the SSH connection). The remote may have curl,
 * wget or python3 (HTTP) and bash, python3 or nc (TCP); provctl asks once per runner
 * which it has, then runs the chosen program directly. URL, host, headers and paths
 * always travel as separate argv words, never spliced into a shell string.
 */
import type { CommandRunner, RunResult } from "../exec/runner.ts";
import type { HttpCheck, TcpCheck } from "./_types.ts";

export const HTTP_TOOLS = ["curl", "wget", "python3"] as const;
export const TCP_TOOLS = ["bash", "python3", "nc"] as const;
const ALL_TOOLS = ["curl", "wget", "python3", "bash", "nc"];

/** Body bytes looked at for body matches (health pages are small). */
export const BODY_LIMIT = 64 * 1024;

/** What a request attempt came to, whichever program made it. */
export type HttpOutcome =
  | {
    readonly kind: "response";
    readonly status: number;
    readonly body: string;
    readonly via: string;
  }
  | {
    readonly kind: "failed";
    readonly reason: string;
    readonly via: string;
    readonly tls?: boolean;
    readonly timedOut?: boolean;
  };

export type TcpOutcome =
  | { readonly kind: "connected"; readonly via: string }
  | {
    readonly kind: "failed";
    readonly reason: string;
    readonly via: string;
    readonly timedOut?: boolean;
  };

const probes = new WeakMap<CommandRunner, Promise<ReadonlyMap<string, string>>>();

/**
 * Tool name -> absolute path on the runner's machine, for those it has. Asked once per
 * runner; a failed probe (e.g. the connection dropped) is asked again next time.
 */
export function probeTools(runner: CommandRunner): Promise<ReadonlyMap<string, string>> {
  let probe = probes.get(runner);
  if (!probe) {
    // The tool names are constants passed as arguments; `command -v` is POSIX.
    const script =
      'for t in "$@"; do p=$(command -v "$t" 2>/dev/null) && printf "%s %s\\n" "$t" "$p"; done; exit 0';
    probe = runner.run("/bin/sh", ["-c", script, "provctl-probe", ...ALL_TOOLS], {
      timeoutMs: 15000,
    })
      .then((result) => {
        const found = new Map<string, string>();
        for (const line of result.stdout.split("\n")) {
          const space = line.indexOf(" ");
          const path = line.slice(space + 1);
          if (space > 0 && path.startsWith("/")) found.set(line.slice(0, space), path);
        }
        return found;
      });
    probes.set(runner, probe);
    probe.catch(() => probes.delete(runner));
  }
  return probe;
}

/** The first of `preference` the machine has, with its path. */
export function pickTool(
  tools: ReadonlyMap<string, string>,
  preference: readonly string[],
): { name: string; path: string } | undefined {
  for (const name of preference) {
    const path = tools.get(name);
    if (path) return { name, path };
  }
  return undefined;
}

export interface Invocation {
  readonly args: string[];
  readonly env?: Record<string, string>;
}

function seconds(ms: number): string {
  return String(Math.max(ms, 1) / 1000);
}

/** Python for HTTP: argv = url method timeout insecure(0/1) cafile header...; prints status, then body. */
const PYTHON_HTTP = `import sys, urllib.request, urllib.error
url, method, timeout, insecure, cafile = sys.argv[1:6]
class Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None
handlers = [Stay]
if url.lower().startswith("https:"):
    import ssl
    ctx = ssl.create_default_context(cafile=cafile or None)
    if insecure == "1":
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    handlers.append(urllib.request.HTTPSHandler(context=ctx))
req = urllib.request.Request(url, method=method)
for h in sys.argv[6:]:
    k, _, v = h.partition(":")
    req.add_header(k.strip(), v.strip())
try:
    r = urllib.request.build_opener(*handlers).open(req, timeout=float(timeout))
    status, body = r.status, r.read(${BODY_LIMIT})
except urllib.error.HTTPError as e:
    status, body = e.code, e.read(${BODY_LIMIT})
except Exception as e:
    sys.stderr.write("%s\\n" % (getattr(e, "reason", None) or e))
    sys.exit(3)
sys.stdout.write("%d\\n" % status)
sys.stdout.flush()
sys.stdout.buffer.write(body or b"")
`;

const PYTHON_TCP = `import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
except Exception as e:
    sys.stderr.write("%s\\n" % e)
    sys.exit(3)
`;

/** The argv (after the program) that makes `tool` send the check's request. */
export function httpInvocation(tool: string, check: HttpCheck, timeoutMs: number): Invocation {
  const headers = Object.entries(check.headers).map(([k, v]) => `${k}: ${v}`);
  switch (tool) {
    case "curl":
      return {
        args: [
          "--disable", // first: ignore ~/.curlrc
          "--silent",
          "--show-error",
          "--globoff",
          "--max-time",
          seconds(timeoutMs),
          "--output",
          "-",
          "--write-out",
          "\\n%{http_code}",
          ...(check.method === "HEAD" ? ["--head"] : []),
          ...headers.flatMap((h) => ["--header", h]),
          ...(check.tlsInsecure ? ["--insecure"] : []),
          ...(check.caFile ? ["--cacert", check.caFile] : []),
          "--url",
          check.url,
        ],
      };
    case "wget":
      return {
        args: [
          "--no-config",
          "--no-verbose",
          "--server-response",
          "--output-document=-",
          "--content-on-error",
          "--tries=1",
          "--max-redirect=0",
          `--timeout=${seconds(timeoutMs)}`,
          `--method=${check.method}`,
          ...headers.map((h) => `--header=${h}`),
          ...(check.tlsInsecure ? ["--no-check-certificate"] : []),
          ...(check.caFile ? [`--ca-certificate=${check.caFile}`] : []),
          "--",
          check.url,
        ],
        // Status lines are parsed from wget's messages: keep them untranslated.
        env: { LC_ALL: "C" },
      };
    case "python3":
      return {
        args: [
          "-c",
          PYTHON_HTTP,
          check.url,
          check.method,
          seconds(timeoutMs),
          check.tlsInsecure ? "1" : "0",
          check.caFile ?? "",
          ...headers,
        ],
      };
  }
  throw new Error(`no HTTP invocation for ${tool}`);
}

/** curl exit codes that mean the TLS handshake or certificate check failed. */
const CURL_TLS_CODES = new Set([35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91]);

function lines(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

/** Reads what `tool` printed into an outcome. */
export function readHttpOutcome(tool: string, result: RunResult): HttpOutcome {
  const via = tool;
  if (result.timedOut) return { kind: "failed", reason: "", via, timedOut: true };
  switch (tool) {
    case "curl": {
      const cut = result.stdout.lastIndexOf("\n");
      const status = Number(result.stdout.slice(cut + 1));
      if (result.code === 0 && cut >= 0 && status >= 100) {
        return {
          kind: "response",
          status,
          body: result.stdout.slice(0, cut).slice(0, BODY_LIMIT),
          via,
        };
      }
      const reason = lines(result.stderr)[0]?.replace(/^curl: \(\d+\)\s*/, "") ??
        `curl exited ${result.code}`;
      return {
        kind: "failed",
        reason,
        via,
        tls: CURL_TLS_CODES.has(result.code),
        timedOut: result.code === 28,
      };
    }
    case "wget": {
      const statuses = [...result.stderr.matchAll(/^\s*HTTP\/[\d.]+\s+(\d{3})/gm)];
      if (statuses.length > 0) {
        const status = Number(statuses[statuses.length - 1][1]);
        return { kind: "response", status, body: result.stdout.slice(0, BODY_LIMIT), via };
      }
      const all = lines(result.stderr).filter((l) => !/^https?:\/\//.test(l))
        .map((l) => l.replace(/^(?:failed|ERROR):\s*/, "").replace(/\.$/, ""));
      const reason = all.slice(-2).join("; ") || `wget exited ${result.code}`;
      return {
        kind: "failed",
        reason,
        via,
        tls: result.code === 5,
        timedOut: /timed out/i.test(result.stderr),
      };
    }
    default: {
      const cut = result.stdout.indexOf("\n");
      const status = Number(result.stdout.slice(0, cut));
      if (result.code === 0 && cut > 0 && status >= 100) {
        return { kind: "response", status, body: result.stdout.slice(cut + 1), via };
      }
      const reason = lines(result.stderr).pop() ?? `${tool} exited ${result.code}`;
      return {
        kind: "failed",
        reason,
        via,
        tls: /CERTIFICATE_VERIFY_FAILED|SSL|certificate/i.test(reason),
        timedOut: /timed out/i.test(reason),
      };
    }
  }
}

/** The argv (after the program) that makes `tool` open a TCP connection. */
export function tcpInvocation(tool: string, check: TcpCheck, timeoutMs: number): Invocation {
  const port = String(check.port);
  switch (tool) {
    case "bash":
      // Host and port are positional parameters of the script, not part of it.
      return { args: ["-c", 'exec 3<>"/dev/tcp/$1/$2"', "provctl-tcp", check.host, port] };
    case "python3":
      return { args: ["-c", PYTHON_TCP, check.host, port, seconds(timeoutMs)] };
    case "nc":
      return {
        args: [
          "-v",
          "-z",
          "-w",
          String(Math.max(1, Math.ceil(timeoutMs / 1000))),
          check.host,
          port,
        ],
      };
  }
  throw new Error(`no TCP invocation for ${tool}`);
}

export function readTcpOutcome(tool: string, result: RunResult): TcpOutcome {
  if (result.timedOut) return { kind: "failed", reason: "", via: tool, timedOut: true };
  if (result.code === 0) return { kind: "connected", via: tool };
  const last = lines(result.stderr).pop()
    ?.replace(/^.*?(?:bash|nc|provctl-tcp): (?:line \d+: )?/, "")
    .replace(/^\/dev\/tcp\/[^:]*: /, "");
  const reason = last || `${tool} exited ${result.code}`;
  return { kind: "failed", reason, via: tool, timedOut: /timed out/i.test(reason) };
}
