/**
 * The `files` state backend: everything in this controller's state dir, as provctl kept it
 * before there was a choice — deploy/NAME.json and flock'ed deploy/NAME.lock, the JSONL
 * audit log, breakers/HOST.json, tokens.json. Zero setup; right for one controller.
 * Operation records (the API's) live in the memory of the serving process.
 */
import {
  acquireDeployLock,
  type DeployLock,
  type DeploymentState,
  readDeploymentState,
  writeDeploymentState,
} from "../fleet/deploy/lock.ts";
import { readTrusted, trustDir, writeTrustedAtomic } from "../core/state_trust.ts";
import { AuditLog, type AuditQuery, type AuditRecord, readAudit } from "../observe/audit_log.ts";
import type { LockRequest, StateBackend, StateStatus, VersionedState } from "./backend.ts";
import { FileTokenStore } from "./file_token_store.ts";
import type { OperationRecord } from "./operations.ts";

const OPERATIONS_KEPT = 1000;

export class FilesStateBackend implements StateBackend {
  readonly name = "files" as const;
  readonly tokens: FileTokenStore;
  readonly #stateDir: string;
  readonly #auditFile: string;
  readonly #ops = new Map<string, OperationRecord>();

  constructor(options: { stateDir: string; auditFile: string }) {
    this.#stateDir = options.stateDir.replace(/\/+$/, "");
    this.#auditFile = options.auditFile;
    this.tokens = new FileTokenStore(this.#stateDir);
  }

  async getDeployment(name: string): Promise<VersionedState> {
    const data = await readDeploymentState(this.#stateDir, name) as
      | (DeploymentState & { revision?: number })
      | undefined;
    if (!data) return { state: undefined, revision: 0 };
    const { revision, ...state } = data;
    // Files written before revisions existed count as revision 1.
    return { state, revision: typeof revision === "number" ? revision : 1 };
  }

  async putDeployment(state: DeploymentState, expected: number): Promise<number | undefined> {
    const dir = `${this.#stateDir}/deploy`;
    await trustDir(dir, { create: true, private: true });
    // A flock of its own (not NAME.lock, which a running deploy holds for minutes).
    const lock = await Deno.open(`${dir}/${state.deployment}.state-lock`, {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
    try {
      await lock.lock(true);
      const current = await this.getDeployment(state.deployment);
      if (current.revision !== expected) return undefined;
      const revision = expected + 1;
      await writeDeploymentState(this.#stateDir, { ...state, revision } as DeploymentState);
      return revision;
    } finally {
      lock.close();
    }
  }

  acquireDeployLock(name: string, request: LockRequest): Promise<DeployLock> {
    return acquireDeployLock(this.#stateDir, name, request);
  }

  async appendAudit(records: readonly AuditRecord[]): Promise<void> {
    const log = await AuditLog.open(this.#auditFile);
    try {
      await Promise.all(records.map((r) => log.appendRecord(r)));
    } finally {
      await log.close();
    }
  }

  async queryAudit(query: AuditQuery): Promise<AuditRecord[]> {
    return await readAudit(this.#auditFile, query).toArray();
  }

  // Breaker documents steer connections: like the SSH layer's own breaker files, they are
  // trusted only in a private directory and never read through a link.
  // The same file names as src/ssh/circuit_breaker.ts (not imported: it loads cockatiel).
  #breakerPath(host: string): string {
    return `${this.#stateDir}/breakers/${host.replace(/[^A-Za-z0-9._@-]/g, "_")}.json`;
  }

  async getBreaker(host: string): Promise<unknown | undefined> {
    await trustDir(`${this.#stateDir}/breakers`);
    const text = await readTrusted(this.#breakerPath(host));
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      return undefined; // garbled: treated as no breaker (the next put rewrites it)
    }
  }

  async putBreaker(host: string, state: unknown): Promise<void> {
    await trustDir(`${this.#stateDir}/breakers`, { create: true, private: true });
    await writeTrustedAtomic(this.#breakerPath(host), JSON.stringify(state, null, 2) + "\n");
  }

  async listBreakers(): Promise<{ host: string; state: unknown }[]> {
    const out: { host: string; state: unknown }[] = [];
    await trustDir(`${this.#stateDir}/breakers`);
    try {
      for await (const e of Deno.readDir(`${this.#stateDir}/breakers`)) {
        if (!e.isFile || !e.name.endsWith(".json")) continue;
        try {
          const text = await readTrusted(`${this.#stateDir}/breakers/${e.name}`);
          if (text === undefined) continue;
          const state = JSON.parse(text);
          // The file name is a sanitised host; the document says which host it is.
          const host = typeof state?.host === "string" ? state.host : e.name.slice(0, -5);
          out.push({ host, state });
        } catch { /* garbled or removed meanwhile: not a breaker */ }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return out.sort((a, b) => a.host.localeCompare(b.host));
  }

  async deleteBreaker(host: string): Promise<boolean> {
    try {
      await Deno.remove(this.#breakerPath(host));
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  putOperation(op: OperationRecord): Promise<void> {
    this.#ops.delete(op.id);
    this.#ops.set(op.id, structuredClone(op));
    for (const id of this.#ops.keys()) {
      if (this.#ops.size <= OPERATIONS_KEPT) break;
      this.#ops.delete(id);
    }
    return Promise.resolve();
  }

  getOperation(id: string): Promise<OperationRecord | undefined> {
    const op = this.#ops.get(id);
    return Promise.resolve(op ? structuredClone(op) : undefined);
  }

  listOperations(limit: number): Promise<OperationRecord[]> {
    const all = [...this.#ops.values()].sort((a, b) => b.created.localeCompare(a.created));
    return Promise.resolve(all.slice(0, limit).map((op) => structuredClone(op)));
  }

  status(): Promise<StateStatus> {
    return Promise.resolve({
      backend: "files",
      location: this.#stateDir,
      schema_version: null,
      schema_supported: null,
      audit_backlog: 0,
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
