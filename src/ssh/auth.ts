/**
 * Client authentication in OpenSSH's order: the agent's keys (SSH_AUTH_SOCK), then the
 * identity files (configured ones, or ~/.ssh/id_ed25519, id_ecdsa, id_rsa), then a
 * password. Secrets come from PROVCTL_SSH_PASSPHRASE / PROVCTL_SSH_PASSWORD or a no-echo
 * prompt on a terminal, never from argv, and never appear in messages or errors.
 */
import type { Ssh2AgentIdentity, Ssh2AuthMethod, Ssh2Module, Ssh2ParsedKey } from "./_ssh2.ts";
import { fixEcdsaPrivateKey } from "./_ecdsa_fix.ts";
import { promptSecret } from "./_prompt.ts";
import { embeddedMessages, Messages } from "../config/messages.ts";

let catalog: Messages | undefined;
/** Prompt and warning text from messages.toml (shown before any command output). */
function promptText(key: string, params: Record<string, string>): string {
  catalog ??= new Messages(embeddedMessages());
  return catalog.format(key, params);
}
import type { Endpoint } from "./_plan.ts";

export const PASSPHRASE_ENV = "PROVCTL_SSH_PASSPHRASE";
export const PASSWORD_ENV = "PROVCTL_SSH_PASSWORD";

export interface AuthOptions {
  /** Environment lookup (default Deno.env.get). */
  readonly env?: (name: string) => string | undefined;
  /** Reads a secret without echo; undefined = no terminal (default: the real TTY prompt). */
  readonly prompt?: (message: string) => Promise<string | undefined>;
  /** Agent socket (default $SSH_AUTH_SOCK); "" disables the agent. */
  readonly agentSocket?: string;
  /** Called around prompts so the auth timeout does not run while a human types. */
  readonly onPrompt?: (active: boolean) => void;
  /**
   * Told about a private key ignored for its permissions (OpenSSH's "UNPROTECTED PRIVATE
   * KEY FILE" warning); default: the message on stderr.
   */
  readonly onKeyIgnored?: (key: string, params: Record<string, string>) => void;
}

/** What authentication tried, for the AuthFailed message (no secrets). */
export interface AuthReport {
  readonly tried: string[];
  readonly notes: string[];
}

type Ssh2AuthHandler = (
  methodsLeft: string[] | null,
  partialSuccess: boolean | null,
  next: (method: Ssh2AuthMethod | false) => void,
) => void;

interface Candidate {
  readonly kind: "agent" | "publickey" | "password";
  readonly label: string;
  /** Produces the method, or undefined to skip it (with a note). */
  make(): Promise<Ssh2AuthMethod | undefined>;
}

/** An ssh2 authHandler trying the methods in order, and the report of what it did. */
export function createAuthHandler(
  ssh2: Ssh2Module,
  endpoint: Endpoint,
  options: AuthOptions = {},
): { handler: Ssh2AuthHandler; report: AuthReport } {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const prompt = async (message: string) => {
    options.onPrompt?.(true);
    try {
      return await (options.prompt ?? promptSecret)(message);
    } finally {
      options.onPrompt?.(false);
    }
  };
  const report: AuthReport = { tried: [], notes: [] };
  const username = endpoint.user;
  const candidates: Candidate[] = [];

  const agentSocket = options.agentSocket ?? env("SSH_AUTH_SOCK") ?? "";
  if (agentSocket !== "") {
    candidates.push({
      kind: "agent",
      label: "agent",
      make: async () => {
        if (!endpoint.identitiesOnly) return { type: "agent", username, agent: agentSocket };
        // IdentitiesOnly: only the agent keys whose public half matches an identity file.
        const allowed = await publicBlobs(ssh2, endpoint.identityFiles);
        if (allowed.size === 0) return undefined;
        return { type: "agent", username, agent: filteredAgent(ssh2, agentSocket, allowed) };
      },
    });
  }

  for (const file of endpoint.identityFiles) {
    candidates.push({
      kind: "publickey",
      label: file,
      make: async () => {
        const unprotected = await unprotectedMode(file);
        if (unprotected !== undefined) {
          // As OpenSSH: the key is ignored (with the warning) and the next method is tried.
          const params = { file, mode: unprotected };
          (options.onKeyIgnored ?? printWarning)("ssh.key_unprotected", params);
          report.notes.push(promptText("ssh.key_unprotected_note", params));
          return undefined;
        }
        let text: string;
        try {
          text = await Deno.readTextFile(file);
        } catch (error) {
          if (endpoint.identitiesConfigured || !(error instanceof Deno.errors.NotFound)) {
            report.notes.push(
              `${file}: ${error instanceof Deno.errors.NotFound ? "no such file" : "unreadable"}`,
            );
          }
          return undefined;
        }
        const key = await loadPrivateKey(ssh2, file, text, env, prompt, report);
        return key === undefined ? undefined : { type: "publickey", username, key };
      },
    });
  }

  candidates.push({
    kind: "password",
    label: "password",
    make: async () => {
      const fromEnv = env(PASSWORD_ENV);
      if (fromEnv !== undefined) return { type: "password", username, password: fromEnv };
      const typed = await prompt(
        promptText("ssh.prompt_password", { user: username, host: endpoint.host }),
      );
      if (typed === undefined) {
        report.notes.push(`password: no terminal to ask on and ${PASSWORD_ENV} is not set`);
        return undefined;
      }
      return { type: "password", username, password: typed };
    },
  });

  let index = 0;
  const handler: Ssh2AuthHandler = (methodsLeft, _partial, next) => {
    void (async () => {
      while (index < candidates.length) {
        const candidate = candidates[index++];
        const wire = candidate.kind === "agent" ? "publickey" : candidate.kind;
        if (methodsLeft !== null && !methodsLeft.includes(wire)) continue;
        let method: Ssh2AuthMethod | undefined;
        try {
          method = await candidate.make();
        } catch (error) {
          report.notes.push(
            `${candidate.label}: ${error instanceof Error ? error.message : error}`,
          );
        }
        if (method === undefined) continue;
        report.tried.push(candidate.label);
        return next(method);
      }
      next(false);
    })();
  };
  return { handler, report };
}

/**
 * The octal mode ("0644") of a key file the user owns that others may read or write, as
 * OpenSSH's sshkey_perm_ok refuses it; undefined when the mode is fine (or the file is
 * another user's, which OpenSSH does not judge, or missing: reading it reports that).
 */
async function unprotectedMode(file: string): Promise<string | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(file);
  } catch {
    return undefined;
  }
  if (info.mode === null || info.uid === null || info.uid !== Deno.uid()) return undefined;
  if ((info.mode & 0o077) === 0) return undefined;
  return `0${(info.mode & 0o777).toString(8).padStart(3, "0")}`;
}

function printWarning(key: string, params: Record<string, string>): void {
  console.error(promptText(key, params));
}

async function loadPrivateKey(
  ssh2: Ssh2Module,
  file: string,
  text: string,
  env: (name: string) => string | undefined,
  prompt: (message: string) => Promise<string | undefined>,
  report: AuthReport,
): Promise<Ssh2ParsedKey | undefined> {
  let parsed = firstKey(ssh2.utils.parseKey(text));
  if (parsed instanceof Error && /passphrase/i.test(parsed.message)) {
    const passphrase = env(PASSPHRASE_ENV) ??
      await prompt(promptText("ssh.prompt_passphrase", { file }));
    if (passphrase === undefined) {
      report.notes.push(
        `${file}: encrypted; no terminal to ask for the passphrase and ${PASSPHRASE_ENV} is not set`,
      );
      return undefined;
    }
    parsed = firstKey(ssh2.utils.parseKey(text, passphrase));
    if (parsed instanceof Error) {
      report.notes.push(`${file}: wrong passphrase`);
      return undefined;
    }
  }
  if (parsed instanceof Error) {
    report.notes.push(`${file}: not a private key (${parsed.message})`);
    return undefined;
  }
  if (!parsed.isPrivateKey()) {
    report.notes.push(`${file}: a public key, not a private key`);
    return undefined;
  }
  fixEcdsaPrivateKey(parsed);
  return parsed;
}

function firstKey(result: Ssh2ParsedKey | Ssh2ParsedKey[] | Error): Ssh2ParsedKey | Error {
  return Array.isArray(result) ? result[0] : result;
}

/** Public key blobs (base64) of identity files, from FILE.pub or the private key itself. */
async function publicBlobs(ssh2: Ssh2Module, files: readonly string[]): Promise<Set<string>> {
  const blobs = new Set<string>();
  for (const file of files) {
    for (const candidate of [`${file}.pub`, file]) {
      const text = await Deno.readTextFile(candidate).catch(() => undefined);
      if (text === undefined) continue;
      const key = firstKey(ssh2.utils.parseKey(text));
      if (key instanceof Error) continue;
      blobs.add(toBase64(key.getPublicSSH()));
      break;
    }
  }
  return blobs;
}

/** The agent at `socket`, offering only the identities in `allowed`. */
function filteredAgent(ssh2: Ssh2Module, socket: string, allowed: Set<string>): unknown {
  const agent = new ssh2.OpenSSHAgent(socket);
  const getIdentities = agent.getIdentities.bind(agent);
  agent.getIdentities = (cb) =>
    getIdentities((error, keys) => {
      if (error || !keys) return cb(error, keys);
      cb(undefined, keys.filter((k: Ssh2AgentIdentity) => allowed.has(toBase64(k.getPublicSSH()))));
    });
  return agent;
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
