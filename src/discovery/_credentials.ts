/**
 * Where a source's secret comes from. Never the TOML: `token_env` names an environment
 * variable, `token_file` a file only its owner can read (0600/0400, owned by the user);
 * without either, the provider's usual variable (HCLOUD_TOKEN, DIGITALOCEAN_TOKEN, ...).
 * UpCloud also takes Basic auth from UPCLOUD_USERNAME/UPCLOUD_PASSWORD (or username_env/
 * password_env). AWS uses the standard chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
 * (+ AWS_SESSION_TOKEN), else the profile (aws_profile, AWS_PROFILE, "default") of
 * AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials.
 */
import { ProvctlError } from "../core/errors.ts";
import type { Credentials, Provider } from "./provider.ts";
import { isRegionName, type SourceConfig } from "./sources.ts";

export interface CredentialContext {
  readonly env: Readonly<Record<string, string>>;
  readonly home?: string;
}

export async function credentialsFor(
  source: SourceConfig,
  provider: Provider,
  context: CredentialContext,
): Promise<Credentials> {
  if (source.provider === "aws") return await awsCredentials(source, context);
  if (source.tokenFile !== undefined) {
    const path = expandHome(source.tokenFile, context.home);
    const token = (await readPrivateFile(source, path, "token_file")).trim();
    if (token === "") throw missing(source, path, "discovery.token_file_empty");
    return { kind: "token", token, variable: path };
  }
  const variable = source.tokenEnv ?? provider.defaultTokenEnv;
  const token = context.env[variable]?.trim() ?? "";
  if (token !== "") return { kind: "token", token, variable };
  if (source.provider === "upcloud" && source.tokenEnv === undefined) {
    const userVar = source.usernameEnv ?? "UPCLOUD_USERNAME";
    const passVar = source.passwordEnv ?? "UPCLOUD_PASSWORD";
    const user = context.env[userVar] ?? "";
    const password = context.env[passVar] ?? "";
    if (user !== "" && password !== "") {
      return { kind: "basic", user, password, variable: `${userVar}/${passVar}` };
    }
  }
  throw missing(source, variable, "discovery.token_missing");
}

async function awsCredentials(
  source: SourceConfig,
  context: CredentialContext,
): Promise<Credentials> {
  const env = context.env;
  if (source.awsProfile === undefined && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    return {
      kind: "aws",
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      sessionToken: env.AWS_SESSION_TOKEN || undefined,
      variable: "AWS_ACCESS_KEY_ID",
    };
  }
  const profile = source.awsProfile ?? (env.AWS_PROFILE || "default");
  const file = env.AWS_SHARED_CREDENTIALS_FILE
    ? expandHome(env.AWS_SHARED_CREDENTIALS_FILE, context.home)
    : context.home === undefined
    ? undefined
    : `${context.home}/.aws/credentials`;
  const where = `${file ?? "~/.aws/credentials"} [${profile}]`;
  if (file === undefined) throw missing(source, where, "discovery.aws_credentials_missing");
  let text: string;
  try {
    text = await readPrivateFile(source, file, "AWS credentials file", { mayBeAbsent: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw missing(source, where, "discovery.aws_credentials_missing");
    }
    throw e;
  }
  const section = parseIni(text)[profile] ?? {};
  const accessKeyId = section.aws_access_key_id ?? "";
  const secretAccessKey = section.aws_secret_access_key ?? "";
  if (accessKeyId === "" || secretAccessKey === "") {
    throw missing(source, where, "discovery.aws_credentials_missing");
  }
  return {
    kind: "aws",
    accessKeyId,
    secretAccessKey,
    sessionToken: section.aws_session_token || undefined,
    variable: where,
  };
}

/**
 * The default region chain when a source names none, checked like the file's regions: it
 * goes into the API's host name, where "x@host/#" would send the signed request elsewhere.
 */
export function defaultRegions(env: Readonly<Record<string, string>>): string[] {
  const variable = env.AWS_REGION
    ? "AWS_REGION"
    : env.AWS_DEFAULT_REGION
    ? "AWS_DEFAULT_REGION"
    : "";
  const region = variable === "" ? "us-east-1" : env[variable];
  if (!isRegionName(region)) {
    throw new ProvctlError("InvalidConfig", "discovery.region_env_invalid", {
      params: { variable, value: JSON.stringify(region) },
    });
  }
  return [region];
}

/** INI sections as the AWS CLI writes them ("[name]", "key = value", # and ; comments). */
export function parseIni(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = Object.create(null);
  let current: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[\s*([^\]]+?)\s*\]$/.exec(line);
    if (header) {
      current = out[header[1]] ??= Object.create(null);
      continue;
    }
    const eq = line.indexOf("=");
    if (current && eq > 0) {
      current[line.slice(0, eq).trim().toLowerCase()] = line.slice(eq + 1).trim();
    }
  }
  return out;
}

/**
 * A secret file's text, refused if another user could read or change it: not a regular
 * file, owned by someone else, or with group/other permission bits.
 */
async function readPrivateFile(
  source: SourceConfig,
  path: string,
  what: string,
  options: { mayBeAbsent?: boolean } = {},
): Promise<string> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound && options.mayBeAbsent) throw e;
    throw new ProvctlError("InvalidConfig", "discovery.secret_file_unreadable", {
      params: {
        source: source.name,
        what,
        path,
        reason: e instanceof Error ? e.message : String(e),
      },
    });
  }
  const uid = Deno.uid();
  const mode = info.mode ?? 0;
  if (!info.isFile || (uid !== null && info.uid !== uid) || (mode & 0o077) !== 0) {
    throw new ProvctlError("PermissionDenied", "discovery.secret_file_unsafe", {
      params: {
        source: source.name,
        what,
        path,
        mode: (mode & 0o777).toString(8).padStart(4, "0"),
      },
      hint: "discovery.secret_file_unsafe_hint",
    });
  }
  return await Deno.readTextFile(path);
}

function expandHome(path: string, home: string | undefined): string {
  if (home !== undefined && (path === "~" || path.startsWith("~/"))) return home + path.slice(1);
  return path;
}

function missing(source: SourceConfig, variable: string, key: string): ProvctlError {
  return new ProvctlError("AuthFailed", key, {
    params: { source: source.name, provider: source.provider, variable },
    hint: "discovery.secret_hint",
  });
}
