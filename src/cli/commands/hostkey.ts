/**
 * provctl hostkey show|scan|trust HOST: look at and record SSH host keys, with the
 * known_hosts files, hops and settings the connection plan of HOST uses (ssh_config,
 * --ssh-config, --jump, -i).
 *
 * - show: the known_hosts lines for HOST (exit 3 when there is none).
 * - scan: the key HOST presents (without authenticating) and whether it is known;
 *   exit 0 known, 3 unknown, 1 changed or revoked. Records nothing.
 * - trust: scan, then append a hashed line to the first known_hosts file; a changed or
 *   revoked key is refused (nothing written), an already known key is reported (exit 0).
 */
import { ExitCode, isProvctlError, ProvctlError } from "../../core/errors.ts";
import { fingerprintMd5, fingerprintSha256, keyTypeOf } from "../../ssh/fingerprint.ts";
import type { HostKeyPolicy } from "../../ssh/known_hosts.ts";
import type { ConnectOptions } from "../../ssh/session.ts";
import type { ConnectionPlan, Endpoint } from "../../ssh/target.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { table } from "../render.ts";
import { command, type Session } from "../session.ts";

export const show = command<GlobalFlags, [string]>(async (session, flags, spec) => {
  const plan = await planFor(session, flags, spec);
  const { knownHostEntries } = await import("../../ssh/host_key_scan.ts");
  const { name, entries } = await knownHostEntries(plan.target);
  if (entries.length === 0) {
    throw new ProvctlError("NotFound", "remote.hostkey_none", {
      params: { name, spec, files: filesText(plan.target) },
      hint: "remote.hostkey_none_hint",
    });
  }
  if (session.output === "json") {
    for (const e of entries) {
      session.out(JSON.stringify({
        host: spec,
        name,
        file: e.file,
        line: e.line,
        marker: e.marker,
        key_type: e.keyType ?? null,
        sha256: e.blob ? fingerprintSha256(e.blob) : null,
        md5: e.blob ? fingerprintMd5(e.blob) : null,
        error: e.error ?? null,
      }));
    }
    return;
  }
  const header = ["entry", "type", "sha256", "md5", "note"].map((k) =>
    session.colors.bold(session.format(`remote.column_${k}`))
  );
  const rows = entries.map((e) => [
    `${e.file}:${e.line}`,
    e.keyType ?? "-",
    e.blob ? fingerprintSha256(e.blob) : "-",
    e.blob ? fingerprintMd5(e.blob) : "-",
    e.error !== undefined
      ? session.format("remote.note_garbled", { reason: e.error })
      : e.marker === "revoked"
      ? session.format("remote.note_revoked")
      : e.marker === "cert-authority"
      ? session.format("remote.note_cert_authority")
      : "",
  ]);
  session.out(table([header, ...rows]).trimEnd());
});

export const scan = command<GlobalFlags, [string]>(async (session, flags, spec) => {
  const plan = await planFor(session, flags, spec);
  const key = await presentedKey(session, plan);
  const verdict = await classify(plan.target, key.blob);
  const code = verdict.status === "known"
    ? ExitCode.ok
    : verdict.status === "unknown"
    ? ExitCode.notFound
    : ExitCode.failed;
  if (session.output === "json") {
    session.out(JSON.stringify({
      ...keyJson(spec, plan.target, key),
      status: verdict.status,
      file: "file" in verdict ? verdict.file : null,
      line: "line" in verdict ? verdict.line : null,
      expected_sha256: verdict.status === "changed" ? verdict.expected : null,
    }));
    return code;
  }
  const c = session.colors;
  const name = key.name;
  session.out(session.format("remote.scan_presented", {
    target: spec === name ? spec : `${spec} (${name})`,
    key_type: key.keyType,
    sha256: key.sha256,
    md5: key.md5,
  }));
  const files = filesText(plan.target);
  switch (verdict.status) {
    case "known":
      session.out(
        c.green(session.format("remote.scan_known", { file: verdict.file, line: verdict.line })),
      );
      break;
    case "unknown":
      session.out(
        c.yellow(
          verdict.knownTypes
            ? session.format("remote.scan_unknown_other", {
              known_types: verdict.knownTypes,
              name,
              spec,
            })
            : session.format("remote.scan_unknown", { files, spec }),
        ),
      );
      break;
    case "changed":
      session.out(c.red(session.format("remote.scan_changed", {
        expected: verdict.expected,
        file: verdict.file,
        line: verdict.line,
        name,
      })));
      break;
    case "revoked":
      session.out(
        c.red(session.format("remote.scan_revoked", { file: verdict.file, line: verdict.line })),
      );
      break;
  }
  return code;
});

export const trust = command<GlobalFlags, [string]>(async (session, flags, spec) => {
  const plan = await planFor(session, flags, spec);
  const target = plan.target;
  const key = await presentedKey(session, plan);
  const verdict = await classify(target, key.blob);
  if (verdict.status === "changed" || verdict.status === "revoked") {
    // The error verification raised: both fingerprints, file:line; nothing is written.
    throw verdict.error.withContext(`trusting the host key of ${spec}`);
  }
  const added = verdict.status === "unknown";
  const recorded = verdict.status === "unknown" ? await record(target, key) : verdict;
  if (session.output === "json") {
    session.out(JSON.stringify({
      ...keyJson(spec, target, key),
      status: added ? "added" : "known",
      file: recorded.file,
      line: recorded.line,
    }));
    return;
  }
  session.out(session.format(added ? "remote.trust_added" : "remote.trust_known", {
    key_type: key.keyType,
    name: key.name,
    sha256: key.sha256,
    file: recorded.file,
    line: recorded.line,
  }));
});

/** Appends a hashed line for the key; where it now verifies. */
async function record(
  target: Endpoint,
  key: PresentedKey,
): Promise<{ file: string; line: number }> {
  const file = target.knownHostsFiles[0];
  if (file === undefined) {
    throw new ProvctlError("InvalidConfig", "known_hosts.no_file", { params: { host: key.name } });
  }
  const { appendKnownHost } = await import("../../ssh/known_hosts.ts");
  // As OpenSSH does, a HostKeyAlias is recorded itself, without a port.
  await appendKnownHost(
    file,
    target.hostKeyAlias ?? target.host,
    target.hostKeyAlias ? 22 : target.port,
    key.blob,
  );
  const after = await classify(target, key.blob);
  if (after.status !== "known") {
    throw new ProvctlError("Internal", "errors.internal", {
      params: { detail: `the key appended to ${file} does not verify (${after.status})` },
    });
  }
  return after;
}

interface PresentedKey {
  blob: Uint8Array;
  keyType: string;
  sha256: string;
  md5: string;
  /** The name known_hosts is searched for ("[host]:port", "host" or the alias). */
  name: string;
}

type Verdict =
  | { status: "known"; file: string; line: number }
  | { status: "unknown"; knownTypes?: string }
  | { status: "changed"; expected: string; file: string; line: number; error: ProvctlError }
  | { status: "revoked"; file: string; line: number; error: ProvctlError };

/** The connection plan `provctl --host SPEC` would use. */
async function planFor(session: Session, flags: GlobalFlags, spec: string) {
  const settings = await session.settings();
  const env = session.ctx.process.env;
  const jump = flags.jump?.split(",").map((s) => s.trim()).filter(Boolean);
  if (jump && jump.length === 0) throw new ProvctlError("Usage", "cli.jump_empty");
  const { resolveConnectionPlan } = await import("../../ssh/target.ts");
  return resolveConnectionPlan(spec, {
    sshConfigFile: flags.sshConfig,
    jump,
    identityFiles: flags.identity,
    hostKeyPolicy: flags.hostKeyPolicy,
    defaultHostKeyPolicy: settings.config.string("ssh.host_key_policy") as HostKeyPolicy,
    home: env.HOME,
    localUser: env.USER ?? env.LOGNAME,
  });
}

async function presentedKey(session: Session, plan: ConnectionPlan): Promise<PresentedKey> {
  const [{ scanHostKey, knownHostEntries }, { readSshSettings }] = await Promise.all([
    import("../../ssh/host_key_scan.ts"),
    import("../../ssh/settings.ts"),
  ]);
  const ssh = readSshSettings(session.loaded.config);
  const options: ConnectOptions = {
    connectTimeoutMs: ssh.connectTimeoutMs,
    authTimeoutMs: ssh.authTimeoutMs,
    // Hops are verified as on any connection: tell about unverified or new hop keys.
    onHostKey: (where, endpoint, verdict) => {
      if (verdict.status === "unverified") {
        session.warn({ key: "ssh.host_key_unverified", params: { where, host: endpoint.host } });
      } else if (verdict.status === "added") {
        session.note("ssh.host_key_added", { where, file: verdict.file });
      }
    },
  };
  const blob = await scanHostKey(plan, options);
  const { name } = await knownHostEntries({
    ...plan.target,
    knownHostsFiles: [],
    globalKnownHostsFiles: [],
  });
  return {
    blob,
    keyType: keyTypeOf(blob),
    sha256: fingerprintSha256(blob),
    md5: fingerprintMd5(blob),
    name,
  };
}

/** The verdict of strict verification, without writing anything. */
async function classify(target: Endpoint, blob: Uint8Array): Promise<Verdict> {
  const { verifyHostKey } = await import("../../ssh/known_hosts.ts");
  try {
    const verdict = await verifyHostKey({
      host: target.host,
      port: target.port,
      keyBlob: blob,
      knownHostsFiles: [...target.knownHostsFiles],
      globalKnownHostsFiles: [...target.globalKnownHostsFiles ?? []],
      policy: "strict",
      hostKeyAlias: target.hostKeyAlias,
      revokedHostKeys: target.revokedHostKeys,
    });
    if (verdict.status === "known") return verdict;
  } catch (error) {
    if (isProvctlError(error, "HostKeyUnknown")) {
      const types = error.params.known_types;
      return { status: "unknown", knownTypes: types ? String(types) : undefined };
    }
    if (isProvctlError(error, "HostKeyMismatch")) {
      const { expected, file, line } = error.params;
      return {
        status: "changed",
        expected: String(expected),
        file: String(file),
        line: Number(line),
        error,
      };
    }
    if (isProvctlError(error, "HostKeyRevoked")) {
      const { file, line } = error.params;
      return { status: "revoked", file: String(file), line: Number(line), error };
    }
    throw error;
  }
  throw new ProvctlError("Internal", "errors.internal", {
    params: { detail: "strict host key verification returned no verdict" },
  });
}

function keyJson(spec: string, target: Endpoint, key: PresentedKey): Record<string, unknown> {
  return {
    host: spec,
    name: key.name,
    address: target.host,
    port: target.port,
    key_type: key.keyType,
    sha256: key.sha256,
    md5: key.md5,
  };
}

function filesText(target: Endpoint): string {
  return [...target.knownHostsFiles, ...target.globalKnownHostsFiles ?? []].join(", ") ||
    "(no known_hosts file)";
}
