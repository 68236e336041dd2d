/**
 * Reads OpenSSH client configuration (ssh_config(5)) and resolves the settings provctl
 * uses for one host, with OpenSSH 9.2's rules (verified against `ssh -G` in the tests):
 *
 * - The first obtained value of a keyword wins; IdentityFile accumulates.
 * - `Host` patterns match the alias as typed (case-sensitive, `*`, `?`, lists, `!`).
 * - `Match` supports all, host (the HostName so far), originalhost, user (the User so
 *   far, else the local user), localuser, canonical and final, each with `!`. A
 *   `Match final` anywhere makes a second pass over the files, as ssh does: `Host` then
 *   matches the HostName found by the first pass, `final`/`canonical` match, and the
 *   first pass's values still win. Blocks using other criteria (exec, localnetwork,
 *   tagged) cannot be evaluated: if such a block could apply (its other criteria match)
 *   and sets a keyword provctl uses, itself or through an Include, resolution fails
 *   with Unsupported naming file:line; otherwise the block is ignored.
 * - A malformed value of a keyword provctl uses is an InvalidConfig error naming
 *   file:line even inside a block that does not apply, as OpenSSH does. Unknown
 *   keywords are ignored.
 * - Include: relative paths are under ~/.ssh (/etc/ssh for the system file), glob(3)
 *   patterns (`*`, `?`, `[0-9]`), nesting up to 16 levels; an Include inside a
 *   non-matching block is parsed for errors only.
 * - A trailing comment (` # ...`) ends every value, ProxyJump's too; Port takes service
 *   names from /etc/services (`Port https`); ProxyJump hops expand %h %n %p %r %% with
 *   the target's values, as ssh does when it runs the jump.
 * - ProxyCommand (when it wins over ProxyJump) is Unsupported rather than ignored, so
 *   provctl never connects directly to a host meant to be reached through a proxy.
 * - ConnectTimeout 0/none and ServerAliveInterval 0 mean "no timeout"/"disabled" and
 *   are returned as undefined.
 * - With no IdentityFile, the list is OpenSSH's defaults (as `ssh -G` prints), which
 *   may not exist on disk: callers skip missing files.
 * - Without an explicit configFile, /etc/ssh/ssh_config is read after the user file
 *   (like ssh without -F); with one, only that file (like ssh -F FILE).
 */
import { ProvctlError } from "../core/errors.ts";
import { localAccount } from "../core/local_account.ts";
import { matchPattern, matchPatternList } from "./_known_hosts_pattern.ts";
import { type ConfigLine, lexLine } from "./_ssh_config_lexer.ts";
import { glob } from "./_glob.ts";
import { readAll } from "./_read_all.ts";

export interface SshHostConfig {
  /** What the user typed. */
  alias: string;
  /** HostName (with %h etc. expanded) or the alias. */
  hostname: string;
  user?: string;
  /** Default 22. */
  port: number;
  /** Expanded (~, %d, %u, %r, %h), in order. */
  identityFiles: string[];
  identitiesOnly: boolean;
  /** Hop specs "[user@]host[:port]" in order; [] for none. */
  proxyJump: string[];
  strictHostKeyChecking?: "yes" | "no" | "accept-new" | "ask" | "off";
  /** Default ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"] expanded. */
  userKnownHostsFiles: string[];
  /** Default ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]; as written. */
  globalKnownHostsFiles: string[];
  hostKeyAlias?: string;
  /** RevokedHostKeys, expanded (~, %d %u %r %h ...); absent for none. */
  revokedHostKeys?: string;
  connectTimeoutSec?: number;
  serverAliveIntervalSec?: number;
  serverAliveCountMax?: number;
}

const SYSTEM_CONFIG = "/etc/ssh/ssh_config";
const MAX_INCLUDE_DEPTH = 16;
const DEFAULT_GLOBAL_KNOWN_HOSTS = ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"];
const DEFAULT_IDENTITIES = [
  "id_rsa",
  "id_ecdsa",
  "id_ecdsa_sk",
  "id_ed25519",
  "id_ed25519_sk",
  "id_xmss",
  "id_dsa",
];

/** Keywords provctl reads; a Match block it cannot evaluate matters only if it sets one. */
const USED = new Set([
  "hostname",
  "user",
  "port",
  "identityfile",
  "identitiesonly",
  "proxyjump",
  "proxycommand",
  "stricthostkeychecking",
  "userknownhostsfile",
  "globalknownhostsfile",
  "hostkeyalias",
  "revokedhostkeys",
  "connecttimeout",
  "serveraliveinterval",
  "serveralivecountmax",
]);

interface Where {
  file: string;
  line: number;
}

interface Raw {
  hostname?: { value: string; at: Where };
  user?: string;
  port?: number;
  identityFiles: { value: string; at: Where }[];
  identitiesOnly?: boolean;
  proxy?: { jump: string[]; at: Where } | { command: string; at: Where };
  strict?: SshHostConfig["strictHostKeyChecking"];
  knownHosts?: { values: string[]; at: Where };
  globalKnownHosts?: string[];
  hostKeyAlias?: string;
  revokedHostKeys?: { value: string; at: Where };
  connectTimeout?: number;
  serverAliveInterval?: number;
  serverAliveCountMax?: number;
}

/** The state of the block a line is in. */
type Active = true | false | { unsupported: string; at: Where; criteria: string };

interface Context {
  alias: string;
  /** What `Host` lines match: the alias, or in the final pass the HostName found. */
  host: string;
  home: string;
  localUser: string;
  /** Directory relative Include paths are resolved against. */
  includeBase: string;
  raw: Raw;
  /** The second pass after `Match final` (where final and canonical match). */
  finalPass: boolean;
  /** Shared by all files of a pass: a `Match final` was seen. */
  state: { wantFinal: boolean };
}

/**
 * Resolves the settings for `alias` from `configFile` (default ~/.ssh/config; a missing
 * default file means all defaults) and, without an explicit file, /etc/ssh/ssh_config.
 */
export async function resolveSshHost(
  alias: string,
  options: { configFile?: string; home?: string; user?: string } = {},
): Promise<SshHostConfig> {
  // node:os only for an account neither the environment nor /etc/passwd knows: loading it
  // costs every SSH command about 8 ms.
  const account = localAccount();
  const nss = () => import("node:os").then((os) => os.userInfo());
  const home = options.home ?? account.home ?? (await nss()).homedir;
  const localUser = options.user ?? (account.name || (await nss()).username);
  const raw: Raw = { identityFiles: [] };
  const ctx: Context = {
    alias,
    host: alias,
    home,
    localUser,
    includeBase: `${home}/.ssh`,
    raw,
    finalPass: false,
    state: { wantFinal: false },
  };
  await processFiles(ctx, options.configFile);
  if (ctx.state.wantFinal) {
    // As ssh: the HostName found so far becomes the host that Host lines match, and
    // the files are read again; values from the first pass still win.
    const host = resolvedHostname(ctx);
    raw.hostname = {
      value: host.replaceAll("%", "%%"), // expanded already
      at: raw.hostname?.at ?? { file: "", line: 0 },
    };
    await processFiles({ ...ctx, host, finalPass: true }, options.configFile);
  }
  return finish(ctx);
}

async function processFiles(ctx: Context, configFile: string | undefined): Promise<void> {
  if (configFile !== undefined) {
    const file = expandTilde(configFile, ctx.home);
    // Not checked, as ssh -F: the user named this file; its Includes are.
    const text = await readConfig(file, { missingOk: false, checkPerm: false });
    await processText(ctx, file, text!, 0, true);
    return;
  }
  const userFile = `${ctx.home}/.ssh/config`;
  const text = await readConfig(userFile, { missingOk: true, checkPerm: true });
  if (text !== undefined) await processText(ctx, userFile, text, 0, true);
  const systemText = await readConfig(SYSTEM_CONFIG, { missingOk: true, checkPerm: false });
  if (systemText !== undefined) {
    await processText({ ...ctx, includeBase: "/etc/ssh" }, SYSTEM_CONFIG, systemText, 0, true);
  }
}

/** HostName with %h expanded, lowercased (ssh's `host` after the first pass). */
function resolvedHostname(ctx: Context): string {
  const { raw, alias } = ctx;
  return raw.hostname
    ? expandTokens(raw.hostname.value, { h: alias }, "HostName", raw.hostname.at).toLowerCase()
    : alias.toLowerCase();
}

function finish(ctx: Context): SshHostConfig {
  const { raw, alias, home, localUser } = ctx;
  if (raw.proxy && "command" in raw.proxy && raw.proxy.command.toLowerCase() !== "none") {
    throw new ProvctlError("Unsupported", "ssh_config.proxy_command", {
      params: { ...raw.proxy.at, host: alias },
    });
  }
  const hostname = resolvedHostname(ctx);
  const port = raw.port ?? 22;
  const remoteUser = raw.user ?? localUser;
  const tokens = {
    d: home,
    u: localUser,
    r: remoteUser,
    h: hostname,
    n: alias,
    p: String(port),
    i: String(Deno.uid() ?? ""),
    l: Deno.hostname(),
    L: Deno.hostname().split(".")[0],
    k: raw.hostKeyAlias ?? alias,
  };
  const path = (value: string, keyword: string, at: Where) =>
    expandTokens(expandEnv(expandTilde(value, home), keyword, at), tokens, keyword, at);
  const identityFiles = raw.identityFiles.length > 0
    ? raw.identityFiles.map((f) => path(f.value, "IdentityFile", f.at))
    : DEFAULT_IDENTITIES.map((name) => `${home}/.ssh/${name}`);
  const userKnownHostsFiles = raw.knownHosts
    ? raw.knownHosts.values.map((f) => path(f, "UserKnownHostsFile", raw.knownHosts!.at))
    : [`${home}/.ssh/known_hosts`, `${home}/.ssh/known_hosts2`];
  // As ssh: taken as written (no ~, no tokens).
  const globalKnownHostsFiles = raw.globalKnownHosts ?? DEFAULT_GLOBAL_KNOWN_HOSTS;
  const result: SshHostConfig = {
    alias,
    hostname,
    port,
    identityFiles,
    identitiesOnly: raw.identitiesOnly ?? false,
    proxyJump: raw.proxy && "jump" in raw.proxy
      ? raw.proxy.jump.map((hop) =>
        // ssh runs the jump as a ProxyCommand, whose tokens are the target's.
        expandTokens(
          hop,
          {
            h: hostname,
            n: alias,
            p: String(port),
            r: remoteUser,
          },
          "ProxyJump",
          raw.proxy!.at,
        )
      )
      : [],
    userKnownHostsFiles,
    globalKnownHostsFiles,
  };
  if (raw.user !== undefined) result.user = raw.user;
  if (raw.strict !== undefined) result.strictHostKeyChecking = raw.strict;
  if (raw.hostKeyAlias !== undefined) result.hostKeyAlias = raw.hostKeyAlias;
  if (raw.revokedHostKeys !== undefined && raw.revokedHostKeys.value.toLowerCase() !== "none") {
    const { value, at } = raw.revokedHostKeys;
    result.revokedHostKeys = path(value, "RevokedHostKeys", at);
  }
  if (raw.connectTimeout) result.connectTimeoutSec = raw.connectTimeout;
  if (raw.serverAliveInterval) result.serverAliveIntervalSec = raw.serverAliveInterval;
  if (raw.serverAliveCountMax !== undefined) result.serverAliveCountMax = raw.serverAliveCountMax;
  return result;
}

/**
 * The text of a config file. With `checkPerm` (~/.ssh/config and every Include,
 * as ssh's SSHCONF_CHECKPERM) a file owned by another user than us or root, or writable
 * by group or others, is refused like ssh's "Bad owner or permissions": its HostName,
 * ProxyJump, UserKnownHostsFile and StrictHostKeyChecking decide where provctl connects
 * and which host keys it believes.
 */
async function readConfig(
  file: string,
  options: { missingOk: boolean; checkPerm: boolean },
): Promise<string | undefined> {
  try {
    using handle = await Deno.open(file, { read: true });
    if (options.checkPerm) checkPermissions(file, await handle.stat());
    return new TextDecoder().decode(await readAll(handle));
  } catch (e) {
    if (e instanceof ProvctlError) throw e;
    if (e instanceof Deno.errors.NotFound && options.missingOk) return undefined;
    const key = e instanceof Deno.errors.NotFound
      ? "ssh_config.not_found"
      : "ssh_config.unreadable";
    throw new ProvctlError("InvalidConfig", key, {
      params: { file, reason: e instanceof Error ? e.message : String(e) },
      cause: e,
    });
  }
}

function checkPermissions(file: string, info: Deno.FileInfo): void {
  const me = Deno.uid();
  if (me === null || info.uid === null || info.mode === null) return; // no POSIX owners
  const unsafe = (key: string, params: Record<string, string | number>) =>
    new ProvctlError("PermissionDenied", key, {
      params: { file, ...params },
      hint: "ssh_config.hint_unsafe",
    });
  if (info.uid !== 0 && info.uid !== me) {
    throw unsafe("ssh_config.unsafe_owner", { owner: info.uid });
  }
  const groupOnly = (info.mode & 0o022) === 0o020;
  if ((info.mode & 0o022) !== 0 && !(groupOnly && soleMemberGroup(info.gid, me, info.uid))) {
    throw unsafe("ssh_config.unsafe_mode", {
      mode: (info.mode & 0o7777).toString(8).padStart(4, "0"),
    });
  }
}

/**
 * Debian's ssh also accepts a group-writable file when its group has exactly one member,
 * the owner (a user private group, as with umask 002): no other account has it as its
 * primary group and its member list names at most the owner.
 */
function soleMemberGroup(gid: number | null, me: number, owner: number): boolean {
  if (gid === null) return false;
  const lines = (file: string) => {
    try {
      return Deno.readTextFileSync(file).split("\n").map((l) => l.split(":"));
    } catch {
      return [];
    }
  };
  const group = lines("/etc/group").find((f) => f.length >= 4 && Number(f[2]) === gid);
  if (!group) return false;
  const passwd = lines("/etc/passwd").filter((f) => f.length >= 7);
  let members = 0;
  for (const entry of passwd) {
    if (entry[3] === "" || Number(entry[3]) !== gid) continue;
    if (Number(entry[2]) !== me) return false;
    members++;
  }
  const listed = group[3].trim() === "" ? [] : group[3].trim().split(",");
  if (listed.length > 0) {
    const ownerName = passwd.find((f) => Number(f[2]) === owner)?.[0];
    if (listed.length > 1 || listed[0] !== ownerName) return false;
    members++;
  }
  return members > 0;
}

/**
 * Processes one file. `enabled` is the state of the block that included it: false means
 * nothing inside can become active (lines are only checked), an unsupported state
 * carries over (a keyword set inside is refused as in the including block).
 */
async function processText(
  ctx: Context,
  file: string,
  text: string,
  depth: number,
  enabled: Active,
): Promise<void> {
  let active: Active = enabled;
  const within = (state: Active): Active => {
    if (enabled === false || state === false) return false;
    if (typeof enabled === "object") return enabled;
    return state;
  };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const at = { file, line: i + 1 };
    const lexed = lexLine(lines[i]);
    if (lexed === undefined) continue;
    if ("error" in lexed) throw invalid("ssh_config.syntax", at, { reason: lexed.error });
    const { keyword, args } = lexed;
    if (keyword === "host") {
      if (args.length === 0) throw invalid("ssh_config.missing_argument", at, { keyword: "Host" });
      active = within(hostMatches(ctx.host, args));
    } else if (keyword === "match") {
      active = within(evaluateMatch(ctx, args, at));
    } else if (keyword === "include") {
      if (args.length === 0) {
        throw invalid("ssh_config.missing_argument", at, { keyword: "Include" });
      }
      if (depth + 1 > MAX_INCLUDE_DEPTH) {
        throw invalid("ssh_config.include_depth", at, { max: MAX_INCLUDE_DEPTH });
      }
      for (const arg of args) {
        let pattern = expandTilde(arg, ctx.home);
        if (!pattern.startsWith("/")) pattern = `${ctx.includeBase}/${pattern}`;
        for (const included of await glob(pattern)) {
          const includedText = await readConfig(included, { missingOk: true, checkPerm: true });
          if (includedText === undefined) continue;
          await processText(ctx, included, includedText, depth + 1, active);
        }
      }
    } else if (USED.has(keyword)) {
      if (typeof active === "object") {
        throw new ProvctlError("Unsupported", "ssh_config.match_unsupported", {
          params: {
            ...active.at,
            criteria: active.criteria,
            criterion: active.unsupported,
            keyword,
            host: ctx.alias,
          },
        });
      }
      apply(ctx.raw, lexed, at, active);
    }
  }
}

function hostMatches(alias: string, patterns: string[]): boolean {
  let matched = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith("!");
    if (matchPattern(alias, negated ? pattern.slice(1) : pattern)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** Parses a Match line and decides whether its block applies. */
function evaluateMatch(ctx: Context, args: string[], at: Where): Active {
  const criteria = args.join(" ");
  if (args.length === 0) throw invalid("ssh_config.missing_argument", at, { keyword: "Match" });
  let result = true;
  let unsupported: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const word = args[i];
    const negated = word.startsWith("!");
    const name = (negated ? word.slice(1) : word).toLowerCase();
    if (name === "all") {
      const rest = args.slice(i + 1).filter((a) =>
        !["canonical", "final"].includes(a.toLowerCase())
      );
      if (
        negated || rest.length > 0 ||
        args.slice(0, i).some((a) => !["canonical", "final"].includes(a.toLowerCase()))
      ) {
        throw invalid("ssh_config.match_syntax", at, {
          criteria,
          reason: "'all' cannot be combined with other criteria",
        });
      }
      continue;
    }
    if (name === "canonical" || name === "final") {
      // Both match only in the final pass; any `final` (even `!final`, even in a block
      // or file that cannot apply) asks for that pass, as ssh 9.2 does.
      if (name === "final") ctx.state.wantFinal = true;
      if (ctx.finalPass === negated) result = false;
      continue;
    }
    const value = args[++i];
    if (value === undefined) {
      throw invalid("ssh_config.match_syntax", at, {
        criteria,
        reason: `'${name}' needs an argument`,
      });
    }
    const list = value.split(",");
    let hit: boolean;
    switch (name) {
      case "host": {
        const host = ctx.raw.hostname
          ? expandTokens(ctx.raw.hostname.value, { h: ctx.alias }, "HostName", ctx.raw.hostname.at)
          : ctx.alias;
        hit = matchPatternList(host.toLowerCase(), list, true) === 1;
        break;
      }
      case "originalhost":
        hit = matchPatternList(ctx.alias.toLowerCase(), list, true) === 1;
        break;
      case "user":
        hit = matchPatternList(ctx.raw.user ?? ctx.localUser, list, false) === 1;
        break;
      case "localuser":
        hit = matchPatternList(ctx.localUser, list, false) === 1;
        break;
      case "exec":
      case "localnetwork":
      case "tagged":
        unsupported ??= name;
        continue;
      default:
        throw invalid("ssh_config.match_syntax", at, {
          criteria,
          reason: `unknown criterion '${name}'`,
        });
    }
    if (hit === negated) result = false;
  }
  if (!result) return false;
  return unsupported ? { unsupported, at, criteria } : true;
}

const STRICT_VALUES: Record<string, SshHostConfig["strictHostKeyChecking"]> = {
  yes: "yes",
  true: "yes",
  no: "no",
  false: "no",
  off: "off",
  ask: "ask",
  "accept-new": "accept-new",
};

/** Validates a line of a keyword we use and records it if the block applies. */
function apply(raw: Raw, { keyword, args, rest }: ConfigLine, at: Where, active: boolean): void {
  const name = DISPLAY[keyword] ?? keyword;
  if (args.length === 0) throw invalid("ssh_config.missing_argument", at, { keyword: name });
  const single = (): string => {
    if (args.length > 1) {
      throw invalid("ssh_config.extra_arguments", at, {
        keyword: name,
        extra: args.slice(1).join(" "),
      });
    }
    return args[0];
  };
  const bad = (value: string, expected: string) =>
    invalid("ssh_config.bad_value", at, { keyword: name, value, expected });
  switch (keyword) {
    case "hostname": {
      const value = single();
      if (active && !raw.hostname) raw.hostname = { value, at };
      return;
    }
    case "user": {
      const value = single();
      if (active) raw.user ??= value;
      return;
    }
    case "port": {
      const port = parsePort(single());
      if (port === undefined) throw bad(args[0], "a port number from 1 to 65535");
      if (active) raw.port ??= port;
      return;
    }
    case "identityfile": {
      const value = single();
      // ssh ignores a repeated IdentityFile (same text), e.g. in the final pass.
      if (active && !raw.identityFiles.some((f) => f.value === value)) {
        raw.identityFiles.push({ value, at });
      }
      return;
    }
    case "identitiesonly": {
      const value = single().toLowerCase();
      if (value !== "yes" && value !== "no") throw bad(args[0], "yes or no");
      if (active) raw.identitiesOnly ??= value === "yes";
      return;
    }
    case "stricthostkeychecking": {
      const value = STRICT_VALUES[single().toLowerCase()];
      if (value === undefined) throw bad(args[0], "yes, no, accept-new, ask or off");
      if (active) raw.strict ??= value;
      return;
    }
    case "proxyjump": {
      // OpenSSH 9.2 takes the rest of the line as is (no quotes, no spaces) up to a
      // trailing comment.
      const text = withoutComment(rest);
      // ssh 9.2 compares the whole rest with "none" before it drops the comment, so it
      // jumps through a host called "none": refuse rather than guess either way.
      if (active && !raw.proxy && text.toLowerCase() === "none" && rest.trim() !== text) {
        throw invalid("ssh_config.jump_none_comment", at, {});
      }
      const hops = text.toLowerCase() === "none" ? [] : parseJump(text);
      if (hops === undefined) throw bad(text, "none or comma-separated [user@]host[:port] hops");
      if (active && !raw.proxy) raw.proxy = { jump: hops, at };
      return;
    }
    case "proxycommand": {
      if (active && !raw.proxy) raw.proxy = { command: withoutComment(rest), at };
      return;
    }
    case "userknownhostsfile": {
      if (active && !raw.knownHosts) {
        raw.knownHosts = {
          values: args.length === 1 && args[0].toLowerCase() === "none" ? [] : args,
          at,
        };
      }
      return;
    }
    case "globalknownhostsfile": {
      if (active && !raw.globalKnownHosts) {
        raw.globalKnownHosts = args.length === 1 && args[0].toLowerCase() === "none" ? [] : args;
      }
      return;
    }
    case "hostkeyalias": {
      const value = single();
      if (active) raw.hostKeyAlias ??= value;
      return;
    }
    case "revokedhostkeys": {
      const value = single();
      if (active) raw.revokedHostKeys ??= { value, at };
      return;
    }
    case "connecttimeout": {
      const value = single();
      const seconds = value.toLowerCase() === "none" ? 0 : parseTime(value);
      if (seconds === undefined) throw bad(value, "a time like 30, 30s, 2m or 1h30m, or none");
      // "none" leaves it unset (ssh stores -1, "not set"), so a later value still wins.
      if (active && value.toLowerCase() !== "none") raw.connectTimeout ??= seconds;
      return;
    }
    case "serveraliveinterval": {
      const seconds = parseTime(single());
      if (seconds === undefined) {
        throw bad(args[0], "a time like 30, 30s, 2m or 1h30m (0 disables)");
      }
      if (active) raw.serverAliveInterval ??= seconds;
      return;
    }
    case "serveralivecountmax": {
      const value = single();
      if (!/^\d{1,9}$/.test(value)) throw bad(value, "a whole number >= 0");
      if (active) raw.serverAliveCountMax ??= Number(value);
      return;
    }
  }
}

const DISPLAY: Record<string, string> = {
  hostname: "HostName",
  user: "User",
  port: "Port",
  identityfile: "IdentityFile",
  identitiesonly: "IdentitiesOnly",
  proxyjump: "ProxyJump",
  proxycommand: "ProxyCommand",
  stricthostkeychecking: "StrictHostKeyChecking",
  userknownhostsfile: "UserKnownHostsFile",
  globalknownhostsfile: "GlobalKnownHostsFile",
  hostkeyalias: "HostKeyAlias",
  revokedhostkeys: "RevokedHostKeys",
  connecttimeout: "ConnectTimeout",
  serveraliveinterval: "ServerAliveInterval",
  serveralivecountmax: "ServerAliveCountMax",
};

/** The text up to a word starting with "#" (ssh ignores such a trailing comment). */
function withoutComment(rest: string): string {
  return rest.replace(/(^|[ \t])#.*$/, "").trim();
}

/** A port number, or a TCP service name from /etc/services as getservbyname() reads it. */
function parsePort(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return serviceNames().get(text);
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

let services: Map<string, number> | undefined;
/** TCP service names and aliases of /etc/services (read once, when a name is used). */
function serviceNames(): Map<string, number> {
  if (services) return services;
  services = new Map();
  let text = "";
  try {
    text = Deno.readTextFileSync("/etc/services");
  } catch { /* no services database: only numbers */ }
  for (const line of text.split("\n")) {
    const [name, portProto, ...aliases] = line.replace(/#.*/, "").trim().split(/\s+/);
    const m = /^(\d+)\/tcp$/.exec(portProto ?? "");
    if (!name || !m) continue;
    const port = Number(m[1]);
    if (port < 1 || port > 65535) continue;
    for (const n of [name, ...aliases]) if (!services.has(n)) services.set(n, port);
  }
  return services;
}

/** OpenSSH convtime(): "90", "90s", "1m30s", "1h", units s m h d w (any case). */
function parseTime(text: string): number | undefined {
  if (!/^(\d+[smhdwSMHDW]?)+$/.test(text)) return undefined;
  const unit: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  let total = 0;
  for (const [, n, u] of text.matchAll(/(\d+)([smhdwSMHDW]?)/g)) {
    total += Number(n) * unit[u.toLowerCase()];
  }
  return total <= 2 ** 31 - 1 ? total : undefined;
}

/** ProxyJump hops as "[user@]host[:port]"; ssh:// URIs are converted; undefined if invalid. */
function parseJump(text: string): string[] | undefined {
  if (text === "") return undefined;
  const hops: string[] = [];
  for (const spec of text.split(",")) {
    let hop = spec;
    if (hop.startsWith("ssh://")) hop = hop.slice(6).replace(/\/$/, "");
    const m = /^(?:([^@\s]+)@)?(\[[^\]\s]+\]|[^:@\[\]\s/]+)(?::(\d+))?$/.exec(hop);
    // ssh's a2port(): a number only (no service names here).
    if (!m || (m[3] !== undefined && !/^\d{1,5}$/.test(m[3]))) return undefined;
    if (m[3] !== undefined && (Number(m[3]) < 1 || Number(m[3]) > 65535)) return undefined;
    hops.push(hop);
  }
  return hops;
}

function expandTilde(path: string, home: string): string {
  return path === "~" || path.startsWith("~/") ? home + path.slice(1) : path;
}

function expandEnv(text: string, keyword: string, at: Where): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const value = Deno.env.get(name);
    if (value === undefined) throw invalid("ssh_config.unknown_env", at, { keyword, name });
    return value;
  });
}

function expandTokens(
  text: string,
  tokens: Record<string, string>,
  keyword: string,
  at: Where,
): string {
  return text.replace(/%(.?)/g, (_, token: string) => {
    if (token === "%") return "%";
    const value = tokens[token];
    if (value === undefined) {
      throw invalid("ssh_config.bad_token", at, {
        keyword,
        token: token || "(end of value)",
        known: ["%%", ...Object.keys(tokens).map((t) => `%${t}`)].join(" "),
      });
    }
    return value;
  });
}

function invalid(key: string, at: Where, params: Record<string, string | number>): ProvctlError {
  return new ProvctlError("InvalidConfig", key, { params: { ...at, ...params } });
}
