/**
 * The OpenAPI 3.1 document of /api/v1. Its schemas are the resource records of
 * src/core/records.ts (the same ones `-o json` prints); tests check that every route of
 * the server is described here and that every response matches its schema.
 */
import { listOf, RECORD_SCHEMAS } from "../core/records.ts";
import { VERSION } from "../version.ts";

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const jsonBody = (schema: Json, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
const problems = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((code) => [String(code), { $ref: `#/components/responses/P${code}` }]),
  );

const READ = [401, 403, 429];
const WRITE = [400, 401, 403, 413, 415, 429];

const q = (name: string, description: string, schema: Json = { type: "string" }) => ({
  name,
  in: "query",
  required: false,
  description,
  schema,
});
const p = (name: string, description: string) => ({
  name,
  in: "path",
  required: true,
  description,
  schema: { type: "string" },
});
const selectionQuery = [
  q("selector", "Label selector as in the CLI's -l: role=web,env in (prod),!canary"),
  q("profile", "Machines of this profile"),
  {
    ...q("machine", "Machine name or glob (repeatable)", {
      type: "array",
      items: { type: "string" },
    }),
    explode: true,
  },
];
const selectionBody: Json = {
  selector: { type: "string", description: "Label selector as in the CLI's -l" },
  profile: { type: "string" },
  machines: { type: "array", items: { type: "string" }, description: "Names or globs" },
};
const requestBody = (properties: Json, required: string[] = []) => ({
  required: false,
  content: {
    "application/json": {
      schema: { type: "object", properties, required, additionalProperties: true },
    },
  },
});

function op(
  summary: string,
  scope: string,
  responses: Json,
  extra: Json = {},
): Json {
  return {
    summary,
    "x-provctl-scope": scope,
    ...(scope === "public" ? { security: [] } : {}),
    ...extra,
    responses,
  };
}

function servicePaths(prefix: string, machine: boolean): Json {
  const params = machine ? [p("name", "Machine name (inventory)")] : [];
  const where = machine ? "on a machine of the inventory" : "on the machine provctl serve runs on";
  const svc = p("svc", "Service name");
  const verb = (action: string) => ({
    post: op(`${action[0].toUpperCase()}${action.slice(1)} a service ${where}`, "operate", {
      "200": jsonBody(ref(action === "stop" ? "ServiceStop" : "ServiceStatus"), "The result"),
      ...problems(...WRITE, 404, 409, 500, 502, 504),
    }, { parameters: [...params, svc] }),
  });
  return {
    [`${prefix}/services`]: {
      get: op(`Services ${where} and their status`, "read", {
        "200": jsonBody(listOf("ServiceStatus"), "Statuses"),
        ...problems(...READ, 404, 502),
      }, { parameters: params }),
    },
    [`${prefix}/services/{svc}`]: {
      get: op(`A service's status ${where}`, "read", {
        "200": jsonBody(ref("ServiceStatus"), "Status"),
        ...problems(...READ, 400, 404, 502),
      }, { parameters: [...params, svc] }),
    },
    [`${prefix}/services/{svc}/start`]: verb("start"),
    [`${prefix}/services/{svc}/stop`]: verb("stop"),
    [`${prefix}/services/{svc}/restart`]: verb("restart"),
    [`${prefix}/services/{svc}/logs`]: {
      get: op(`A service's log ${where}`, "read", {
        "200": {
          description: "The last lines; with follow=1 a stream that goes on until the client " +
            "disconnects",
          content: { "text/plain": { schema: { type: "string" } } },
        },
        ...problems(...READ, 400, 404, 502),
      }, {
        parameters: [
          ...params,
          svc,
          q("lines", "Lines to show (default: [logs] lines)", { type: "integer", minimum: 0 }),
          q("follow", "1: keep streaming new lines", { enum: ["0", "1", "true", "false"] }),
        ],
      }),
    },
  };
}

let cached: Json | undefined;

export function openApiDocument(): Json {
  cached ??= build();
  return cached;
}

function build(): Json {
  const problemResponse = (description: string, headers: Json = {}) => ({
    description,
    headers,
    content: { "application/problem+json": { schema: ref("Problem") } },
  });
  return {
    openapi: "3.1.0",
    info: {
      title: "provctl API",
      version: VERSION,
      description: "The REST face of provctl: the same operations, records and audit log as " +
        "the CLI. Authenticate with `Authorization: Bearer <secret>` from " +
        "`provctl token create NAME --scope read|operate|admin`. Scopes: read (every GET), " +
        "operate (+ start/stop/restart/exec/health/deploy/rollback/machines check), admin " +
        "(+ tokens). Errors are RFC 9457 problem documents.",
    },
    servers: [{ url: "/api/v1" }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: { ...RECORD_SCHEMAS },
      responses: {
        P400: problemResponse("Invalid input (query, body, selector, name)"),
        P401: problemResponse("No token, an unknown or revoked one, or an expired one", {
          "WWW-Authenticate": { schema: { type: "string" } },
        }),
        P403: problemResponse("The token's scope does not allow this"),
        P404: problemResponse("No such resource"),
        P405: problemResponse("Method not allowed", { Allow: { schema: { type: "string" } } }),
        P409: problemResponse("Conflict (a deploy of this deployment is already running)"),
        P413: problemResponse("Request body too large"),
        P415: problemResponse("Request body is not application/json"),
        P422: problemResponse("The server's configuration does not allow it"),
        P429: problemResponse("Rate limit of the token exceeded", {
          "Retry-After": { schema: { type: "integer" } },
        }),
        P500: problemResponse("The operation failed"),
        P502: problemResponse("A machine could not be reached"),
        P503: problemResponse("The server is shutting down, or a machine's breaker is open"),
        P504: problemResponse("Timed out"),
      },
    },
    paths: {
      "/healthz": {
        get: op("Liveness (no token)", "public", {
          "200": jsonBody(ref("Healthz"), "Alive"),
        }),
      },
      "/openapi.json": {
        get: op("This document (no token)", "public", {
          "200": jsonBody({ type: "object" }, "OpenAPI 3.1"),
        }),
      },
      "/machines": {
        get: op("Machines of the inventory (all, or those selected)", "read", {
          "200": {
            ...jsonBody(listOf("Machine"), "Machines"),
            headers: {
              ETag: {
                description: "Changes when the inventory (or the selection's answer) changes",
                schema: { type: "string" },
              },
            },
          },
          "304": { description: "Unchanged since the ETag sent in If-None-Match" },
          ...problems(...READ, 400, 404),
        }, {
          parameters: [
            ...selectionQuery,
            {
              name: "If-None-Match",
              in: "header",
              required: false,
              description: "The ETag of an earlier answer: 304 while it is still the answer",
              schema: { type: "string" },
            },
          ],
        }),
      },
      "/machines/{name}": {
        get: op("One machine", "read", {
          "200": jsonBody(ref("Machine"), "The machine"),
          ...problems(...READ, 404),
        }, { parameters: [p("name", "Machine name")] }),
      },
      "/machines/check": {
        get: op("The last check of each machine checked since the server started", "read", {
          "200": jsonBody(listOf("MachineCheck"), "One result per machine checked"),
          ...problems(...READ),
        }),
        post: op("Check that machines answer (connect, host key, login, backend)", "operate", {
          "200": jsonBody(listOf("MachineCheck"), "One result per machine"),
          ...problems(...WRITE, 404),
        }, { requestBody: requestBody(selectionBody) }),
      },
      ...servicePaths("", false),
      ...servicePaths("/machines/{name}", true),
      "/exec": {
        post: op("Run a command on selected machines (in the background)", "operate", {
          "202": jsonBody(ref("OperationAccepted"), "Started; poll the operation"),
          ...problems(...WRITE, 404),
        }, {
          requestBody: requestBody({
            ...selectionBody,
            all: { type: "boolean" },
            argv: {
              type: "array",
              items: { type: "string" },
              description: "The program and its arguments, each reaching it exactly",
            },
            shell: { type: "string", description: "A script for the remote shell, instead" },
            timeout_ms: { type: "integer", minimum: 0 },
          }),
        }),
      },
      "/operations": {
        get: op("Operations kept in memory, newest first", "read", {
          "200": jsonBody(listOf("Operation"), "Operations"),
          ...problems(...READ),
        }),
      },
      "/operations/{id}": {
        get: op("An operation: its request, per-machine results and outcome", "read", {
          "200": jsonBody(ref("Operation"), "The operation"),
          ...problems(...READ, 404),
        }, { parameters: [p("id", "Operation id")] }),
      },
      "/health": {
        get: op("Run an http or tcp check on selected machines", "read", {
          "200": jsonBody(listOf("HealthResult"), "One result per machine"),
          ...problems(...READ, 400, 404),
        }, {
          parameters: [
            ...selectionQuery,
            q("http", "URL to check"),
            q("tcp", "HOST:PORT to connect to"),
            q("from", "Where the check runs", { enum: ["controller", "remote"] }),
            q("expect", "Accepted HTTP statuses, e.g. 200-399"),
          ],
        }),
        post: op("Run any check (also a command check) on selected machines", "operate", {
          "200": jsonBody(listOf("HealthResult"), "One result per machine"),
          ...problems(...WRITE, 404),
        }, {
          requestBody: requestBody({
            ...selectionBody,
            check: { type: "object", description: "A health table as in the services file" },
          }, ["check"]),
        }),
      },
      "/deployments": {
        get: op("Deployments of the services file with their recorded state", "read", {
          "200": jsonBody(listOf("Deployment"), "Deployments"),
          ...problems(...READ, 422),
        }),
      },
      "/deployments/{name}": {
        get: op("A deployment: state, plan, history", "read", {
          "200": jsonBody(ref("DeploymentDetail"), "The deployment"),
          ...problems(...READ, 404, 422),
        }, { parameters: [p("name", "Deployment name")] }),
      },
      "/deployments/{name}/deploy": {
        post: op("Deploy (in the background); dry_run answers with the plan", "operate", {
          "200": jsonBody(ref("DryRun"), "The plan (dry_run)"),
          "202": jsonBody(ref("OperationAccepted"), "Started"),
          ...problems(...WRITE, 404, 409, 422),
        }, {
          parameters: [p("name", "Deployment name")],
          requestBody: requestBody({
            ...selectionBody,
            version: { type: "string" },
            dry_run: { type: "boolean" },
            max_failures: { type: "string" },
          }),
        }),
      },
      "/deployments/{name}/rollback": {
        post: op("Roll back (in the background)", "operate", {
          "202": jsonBody(ref("OperationAccepted"), "Started"),
          ...problems(...WRITE, 404, 409, 422),
        }, {
          parameters: [p("name", "Deployment name")],
          requestBody: requestBody({ ...selectionBody, to: { type: "string" } }),
        }),
      },
      "/audit": {
        get: op("Audit records, newest first, with cursor paging", "read", {
          "200": jsonBody(ref("AuditPage"), "A page"),
          ...problems(...READ, 400),
        }, {
          parameters: [
            q("since", "90s, 30m, 1h, 2d or a date"),
            q("machine", "Name or glob"),
            q("op", "Operation (deploy includes deploy.step)"),
            q("result", "ok, failed, unreachable, timeout, cancelled, error"),
            q("deployment_id", "One deploy's records"),
            q("limit", "Records per page (1-1000, default 100)", { type: "integer" }),
            q("cursor", "next_cursor of the previous page"),
          ],
        }),
      },
      "/metrics": {
        get: op("Metrics in the Prometheus text format", "read", {
          "200": {
            description: "Prometheus text exposition format 0.0.4",
            content: { "text/plain": { schema: { type: "string" } } },
          },
          ...problems(...READ),
        }, {
          description: "Needs a token unless [serve] metrics_public = true.",
        }),
      },
      "/events": {
        get: op("Server-Sent Events: operations, services, health, deploys, audit", "read", {
          "200": {
            description: "A text/event-stream. Every event has `id:` (increasing), `event:` " +
              "(its topic) and `data:` (an Event as JSON). Comments (`: heartbeat`) keep the " +
              "connection open. Reconnect with Last-Event-ID to get what was missed; when " +
              "that id is no longer kept, a `reset` event (data: {reason, last_event_id}) " +
              "comes first, then every event still kept. A client that falls more than 4 MiB " +
              "behind gets a `dropped` event (data: {reason: client_too_slow, last_event_id}) " +
              "and the stream ends; it reconnects with Last-Event-ID.",
            content: {
              "text/event-stream": {
                schema: { type: "string" },
                itemSchema: ref("Event"),
              },
            },
          },
          ...problems(...READ, 400),
        }, {
          parameters: [
            q("topics", "Comma-separated topics: operation, service, health, deploy, audit"),
            {
              name: "Last-Event-ID",
              in: "header",
              required: false,
              description: "Resume after this event id",
              schema: { type: "string" },
            },
          ],
        }),
      },
      "/token": {
        get: op("The calling token (name, scope, expiry; never its secret)", "read", {
          "200": jsonBody(ref("Token"), "This request's token"),
          ...problems(...READ),
        }),
      },
      "/tokens": {
        get: op("API tokens (never their secrets)", "admin", {
          "200": jsonBody(listOf("Token"), "Tokens"),
          ...problems(...READ),
        }),
        post: op("Create a token; the secret is in this answer only", "admin", {
          "201": jsonBody(ref("TokenCreated"), "Created"),
          ...problems(...WRITE, 409),
        }, {
          requestBody: requestBody({
            name: { type: "string" },
            scope: { enum: ["read", "operate", "admin"] },
            expires: { type: "string", description: "30m, 12h, 30d, 2w" },
          }, ["name", "scope"]),
        }),
      },
      "/tokens/{name}": {
        delete: op("Revoke a token", "admin", {
          "204": { description: "Revoked" },
          ...problems(...READ, 404),
        }, { parameters: [p("name", "Token name")] }),
      },
    },
  };
}
