/**
 * provctl serve: the API on Deno.serve. Plain HTTP only on loopback unless the operator
 * says otherwise; SIGINT/SIGTERM stop accepting, end the streams, let running operations
 * finish (or cancel them after [serve] shutdown_grace_ms), flush the audit log, exit 0.
 */
import { ProvctlError } from "../core/errors.ts";
import { onAuditRecord } from "../observe/audit_log.ts";
import type { FleetFlags } from "../cli/fleet_flags.ts";
import type { GlobalFlags } from "../cli/global_flags.ts";
import type { Settings } from "../cli/settings.ts";
import { MemoryOperationStore, SharedOperationStore } from "../state/operations.ts";
import { openStateBackend, stateSettings } from "../state/select.ts";
import { buildApi } from "./app.ts";
import { EventHub } from "./events.ts";
import { relayEvents } from "./event_relay.ts";
import { mountDashboard } from "./dashboard.ts";

export interface ServeOptions {
  readonly settings: Settings;
  readonly flags: GlobalFlags & FleetFlags;
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly listen?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly insecureHttp?: boolean;
  /** Progress and warnings (stderr). */
  readonly note: (key: string, params?: Record<string, string | number>) => void;
  readonly log: (line: string) => void;
}

/** "127.0.0.1:7780", "[::1]:7780", "localhost:80" -> hostname and port. */
export function parseListen(value: string): { hostname: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]\s]+)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ProvctlError("Usage", "serve.listen_invalid", { params: { value } });
  }
  return { hostname: m[1] ?? m[2], port };
}

export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

async function readPem(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new ProvctlError("InvalidArgument", "serve.tls_unreadable", {
      params: { path, reason: error instanceof Error ? error.message : String(error) },
    });
  }
}

/** Serves until SIGINT/SIGTERM; resolves once everything is shut down. */
export async function serve(options: ServeOptions): Promise<void> {
  const config = options.settings.config;
  const address = options.listen ?? config.string("serve.listen");
  const { hostname, port } = parseListen(address);
  const certPath = options.tlsCert ?? (config.string("serve.tls_cert") || undefined);
  const keyPath = options.tlsKey ?? (config.string("serve.tls_key") || undefined);
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw new ProvctlError("Usage", "serve.tls_pair");
  }
  const tls = certPath !== undefined && keyPath !== undefined;
  if (!tls && !isLoopback(hostname)) {
    if (!options.insecureHttp) {
      throw new ProvctlError("Usage", "serve.tls_required", {
        params: { address },
        hint: "serve.tls_required_hint",
      });
    }
    options.note("serve.insecure", { address });
  }
  const cert = tls ? await readPem(certPath!) : undefined;
  const key = tls ? await readPem(keyPath!) : undefined;

  const closing = new AbortController();
  const cancel = new AbortController();
  const hub = new EventHub(config.integer("serve.event_ring_size"));
  const running = new Set<Promise<unknown>>();
  // One state backend for every request; with postgres it is shared with other servers.
  const state = await openStateBackend(stateSettings(config), { env: options.env });
  const kept = config.integer("serve.operations_kept");
  const stopRelay = await relayEvents(hub, state).catch(async (error) => {
    await state.close();
    throw error;
  });
  const api = buildApi({
    settings: options.settings,
    baseFlags: options.flags,
    env: options.env,
    cwd: options.cwd,
    tokens: state.tokens,
    operations: state.name === "files"
      ? new MemoryOperationStore(kept)
      : new SharedOperationStore(kept, state),
    state,
    hub,
    limits: {
      bodyBytes: config.integer("serve.body_limit_bytes"),
      ratePerMinute: config.integer("serve.rate_limit_per_minute"),
      requestTimeoutMs: config.integer("serve.request_timeout_ms"),
      heartbeatMs: config.integer("serve.heartbeat_ms"),
    },
    metricsPublic: config.boolean("serve.metrics_public"),
    closing: closing.signal,
    cancel: cancel.signal,
    running,
    log: options.log,
  });
  // The dashboard at / is the same API seen in a browser (src/serve/assets/).
  mountDashboard(api.app, options.settings.messages);
  const stopAudit = onAuditRecord((record) => hub.publish("audit", "record", { ...record }));

  let server: Deno.HttpServer;
  const listening = Promise.withResolvers<void>();
  try {
    server = Deno.serve({
      hostname,
      port,
      ...(tls ? { cert, key } : {}),
      onListen: (addr) => {
        const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
        options.note("serve.listening", {
          url: `${tls ? "https" : "http"}://${host}:${addr.port}`,
        });
        listening.resolve();
      },
      onError: (error) => {
        options.log(`provctl serve: ${error instanceof Error ? error.stack : error}`);
        return new Response("internal error", { status: 500 });
      },
    }, api.app.fetch);
  } catch (error) {
    stopAudit();
    await stopRelay();
    await state.close();
    throw new ProvctlError("CommandFailed", "serve.listen_failed", {
      params: { address, reason: error instanceof Error ? error.message : String(error) },
      cause: error,
    });
  }
  await listening.promise;

  const stopped = Promise.withResolvers<string>();
  const onSignal = (signal: string) => () => stopped.resolve(signal);
  const handlers = (["SIGINT", "SIGTERM"] as const).map((s) => {
    const handler = onSignal(s);
    Deno.addSignalListener(s, handler);
    return () => Deno.removeSignalListener(s, handler);
  });
  const signal = await stopped.promise;
  for (const remove of handlers) remove();

  // 1. Stop accepting; end event and log streams (clients resume elsewhere/later).
  options.note("serve.shutting_down", { signal, count: running.size });
  closing.abort();
  const serverDone = server.shutdown();
  // 2. Give running operations the grace time, then cancel them (deploys roll back).
  const grace = config.integer("serve.shutdown_grace_ms");
  const all = () => Promise.allSettled([...running]);
  const timer = setTimeout(() => cancel.abort(), grace);
  await all();
  clearTimeout(timer);
  // 3. Operations closed their sessions (audit log flushed and closed) as they ended.
  await serverDone;
  await api.close();
  stopAudit();
  await stopRelay();
  await state.close();
  options.note("serve.stopped");
}
