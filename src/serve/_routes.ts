/**
 * The routes of /api/v1. Each calls the same function as the matching CLI command (with
 * a Session per request acting for the request's token) and answers with its record.
 */
import { ProvctlError } from "../core/errors.ts";
import { parseServiceName } from "../core/service_name.ts";
import type { Messages } from "../config/messages.ts";
import type { ProvctlContext } from "../cli/context.ts";
import type { FleetFlags } from "../cli/fleet_flags.ts";
import type { GlobalFlags } from "../cli/global_flags.ts";
import type { Session } from "../cli/session.ts";
import { newToken, parseExpiry, parseScope, publicRecord } from "../state/tokens.ts";
import type { OperationRecord } from "../state/operations.ts";
import type { AuditEntry } from "../observe/audit_log.ts";
import type { RunResult } from "../exec/runner.ts";
import type { HostOutcome } from "../fleet/executor.ts";
import type { MachineCheckRecord } from "../fleet/machine_records.ts";
import { eventStream, type Topic, TOPICS } from "./events.ts";
import { type Problem, problem, problemOf } from "./problem.ts";
import { openApiDocument } from "./openapi.ts";
import { AnswerCache, answerResponse } from "./_answer_cache.ts";
import { VERSION } from "../version.ts";
import {
  API,
  type ApiDeps,
  type ApiRequest,
  type Fail,
  HttpProblem,
  json,
  type RouteSpec,
} from "./_http.ts";
import { setBounded } from "./_bounded_map.ts";
import { sinkStream } from "./_log_stream.ts";

/**
 * A streamed log waits for its client once this much is unread (the source pauses), and
 * ends with a notice if a source that cannot pause gets this far ahead of it.
 */
const LOG_STREAM_HIGH_WATER = 256 * 1024;
const LOG_STREAM_MAX_QUEUED = 8 * 1024 * 1024;

/** How many health verdicts (machine and check) are remembered to tell transitions. */
const MAX_HEALTH_VERDICTS = 10_000;

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function strings(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) return undefined;
  return value;
}

export function apiRoutes(deps: ApiDeps, fail: Fail): RouteSpec[] {
  const messages: Messages = deps.settings.messages;
  const hub = deps.hub;
  /** Deployment name -> the operation deploying or rolling it back. */
  const runningDeploys = new Map<string, string>();
  /** The last check of each machine (GET /machines/check, for read tokens too). */
  const lastChecks = new Map<string, MachineCheckRecord>();
  /**
   * Last health verdict per machine and check, to tell transitions; bounded, since a read
   * token chooses the checks (each new URL is a new key).
   */
  const lastHealth = new Map<string, boolean>();

  /** Serialized GET /machines answers per inventory version and selection. */
  const machineAnswers = new AnswerCache();
  let machineModulesLoaded:
    | Promise<[typeof import("../cli/fleet.ts"), typeof import("../fleet/machine_records.ts")]>
    | undefined;
  // Loaded on first use, then one resolved promise (a dynamic import per request costs).
  const machineModules = () =>
    machineModulesLoaded ??= Promise.all([
      import("../cli/fleet.ts"),
      import("../fleet/machine_records.ts"),
    ]);

  const badQuery = (name: string, reason: string) =>
    fail(400, "serve.invalid_query", { name, reason });
  const badBody = (reason: string) => fail(400, "serve.invalid_body", { reason });

  /** Machine selection from query parameters (GET) or a body (POST). */
  const selection = (from: {
    selector?: string;
    profile?: string;
    machines?: string[];
  }): Partial<FleetFlags> => ({
    selector: from.selector,
    profile: from.profile,
    machine: from.machines,
  });
  const querySelection = (req: ApiRequest) =>
    selection({
      selector: req.query("selector"),
      profile: req.query("profile"),
      machines: req.queries("machine"),
    });
  const bodySelection = (body: Record<string, unknown>) => {
    for (const key of ["selector", "profile"]) {
      if (body[key] !== undefined && typeof body[key] !== "string") {
        throw badBody(`${key} must be a string`);
      }
    }
    const machines = strings(body.machines);
    if (body.machines !== undefined && machines === undefined) {
      throw badBody("machines must be an array of strings");
    }
    return selection({ selector: str(body.selector), profile: str(body.profile), machines });
  };
  const requireSelection = (flags: Partial<FleetFlags>, body: Record<string, unknown>) => {
    if (body.all === true) return { ...flags, all: true };
    if (!flags.selector && !flags.profile && !(flags.machine?.length)) {
      throw badBody("say which machines: selector, profile, machines, or all = true");
    }
    return flags;
  };

  /** Runs `work` with a Session and closes it (SSH connections, audit log) afterwards. */
  const withSession = async <T>(
    req: ApiRequest,
    op: string,
    flags: Partial<GlobalFlags & FleetFlags>,
    work: (session: Session) => Promise<T>,
    onNote?: ProvctlContext["onNote"],
  ): Promise<T> => {
    const session = req.session(op, flags, onNote);
    try {
      return await work(session);
    } finally {
      await session.close().catch((error) => deps.log(`provctl serve: ${error}`));
    }
  };

  /** The machine a /machines/{name}/... route names, with its Target. */
  const machineTarget = async (session: Session, name: string) => {
    const { selectFleet } = await import("../cli/fleet.ts");
    if (/[*?[\]]/.test(name)) throw fail(404, "serve.machine_unknown", { name });
    const fleet = await selectFleet(session, { ...session.flags, machine: [name] } as FleetFlags);
    const machine = fleet.machines.find((m) => m.name === name);
    if (!machine) throw fail(404, "serve.machine_unknown", { name });
    return { target: fleet.targets[fleet.machines.indexOf(machine)], host: name, machine };
  };

  const localTarget = async (session: Session) => ({ target: await session.target() });

  /** One audit record for a request (operator: its token), as the audit log keeps them. */
  const audit = async (req: ApiRequest, entry: AuditEntry) => {
    const [{ AuditLog }, { Redactor }] = await Promise.all([
      import("../observe/audit_log.ts"),
      import("../observe/redact.ts"),
    ]);
    const config = deps.settings.config;
    const log = await AuditLog.open(config.path("observe.audit_file"), {
      redactor: new Redactor({ extraPatterns: config.strings("observe.redact_patterns") }),
      operator: req.token?.name,
      afterWrite: deps.state?.shipAudit,
    });
    try {
      await log.append(entry);
    } finally {
      await log.close();
    }
  };

  /** Starts a background operation; its promise is tracked for shutdown. */
  const startOperation = (
    op: OperationRecord,
    work: (signal: AbortSignal) => Promise<{ ok: boolean; result?: unknown }>,
  ) => {
    const abort = new AbortController();
    const onClose = () => abort.abort();
    deps.cancel.addEventListener("abort", onClose);
    hub.publish("operation", "started", {
      id: op.id,
      kind: op.kind,
      operator: op.operator,
      request: op.request,
    });
    const task = (async () => {
      try {
        const { ok, result } = await work(abort.signal);
        const status = abort.signal.aborted ? "cancelled" : ok ? "succeeded" : "failed";
        deps.operations.finish(op, status, { result });
      } catch (error) {
        const known = problemOf(messages, error);
        if (!known) deps.log(`provctl serve: operation ${op.id}: ${error}`);
        const p = known ?? problem(messages, 500, "serve.internal", { id: op.id });
        deps.operations.finish(op, abort.signal.aborted ? "cancelled" : "failed", {
          error: { ...p },
        });
      } finally {
        deps.cancel.removeEventListener("abort", onClose);
        hub.publish("operation", "finished", {
          id: op.id,
          kind: op.kind,
          status: op.status,
          error: op.error,
        });
      }
    })();
    deps.running.add(task);
    task.finally(() => deps.running.delete(task));
    return task;
  };

  const accepted = (op: OperationRecord) =>
    new Response(
      JSON.stringify({ id: op.id, status: "running", href: `${API}/operations/${op.id}` }),
      {
        status: 202,
        headers: {
          "content-type": "application/json",
          location: `${API}/operations/${op.id}`,
        },
      },
    );

  // --- services (this machine, or /machines/{name}/services/...)
  const serviceRoutes = (prefix: string, remote: boolean): RouteSpec[] => {
    const on = (req: ApiRequest, session: Session) =>
      remote ? machineTarget(session, req.param("name")) : localTarget(session);
    const verb = (action: "start" | "stop" | "restart"): RouteSpec => ({
      method: "POST",
      path: `${prefix}/services/{svc}/${action}`,
      scope: "operate",
      handler: async (req) => {
        const name = parseServiceName(req.param("svc"));
        const actions = await import("../cli/service_actions.ts");
        const t0 = performance.now();
        const act = async () =>
          await withSession(req, action, {}, async (session) => {
            const where = await on(req, session);
            return action === "start"
              ? await actions.startService(session, where, name)
              : action === "stop"
              ? await actions.stopService(session, where, name)
              : await actions.restartService(session, where, name);
          });
        // On a machine of the inventory every command is audited as it runs there (as
        // for the CLI); on this machine the request itself is the audited operation.
        const record = remote ? await act() : await act().catch(async (error) => {
          await audit(req, {
            machine: "local",
            op: action,
            result: "failed",
            command: `${action} ${name}`,
            durationMs: performance.now() - t0,
            error: problemOf(messages, error)?.detail ?? String(error),
          });
          throw error;
        });
        if (!remote) {
          await audit(req, {
            machine: "local",
            op: action,
            result: "ok",
            command: `${action} ${name}`,
            durationMs: performance.now() - t0,
          });
        }
        hub.publish("service", action === "stop" ? "stopped" : `${action}ed`, {
          ...record,
          operator: req.token?.name,
        });
        return json(record);
      },
    });
    return [
      {
        method: "GET",
        path: `${prefix}/services`,
        scope: "read",
        handler: async (req) => {
          const { serviceStatuses } = await import("../cli/service_actions.ts");
          const items = await withSession(
            req,
            "status",
            {},
            async (session) => await serviceStatuses(session, await on(req, session), []),
          );
          return json({ items });
        },
      },
      {
        method: "GET",
        path: `${prefix}/services/{svc}`,
        scope: "read",
        handler: async (req) => {
          const name = parseServiceName(req.param("svc"));
          const { serviceStatuses } = await import("../cli/service_actions.ts");
          const [record] = await withSession(
            req,
            "status",
            {},
            async (session) => await serviceStatuses(session, await on(req, session), [name]),
          );
          return json(record);
        },
      },
      verb("start"),
      verb("stop"),
      verb("restart"),
      {
        method: "GET",
        path: `${prefix}/services/{svc}/logs`,
        scope: "read",
        stream: true,
        handler: async (req) => {
          const name = parseServiceName(req.param("svc"));
          const linesText = req.query("lines");
          if (linesText !== undefined && !/^\d{1,7}$/.test(linesText)) {
            throw badQuery("lines", "a number of lines >= 0");
          }
          const followText = req.query("follow");
          if (followText !== undefined && !["0", "1", "true", "false"].includes(followText)) {
            throw badQuery("follow", "1 or 0");
          }
          const follow = followText === "1" || followText === "true";
          const session = req.session("logs");
          const close = () => session.close().catch(() => {});
          try {
            const where = await on(req, session);
            const { servicesFromFile } = await import("../cli/services.ts");
            const backend = await where.target.backend(
              session.flags.backend,
              (await servicesFromFile(session)).get(name)?.backend,
            );
            const headers = {
              "content-type": "text/plain; charset=utf-8",
              "cache-control": "no-store",
              "x-content-type-options": "nosniff",
            };
            // HEAD: the answer GET would give, without starting a read (or a follow) whose
            // output nobody takes; an abort before the command starts would not reach it.
            if (req.c.req.method === "HEAD") {
              await close();
              return new Response(null, { headers });
            }
            const lines = linesText === undefined ? deps.settings.logLines : Number(linesText);
            const body = sinkStream({
              highWaterBytes: LOG_STREAM_HIGH_WATER,
              maxQueuedBytes: LOG_STREAM_MAX_QUEUED,
              overflowLine: messages.format("serve.logs_overflow", {
                bytes: LOG_STREAM_MAX_QUEUED,
              }),
              closing: deps.closing,
              produce: (sink, signal) => backend.logs(name, { lines, follow, signal }, sink),
              onError: (error) => deps.log(`provctl serve: logs ${name}: ${error}`),
              onEnd: close,
            });
            return new Response(body, { headers });
          } catch (error) {
            await close();
            throw error;
          }
        },
      },
    ];
  };

  return [
    {
      method: "GET",
      path: "/healthz",
      scope: "public",
      handler: () => Promise.resolve(json({ status: "ok", version: VERSION })),
    },
    {
      method: "GET",
      path: "/openapi.json",
      scope: "public",
      handler: () => Promise.resolve(json(openApiDocument())),
    },
    // --- machines
    {
      method: "GET",
      path: "/machines",
      scope: "read",
      handler: async (req) => {
        const [{ loadFleetInventory, selectInventoryMachines }, { machineRecord }] =
          await machineModules();
        const flags = querySelection(req);
        const key = JSON.stringify([flags.selector, flags.profile, flags.machine]);
        const answer = await withSession(req, "machines", flags, async (session) => {
          const all = session.flags as FleetFlags;
          // The same inventory object while its file is unchanged (cli/fleet.ts): the
          // answer built from it is reused; with cloud sources it is new on every call.
          const inventory = await loadFleetInventory(session, all.inventory, all);
          return machineAnswers.get(key, inventory) ??
            machineAnswers.set(key, inventory, {
              items: (await selectInventoryMachines(session, all, [], {
                defaultAll: true,
                inventory,
              })).map(machineRecord),
            });
        });
        return answerResponse(answer, req.c.req.header("if-none-match"));
      },
    },
    {
      // (before /machines/{name}, so "check" is not taken for a machine's name)
      method: "GET",
      path: "/machines/check",
      scope: "read",
      handler: () =>
        Promise.resolve(
          json({ items: [...lastChecks.values()].sort((a, b) => a.machine < b.machine ? -1 : 1) }),
        ),
    },
    {
      method: "GET",
      path: "/machines/{name}",
      scope: "read",
      handler: async (req) => {
        const [{ loadFleetInventory }, { machineRecord }] = await Promise.all([
          import("../cli/fleet.ts"),
          import("../fleet/machine_records.ts"),
        ]);
        const name = req.param("name");
        const machine = await withSession(
          req,
          "machines",
          {},
          async (session) =>
            (await loadFleetInventory(session, (session.flags as FleetFlags).inventory))
              .machines.find((m) => m.name === name),
        );
        if (!machine) throw fail(404, "serve.machine_unknown", { name });
        return json(machineRecord(machine));
      },
    },
    {
      method: "POST",
      path: "/machines/check",
      scope: "operate",
      handler: async (req) => {
        const body = await req.body();
        const flags = bodySelection(body);
        const { selectFleet } = await import("../cli/fleet.ts");
        const { checkMachines } = await import("../fleet/machine_records.ts");
        const items = await withSession(req, "machines", flags, async (session) => {
          const fleet = await selectFleet(session, session.flags as FleetFlags, [], {
            defaultAll: true,
          });
          return await checkMachines(fleet.targets, {
            forks: fleet.forks,
            maxFailures: fleet.maxFailures,
            describe: (e) => session.errorLine(e),
            skipped: session.format("fleet.skipped"),
          });
        });
        for (const item of items) lastChecks.set(item.machine, item);
        return json({ items });
      },
    },
    ...serviceRoutes("", false),
    ...serviceRoutes("/machines/{name}", true),
    // --- exec and operations
    {
      method: "POST",
      path: "/exec",
      scope: "operate",
      handler: async (req) => {
        const body = await req.body();
        const flags = requireSelection(bodySelection(body), body);
        const argv = strings(body.argv);
        if (body.argv !== undefined && argv === undefined) {
          throw badBody("argv must be an array of strings");
        }
        if (body.shell !== undefined && typeof body.shell !== "string") {
          throw badBody("shell must be a string");
        }
        const shell = str(body.shell);
        if ((argv?.length ?? 0) > 0 && shell !== undefined) {
          throw badBody("give argv or shell, not both");
        }
        if ((argv?.length ?? 0) === 0 && (shell ?? "").trim() === "") {
          throw badBody("give the command as argv (an array of words) or, explicitly, shell");
        }
        const timeoutMs = body.timeout_ms;
        if (
          timeoutMs !== undefined &&
          !(typeof timeoutMs === "number" && Number.isSafeInteger(timeoutMs) && timeoutMs >= 0)
        ) {
          throw badBody("timeout_ms must be an integer >= 0");
        }
        // Selection errors (bad selector, unknown machine) answer this request, not later.
        const { selectInventoryMachines } = await import("../cli/fleet.ts");
        await withSession(
          req,
          "exec",
          flags,
          (s) => selectInventoryMachines(s, s.flags as FleetFlags),
        );
        // Every read token sees the request (operations, events): masked as in the audit log.
        const { Redactor } = await import("../observe/redact.ts");
        const redactor = new Redactor({
          extraPatterns: deps.settings.config.strings("observe.redact_patterns"),
        });
        const request = {
          ...(flags.selector ? { selector: flags.selector } : {}),
          ...(flags.profile ? { profile: flags.profile } : {}),
          ...(flags.machine ? { machines: flags.machine } : {}),
          ...(argv ? { argv: redactor.commandArgv(argv) } : {}),
          ...(shell !== undefined ? { shell: redactor.text(shell) } : {}),
          ...(timeoutMs !== undefined ? { timeout_ms: timeoutMs } : {}),
        };
        const op = deps.operations.create("exec", req.token!.name, request);
        const [{ selectFleet }, { execOnTargets }, { execRecord }] = await Promise.all([
          import("../cli/fleet.ts"),
          import("../fleet/exec_fleet.ts"),
          import("../fleet/exec_records.ts"),
        ]);
        startOperation(op, async (signal) => {
          const records = await withSession(req, "exec", flags, async (session) => {
            const fleet = await selectFleet(session, session.flags as FleetFlags);
            const describe = (e: unknown) => session.errorLine(e);
            const limit = timeoutMs as number | undefined ??
              session.loaded.config.integer("ssh.command_timeout_ms");
            const outcomes = await execOnTargets(fleet.targets, fleet.machines, {
              argv: argv ?? [],
              shell,
              timeoutMs: limit,
            }, {
              forks: fleet.forks,
              maxFailures: fleet.maxFailures,
              signal,
              onEvent: (e) => {
                if (!e.outcome) return;
                const record = execRecord(e.outcome as HostOutcome<RunResult>, describe);
                op.results.push(record);
                hub.publish("operation", "machine", { id: op.id, ...record });
              },
            });
            return outcomes.map((o) => execRecord(o, describe));
          });
          // The final list is in selection order.
          op.results.splice(0, op.results.length, ...records);
          return { ok: records.every((r) => r.status === "ok") };
        });
        return accepted(op);
      },
    },
    {
      method: "GET",
      path: "/operations",
      scope: "read",
      handler: async () =>
        json({
          items: (await deps.operations.listShared?.().catch(() => undefined)) ??
            deps.operations.list(),
        }),
    },
    {
      method: "GET",
      path: "/operations/{id}",
      scope: "read",
      handler: async (req) => {
        const op = deps.operations.get(req.param("id")) ??
          await deps.operations.lookup?.(req.param("id")).catch(() => undefined);
        if (!op) {
          throw fail(404, "serve.operation_unknown", {
            id: req.param("id"),
            max: deps.settings.config.integer("serve.operations_kept"),
          });
        }
        return json(op);
      },
    },
    // --- health
    {
      method: "GET",
      path: "/health",
      scope: "read",
      handler: async (req) => {
        // GET runs only checks that cannot run a command: http or tcp.
        const http = req.query("http");
        const tcp = req.query("tcp");
        if ((http === undefined) === (tcp === undefined)) {
          throw badQuery("http", "give exactly one of http=URL or tcp=HOST:PORT");
        }
        const from = req.query("from");
        if (from !== undefined && from !== "controller" && from !== "remote") {
          throw badQuery("from", "controller or remote");
        }
        const raw: Record<string, unknown> = http !== undefined
          ? {
            type: "http",
            url: http,
            from: from ?? "controller",
            ...(req.query("expect") ? { status: req.query("expect") } : {}),
          }
          : { type: "tcp", address: tcp, from: from ?? "controller" };
        return json({ items: await runHealth(req, querySelection(req), raw) });
      },
    },
    {
      method: "POST",
      path: "/health",
      scope: "operate",
      handler: async (req) => {
        const body = await req.body();
        const check = body.check;
        if (typeof check !== "object" || check === null || Array.isArray(check)) {
          throw badBody("check must be an object like a services file's health table");
        }
        return json({
          items: await runHealth(req, bodySelection(body), check as Record<string, unknown>),
        });
      },
    },
    // --- deployments
    {
      method: "GET",
      path: "/deployments",
      scope: "read",
      handler: async (req) => {
        const { deploymentRecords } = await import("../cli/commands/deploy.ts");
        return json({ items: await withSession(req, "deploy", {}, deploymentRecords) });
      },
    },
    {
      method: "GET",
      path: "/deployments/{name}",
      scope: "read",
      handler: async (req) => {
        const { deploymentDetail } = await import("../cli/commands/deploy.ts");
        return json(
          await withSession(req, "deploy", {}, (s) => deploymentDetail(s, req.param("name"))),
        );
      },
    },
    {
      method: "POST",
      path: "/deployments/{name}/deploy",
      scope: "operate",
      handler: (req) => runDeployRoute(req, "deploy"),
    },
    {
      method: "POST",
      path: "/deployments/{name}/rollback",
      scope: "operate",
      handler: (req) => runDeployRoute(req, "rollback"),
    },
    // --- audit and metrics
    {
      method: "GET",
      path: "/audit",
      scope: "read",
      handler: async (req) => {
        const { auditPage } = await import("../observe/audit_page.ts");
        const limitText = req.query("limit");
        if (limitText !== undefined && !/^\d{1,4}$/.test(limitText)) {
          throw badQuery("limit", "a number from 1 to 1000");
        }
        const limit = limitText === undefined ? 100 : Number(limitText);
        if (limit < 1 || limit > 1000) throw badQuery("limit", "a number from 1 to 1000");
        const cursor = req.query("cursor");
        if (cursor !== undefined && !/^\d{1,15}$/.test(cursor)) {
          throw badQuery("cursor", "the next_cursor of a previous page");
        }
        const query = {
          since: req.query("since"),
          machine: req.query("machine"),
          op: req.query("op"),
          result: req.query("result"),
          deploymentId: req.query("deployment_id"),
        };
        // Shared state: every controller's records, from the database.
        const source = deps.state && deps.state.name !== "files"
          ? await deps.state.queryAudit(query)
          : deps.settings.config.path("observe.audit_file");
        const page = await auditPage(source, query, {
          limit,
          before: cursor === undefined ? undefined : Number(cursor),
        });
        return json(page);
      },
    },
    {
      method: "GET",
      path: "/metrics",
      scope: deps.metricsPublic ? "public" : "read",
      handler: async () => {
        const { loadMetrics, renderPrometheus } = await import("../observe/metrics.ts");
        const snapshot = await loadMetrics(deps.settings.config.path("observe.metrics_file"));
        return new Response(renderPrometheus(snapshot), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      },
    },
    // --- events
    {
      method: "GET",
      path: "/events",
      scope: "read",
      stream: true,
      handler: (req) => {
        const topicsText = req.query("topics");
        let topics: Set<Topic> = new Set(TOPICS);
        if (topicsText !== undefined && topicsText !== "") {
          const asked = topicsText.split(",").map((t) => t.trim());
          const unknown = asked.filter((t) => !(TOPICS as readonly string[]).includes(t));
          if (unknown.length > 0) {
            throw badQuery("topics", `unknown ${unknown.join(", ")}; use ${TOPICS.join(", ")}`);
          }
          topics = new Set(asked as Topic[]);
        }
        const lastText = req.c.req.header("last-event-id") ?? req.query("last_event_id");
        let lastId: number | undefined;
        if (lastText !== undefined && lastText !== "") {
          if (!/^\d{1,15}$/.test(lastText)) throw badQuery("Last-Event-ID", "an event id");
          lastId = Number(lastText);
        }
        // A client that goes away cancels the body stream; the server closing ends it.
        const signal = deps.closing;
        const body = eventStream(hub, {
          topics,
          lastId,
          heartbeatMs: deps.limits.heartbeatMs,
          signal,
        });
        return Promise.resolve(
          new Response(body, {
            headers: {
              "content-type": "text/event-stream",
              "cache-control": "no-store",
              "x-accel-buffering": "no",
            },
          }),
        );
      },
    },
    // --- the caller's own token (what a client such as the dashboard may offer to do)
    {
      method: "GET",
      path: "/token",
      scope: "read",
      handler: (req) => Promise.resolve(json(req.token)),
    },
    // --- tokens (admin)
    {
      method: "GET",
      path: "/tokens",
      scope: "admin",
      handler: async () => json({ items: (await deps.tokens.list()).map(publicRecord) }),
    },
    {
      method: "POST",
      path: "/tokens",
      scope: "admin",
      handler: async (req) => {
        const body = await req.body();
        const name = str(body.name);
        const scope = str(body.scope);
        if (name === undefined || scope === undefined) throw badBody("name and scope are needed");
        if (body.expires !== undefined && typeof body.expires !== "string") {
          throw badBody("expires must be a string such as 30d");
        }
        const { secret, stored } = await newToken({
          name,
          scope: parseScope(scope),
          expiresInMs: body.expires === undefined ? undefined : parseExpiry(body.expires as string),
        });
        await deps.tokens.add(stored);
        await audit(req, {
          machine: "local",
          op: "token.create",
          result: "ok",
          command: `token create ${name} --scope ${scope}`,
        });
        return json({ ...publicRecord(stored), secret }, 201);
      },
    },
    {
      method: "DELETE",
      path: "/tokens/{name}",
      scope: "admin",
      handler: async (req) => {
        const name = req.param("name");
        if (!(await deps.tokens.remove(name))) {
          throw new ProvctlError("NotFound", "token.not_found", { params: { name } });
        }
        await audit(req, {
          machine: "local",
          op: "token.revoke",
          result: "ok",
          command: `token revoke ${name}`,
        });
        return new Response(null, { status: 204 });
      },
    },
  ];

  async function runHealth(
    req: ApiRequest,
    flags: Partial<FleetFlags>,
    raw: Record<string, unknown>,
  ) {
    const { healthRecords } = await import("../cli/commands/health.ts");
    const items = await withSession(
      req,
      "health",
      flags,
      (session) => healthRecords(session, session.flags as FleetFlags, [], raw),
    );
    for (const r of items) {
      const key = `${r.machine}\u0000${JSON.stringify(raw)}`;
      const before = lastHealth.get(key);
      setBounded(lastHealth, key, r.healthy, MAX_HEALTH_VERDICTS);
      hub.publish(
        "health",
        before === undefined || before === r.healthy ? "result" : "transition",
        {
          ...r,
          check: raw,
          ...(before === undefined ? {} : { previous: before ? "healthy" : "unhealthy" }),
        },
      );
    }
    return items;
  }

  async function runDeployRoute(req: ApiRequest, kind: "deploy" | "rollback") {
    const name = req.param("name");
    const body = await req.body();
    const flags: Record<string, unknown> = { ...bodySelection(body) };
    for (const key of ["version", "to", "max_failures"]) {
      if (body[key] !== undefined && typeof body[key] !== "string") {
        throw badBody(`${key} must be a string`);
      }
    }
    if (body.dry_run !== undefined && typeof body.dry_run !== "boolean") {
      throw badBody("dry_run must be true or false");
    }
    if (kind === "deploy") {
      flags.version = str(body.version);
      flags.dryRun = body.dry_run === true;
    } else {
      flags.to = str(body.to);
    }
    if (body.max_failures !== undefined) flags.maxFailures = body.max_failures;
    const deploy = await import("../cli/commands/deploy.ts");
    const { deployRecord, dryRunRecord } = await import("../fleet/deploy/records.ts");
    if (kind === "deploy" && body.dry_run === true) {
      const record = await withSession(req, "deploy", flags, async (session) => {
        const outcome = await deploy.runDeploy(session, session.flags as never, name);
        if (outcome.kind !== "plan") throw new Error("dry run ran");
        // Secrets in the plan's commands are masked as in the audit log.
        return dryRunRecord(outcome.plan, (await session.recorder()).redactor);
      });
      return json(record);
    }
    const running = runningDeploys.get(name);
    if (running) throw fail(409, "serve.deploy_running", { deployment: name, id: running });
    const request = Object.fromEntries(
      Object.entries({ deployment: name, ...body }).filter(([, v]) => v !== undefined),
    );
    const op = deps.operations.create(kind, req.token!.name, request);
    runningDeploys.set(name, op.id);
    let lockedNow: () => void = () => {};
    const locked = new Promise<void>((resolve) => (lockedNow = resolve));
    const task = startOperation(op, async (signal) => {
      try {
        const note = (key: string, params: Readonly<Record<string, unknown>>) =>
          hub.publish("deploy", key.replace(/^deploy\./, ""), {
            id: op.id,
            deployment: name,
            message: messages.format(key, params as never),
            params,
          });
        return await withSession(req, kind, flags, async (session) => {
          const hooks = { locked: lockedNow, signal };
          if (kind === "deploy") {
            const outcome = await deploy.runDeploy(session, session.flags as never, name, hooks);
            if (outcome.kind === "plan") {
              const redactor = (await session.recorder()).redactor;
              return { ok: true, result: dryRunRecord(outcome.plan, redactor) };
            }
            return { ok: outcome.result.ok, result: deployRecord(outcome.result) };
          }
          const result = await deploy.runRollback(session, session.flags as never, name, hooks);
          return { ok: result.ok, result: deployRecord(result) };
        }, note);
      } finally {
        runningDeploys.delete(name);
      }
    });
    // Answer once the run holds the deployment's lock; a refusal (held by a CLI deploy,
    // unknown deployment, bad version) is this request's answer, not a failed operation.
    await Promise.race([locked, task]);
    if (op.status !== "running" && op.error) {
      const status = Number(op.error.status ?? 500);
      if (status !== 500) throw new HttpProblem(op.error as unknown as Problem);
    }
    return accepted(op);
  }
}
