/**
 * Fake UpCloud API (developers.upcloud.com/1.3, "Servers" and "IP addresses"): GET
 * /1.3/server with `limit`/`offset` and `label=key=value`, answering servers.server[]
 * ({uuid, hostname, title, state started|stopped, zone, tags.tag[], labels.label[]}), and
 * GET /1.3/ip_address answering ip_addresses.ip_address[] ({access public|private|utility,
 * address, family IPv4|IPv6, server}). Basic auth (API user) or a Bearer token.
 */
import type { FakeMachine } from "./fixture.ts";
import { type FakeApi, json, startFake } from "./_server.ts";

export function startUpCloudFake(machines: FakeMachine[]): FakeApi {
  const token = "ucat_secret0123456789abcdefghij";
  const basic = `Basic ${btoa("apiuser:apipassword-secret")}`;
  const uuid = (m: FakeMachine) => `00c0ffee-0000-4000-8000-00000000${m.id.padStart(4, "0")}`;
  return startFake({
    authorized: (r) => {
      const h = r.headers.get("authorization");
      return h === `Bearer ${token}` || h === basic;
    },
    error: (status) => ({
      type: "application/json",
      body: JSON.stringify({
        error: {
          error_code: status === 401
            ? "AUTHENTICATION_FAILED"
            : status === 403
            ? "FORBIDDEN"
            : status === 429
            ? "TOO_MANY_REQUESTS"
            : "INTERNAL_ERROR",
          error_message: status === 401
            ? "Authentication failed using the given username and password."
            : status === 403
            ? "You do not have permission to access this resource."
            : "The request could not be completed.",
        },
      }),
    }),
    answer: (r, all) => {
      if (r.url.pathname === "/1.3/ip_address") {
        return json({
          ip_addresses: {
            ip_address: all.flatMap((m) => [
              ...(m.publicV4
                ? [{
                  access: "public",
                  address: m.publicV4,
                  family: "IPv4",
                  part_of_plan: "yes",
                  ptr_record: "x.upcloud.host",
                  server: uuid(m),
                  zone: m.region,
                  floating: "no",
                }]
                : []),
              ...(m.privateV4
                ? [{
                  access: "private",
                  address: m.privateV4,
                  family: "IPv4",
                  ptr_record: "",
                  server: uuid(m),
                  zone: m.region,
                  floating: "no",
                }]
                : []),
              ...(m.publicV6
                ? [{
                  access: "public",
                  address: m.publicV6,
                  family: "IPv6",
                  ptr_record: "",
                  server: uuid(m),
                  zone: m.region,
                  floating: "no",
                }]
                : []),
              // Every UpCloud server also has a utility-network address: never connected to.
              {
                access: "utility",
                address: `10.6.${m.id.slice(-2)}.1`,
                family: "IPv4",
                ptr_record: "",
                server: uuid(m),
                zone: m.region,
                floating: "no",
              },
            ]),
          },
        });
      }
      if (r.url.pathname !== "/1.3/server") {
        return json({ error: { error_code: "NOT_FOUND" } }, 404);
      }
      const q = r.url.searchParams;
      let list = all;
      const label = q.get("label");
      if (label) {
        const [k, v] = label.split("=");
        list = list.filter((m) => m.tags[k] === v);
      }
      const limit = Number(q.get("limit") ?? "100");
      const offset = Number(q.get("offset") ?? "0");
      return json({
        servers: {
          server: list.slice(offset, offset + limit).map((m) => ({
            core_number: "1",
            hostname: m.name,
            license: 0,
            memory_amount: "1024",
            plan: "1xCPU-1GB",
            state: m.running ? "started" : "stopped",
            tags: { tag: m.bare },
            labels: { label: Object.entries(m.tags).map(([key, value]) => ({ key, value })) },
            title: `${m.name} (managed by terraform)`,
            uuid: uuid(m),
            zone: m.region,
          })),
        },
      });
    },
  }, {
    machines,
    env: { UPCLOUD_TEST_TOKEN: token },
    secret: token,
    sourceLines: 'token_env = "UPCLOUD_TEST_TOKEN"',
    path: "/1.3",
  });
}
