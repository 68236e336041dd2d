/**
 * The one JSON record shape per resource, as JSON Schema (2020-12, the dialect of OpenAPI
 * 3.1). `provctl ... -o json` prints these records and the API returns them; the OpenAPI
 * document embeds these schemas and the tests validate both faces against them.
 *
 * Conventions: snake_case keys; `machine` is always a machine's inventory name ("local"
 * for the machine provctl runs on); absent values are null, not missing; times are ISO
 * 8601 strings; durations are integer milliseconds with a `_ms` suffix.
 */

type Schema = Record<string, unknown>;

const str = { type: "string" };
const int = { type: "integer" };
const num = { type: "number" };
const bool = { type: "boolean" };
const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: "null" }] });
const strMap = { type: "object", additionalProperties: { type: "string" } };
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

function object(properties: Record<string, Schema>, optional: readonly string[] = []): Schema {
  return {
    type: "object",
    properties,
    required: Object.keys(properties).filter((k) => !optional.includes(k)),
    additionalProperties: false,
  };
}

export const SERVICE_STATES = ["running", "exited", "terminated", "failed", "not-running"];

const DEPLOYMENT: Record<string, Schema> = {
  name: str,
  strategy: str,
  service: nullable(str),
  artifact: str,
  origin: str,
  version: nullable(str),
  previous: nullable(str),
  live_group: nullable(str),
  last_deployment_id: nullable(str),
  last_result: nullable(str),
  updated: nullable(str),
};

export const RECORD_SCHEMAS: Record<string, Schema> = {
  Machine: object({
    name: str,
    address: str,
    port: nullable(int),
    user: nullable(str),
    jump: nullable(str),
    profile: nullable(str),
    labels: strMap,
    vars: strMap,
    origin: str,
    source: nullable(str),
    stale: bool,
  }),
  MachineCheck: object({
    machine: str,
    ok: bool,
    failed_at: nullable({ enum: ["connect", "host-key", "auth", "command", "backend", "skipped"] }),
    backend: nullable(str),
    latency_ms: nullable(num),
    error: nullable(str),
    checked_at: str,
  }),
  ServiceStatus: object({
    name: str,
    machine: str,
    backend: str,
    state: { enum: [...SERVICE_STATES, "unreachable"] },
    pid: nullable(int),
    since: nullable(str),
    exit_code: nullable(int),
    signal: nullable(str),
    reason: nullable(str),
    restarts: nullable(int),
    last_exit: nullable(object({ code: nullable(int), signal: nullable(str) })),
    last_restart_at: nullable(str),
    next_restart_at: nullable(str),
    supervisor: nullable(str),
  }),
  ServiceStop: object({
    name: str,
    machine: str,
    backend: str,
    changed: bool,
    killed: bool,
  }),
  ExecResult: object({
    machine: str,
    status: { enum: ["ok", "failed", "unreachable", "timeout", "skipped", "cancelled"] },
    exit_code: nullable(int),
    signal: nullable(str),
    stdout: str,
    stderr: str,
    duration_ms: int,
    attempts: int,
    error: nullable(str),
  }),
  HealthResult: object({
    machine: str,
    healthy: bool,
    status: str,
    detail: str,
    latency_ms: num,
  }),
  HealthTransition: object({
    machine: str,
    from: str,
    to: str,
    at: str,
    detail: str,
    unhealthy_ms: nullable(num),
  }),
  DeployPlan: object({
    deployment: str,
    strategy: str,
    version: str,
    deployment_id: str,
    artifact: str,
    max_failures: {},
    bake_ms: int,
    keep_releases: int,
    blue_green: nullable({ type: "object" }),
    batches: {
      type: "array",
      items: object({ kind: str, machines: { type: "array", items: str } }),
    },
    machines: {
      type: "array",
      items: object({
        machine: str,
        group: nullable(str),
        root: str,
        release_dir: str,
        before: { type: "array", items: str },
        after: { type: "array", items: str },
        service: nullable(object({
          name: str,
          command: str,
          working_dir: nullable(str),
          backend: nullable(str),
        })),
        health: nullable(str),
      }),
    },
  }),
  DryRun: object({ dry_run: { const: true }, plan: ref("DeployPlan") }),
  DeployResult: object({
    deployment: str,
    deployment_id: str,
    strategy: str,
    version: str,
    ok: bool,
    rolled_back: bool,
    reason: nullable(str),
    live_group: nullable(str),
    duration_ms: int,
    machines: {
      type: "array",
      items: object({
        machine: str,
        status: str,
        previous: nullable(str),
        current: nullable(str),
        stage: nullable(str),
        error: nullable(str),
        rollback_error: nullable(str),
      }),
    },
  }),
  Deployment: object(DEPLOYMENT),
  DeploymentDetail: object({
    ...DEPLOYMENT,
    plan: nullable(ref("DeployPlan")),
    plan_error: nullable(str),
    history: { type: "array", items: ref("DeploymentRun") },
  }),
  DeploymentRun: object({
    deployment_id: str,
    op: str,
    started: str,
    finished: str,
    operator: str,
    /** The worst result among the run's records (a failed probe or retry counts). */
    result: str,
    /** How the run ended: its finish record, else the deployment's state for its last run;
     * "unknown" while it runs, when it was killed midway, or for runs of older versions. */
    outcome: { enum: ["ok", "failed", "rolled-back", "unknown"] },
    machines: { type: "array", items: str },
  }),
  AuditRecord: object({
    id: str,
    ts: str,
    operator: str,
    uid: nullable(int),
    pid: int,
    machine: str,
    target: str,
    op: str,
    command: str,
    result: { enum: ["ok", "failed", "unreachable", "timeout", "cancelled", "error"] },
    exit_code: int,
    signal: str,
    duration_ms: int,
    attempts: int,
    deployment_id: str,
    error: str,
  }, [
    "id",
    "target",
    "command",
    "exit_code",
    "signal",
    "duration_ms",
    "attempts",
    "deployment_id",
    "error",
  ]),
  AuditPage: object({
    records: { type: "array", items: ref("AuditRecord") },
    next_cursor: nullable(str),
  }),
  Metrics: object({
    version: { const: 1 },
    updated: str,
    families: {
      type: "object",
      additionalProperties: object({
        type: { enum: ["counter", "gauge", "histogram"] },
        help: str,
        buckets: { type: "array", items: num },
        series: {
          type: "array",
          items: object({
            labels: strMap,
            value: num,
            buckets: { type: "array", items: num },
            sum: num,
            count: num,
          }, ["value", "buckets", "sum", "count"]),
        },
      }, ["buckets"]),
    },
  }, ["updated"]),
  Token: object({
    name: str,
    scope: { enum: ["read", "operate", "admin"] },
    created: str,
    expires: nullable(str),
  }),
  TokenCreated: object({
    name: str,
    scope: { enum: ["read", "operate", "admin"] },
    created: str,
    expires: nullable(str),
    secret: str,
  }),
  Operation: object({
    id: str,
    kind: { enum: ["exec", "deploy", "rollback"] },
    status: { enum: ["running", "succeeded", "failed", "cancelled"] },
    operator: str,
    created: str,
    finished: nullable(str),
    request: { type: "object" },
    results: { type: "array", items: ref("ExecResult") },
    result: nullable({ anyOf: [ref("DeployResult"), ref("DryRun")] }),
    error: nullable(ref("Problem")),
  }),
  OperationAccepted: object({ id: str, status: { const: "running" }, href: str }),
  Problem: object({
    type: str,
    title: str,
    status: int,
    detail: str,
    instance: str,
    hint: str,
    code: str,
  }, ["instance", "hint", "code"]),
  Event: object({
    id: int,
    topic: { enum: ["operation", "service", "health", "deploy", "audit"] },
    type: str,
    at: str,
    data: { type: "object" },
  }),
  Healthz: object({ status: { const: "ok" }, version: str }),
};

/** A list response: `{ "items": [...] }` of one record schema. */
export function listOf(name: string): Schema {
  return object({ items: { type: "array", items: ref(name) } });
}
