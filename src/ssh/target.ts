/**
 * From what the user typed (`--host [user@]host[:port]`, `--jump a,b`, `-i KEY`,
 * `--ssh-config FILE`) and ~/.ssh/config to a connection plan: the hops to go through,
 * in order, and the target, each fully resolved (host, port, user, keys, known_hosts,
 * host key policy). Flags win over ssh_config, as on OpenSSH's command line.
 */
import { ProvctlError } from "../core/errors.ts";
import { localAccount } from "../core/local_account.ts";
import type { HostKeyPolicy } from "./known_hosts.ts";
import { resolveSshHost, type SshHostConfig } from "./ssh_config.ts";
import type { ConnectionPlan, Endpoint } from "./_plan.ts";

export type { ConnectionPlan, Endpoint } from "./_plan.ts";
export { endpointLabel, planKey } from "./_plan.ts";

/** `[user@]host[:port]` or `[user@][v6addr]:port`, as typed. */
export interface TargetSpec {
  readonly user?: string;
  readonly host: string;
  readonly port?: number;
}

export interface PlanOptions {
  /** --ssh-config FILE (default ~/.ssh/config). */
  readonly sshConfigFile?: string;
  /** --jump a,b: replaces the ProxyJump of ssh_config. */
  readonly jump?: readonly string[];
  /** -i KEY (repeatable): tried before the identity files of ssh_config. */
  readonly identityFiles?: readonly string[];
  /** Overrides StrictHostKeyChecking (e.g. from provctl's machine entry or a flag). */
  readonly hostKeyPolicy?: HostKeyPolicy;
  /** Policy when neither a flag nor ssh_config says (defaults.toml ssh.host_key_policy). */
  readonly defaultHostKeyPolicy?: HostKeyPolicy;
  /** Overrides UserKnownHostsFile. */
  readonly knownHostsFiles?: readonly string[];
  /** Home directory for ~ (default $HOME). */
  readonly home?: string;
  /** Local user name, the default remote user (default $USER). */
  readonly localUser?: string;
}

const MAX_HOPS = 16;

/** Parses `[user@]host[:port]`, `[user@][::1]:port` and bare IPv6 addresses. */
export function parseTargetSpec(spec: string): TargetSpec {
  const raw = spec.trim();
  const bad = (reason: string) =>
    new ProvctlError("InvalidArgument", "ssh.target_invalid", {
      params: { spec, reason },
      hint: "ssh.target_hint",
    });
  if (raw === "") throw bad("it is empty");
  if (/\s/.test(raw)) throw bad("it contains whitespace");
  let rest = raw;
  let user: string | undefined;
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (user === "") throw bad("the user before '@' is empty");
  }
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) throw bad("'[' without a closing ']'");
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== "") {
      if (!after.startsWith(":")) throw bad(`unexpected '${after}' after ']'`);
      portText = after.slice(1);
    }
  } else if ((rest.match(/:/g) ?? []).length > 1) {
    host = rest; // bare IPv6 address, no port
  } else {
    const colon = rest.indexOf(":");
    host = colon < 0 ? rest : rest.slice(0, colon);
    portText = colon < 0 ? undefined : rest.slice(colon + 1);
  }
  if (host === "") throw bad("the host is empty");
  if (host.startsWith("-")) throw bad("the host starts with '-'");
  let port: number | undefined;
  if (portText !== undefined) {
    port = parsePort(portText, () => bad(`'${portText}' is not a port (1-65535)`));
  }
  return { user, host, port };
}

function parsePort(text: string, error: () => Error): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw error();
  const port = Number(text);
  if (port < 1 || port > 65535) throw error();
  return port;
}

/** Resolves the hops and the target of `spec` (see the module comment). */
export async function resolveConnectionPlan(
  spec: string,
  options: PlanOptions = {},
): Promise<ConnectionPlan> {
  const parsed = parseTargetSpec(spec);
  const config = await lookup(parsed.host, options);
  const target = toEndpoint(parsed, config, options, options.identityFiles ?? []);
  const jumpSpecs = options.jump !== undefined
    ? options.jump.map((s) => s.trim()).filter((s) => s !== "" && s !== "none")
    : config.proxyJump;
  const hops = await resolveHops(jumpSpecs, options, [parsed.host]);
  return { hops, target };
}

/**
 * The chain for `-J h1,...,hn`: hosts h2..hn are reached through the ones before them
 * (their own ProxyJump does not apply, as with OpenSSH), h1 through its own ProxyJump.
 */
async function resolveHops(
  specs: readonly string[],
  options: PlanOptions,
  seen: string[],
): Promise<Endpoint[]> {
  if (specs.length === 0) return [];
  const endpoints: Endpoint[] = [];
  let first: SshHostConfig | undefined;
  for (const [i, spec] of specs.entries()) {
    const parsed = parseTargetSpec(spec);
    const config = await lookup(parsed.host, options);
    if (i === 0) first = config;
    endpoints.push(toEndpoint(parsed, config, options, []));
  }
  const firstAlias = parseTargetSpec(specs[0]).host;
  if (seen.includes(firstAlias) || seen.length > MAX_HOPS) {
    throw new ProvctlError("InvalidConfig", "ssh.jump_loop", {
      params: { chain: [...seen, firstAlias].join(" -> ") },
    });
  }
  const before = await resolveHops(first?.proxyJump ?? [], options, [...seen, firstAlias]);
  const all = [...before, ...endpoints];
  if (all.length > MAX_HOPS) {
    throw new ProvctlError("InvalidConfig", "ssh.jump_too_long", { params: { max: MAX_HOPS } });
  }
  return all;
}

function lookup(alias: string, options: PlanOptions): Promise<SshHostConfig> {
  return resolveSshHost(alias, {
    configFile: options.sshConfigFile,
    home: options.home,
    user: options.localUser,
  });
}

function toEndpoint(
  parsed: TargetSpec,
  config: SshHostConfig,
  options: PlanOptions,
  extraIdentities: readonly string[],
): Endpoint {
  const home = options.home ?? Deno.env.get("HOME") ?? "/";
  // ssh_config reports OpenSSH's default identity list when none is configured; like
  // ssh, provctl then uses its defaults only when -i gave none either.
  const fromConfig = isDefaultList(config.identityFiles, home) ? [] : config.identityFiles;
  const configured = [...extraIdentities.map((f) => expandHome(f, home)), ...fromConfig];
  const identityFiles = configured.length > 0
    ? dedupe(configured)
    : ["id_ed25519", "id_ecdsa", "id_rsa"].map((name) => `${home}/.ssh/${name}`);
  const keepalive = config.serverAliveIntervalSec;
  return {
    alias: parsed.host,
    host: config.hostname || parsed.host,
    port: parsed.port ?? config.port ?? 22,
    user: parsed.user ?? config.user ?? options.localUser ?? localUserName(),
    identityFiles,
    identitiesConfigured: configured.length > 0,
    identitiesOnly: config.identitiesOnly,
    knownHostsFiles: options.knownHostsFiles?.map((f) => expandHome(f, home)) ??
      config.userKnownHostsFiles,
    globalKnownHostsFiles: config.globalKnownHostsFiles,
    hostKeyPolicy: options.hostKeyPolicy ?? policyFrom(config.strictHostKeyChecking) ??
      options.defaultHostKeyPolicy ?? "strict",
    hostKeyAlias: config.hostKeyAlias,
    ...(config.revokedHostKeys !== undefined ? { revokedHostKeys: config.revokedHostKeys } : {}),
    connectTimeoutMs: config.connectTimeoutSec === undefined
      ? undefined
      : config.connectTimeoutSec * 1000,
    keepaliveIntervalMs: keepalive === undefined || keepalive <= 0 ? undefined : keepalive * 1000,
    keepaliveCountMax: config.serverAliveCountMax,
  };
}

/** StrictHostKeyChecking to provctl's policy; "ask" is strict (provctl never asks). */
function policyFrom(value: SshHostConfig["strictHostKeyChecking"]): HostKeyPolicy | undefined {
  switch (value) {
    case "yes":
    case "ask":
      return "strict";
    case "accept-new":
      return "accept-new";
    case "no":
    case "off":
      return "off";
    default:
      return undefined;
  }
}

const OPENSSH_DEFAULT_IDENTITIES = [
  "id_rsa",
  "id_ecdsa",
  "id_ecdsa_sk",
  "id_ed25519",
  "id_ed25519_sk",
  "id_xmss",
  "id_dsa",
];

function isDefaultList(files: readonly string[], home: string): boolean {
  const defaults = new Set(OPENSSH_DEFAULT_IDENTITIES.map((name) => `${home}/.ssh/${name}`));
  return files.length > 0 && files.every((f) => defaults.has(f));
}

function expandHome(path: string, home: string): string {
  if (path === "~") return home;
  return path.startsWith("~/") ? `${home}/${path.slice(2)}` : path;
}

function dedupe(items: readonly string[]): string[] {
  return [...new Set(items)];
}

/** ssh's default user: the local account's name. */
function localUserName(): string {
  return localAccount().name || "root";
}
