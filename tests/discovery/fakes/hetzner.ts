/**
 * Fake Hetzner Cloud API (docs.hetzner.cloud, "Servers"): GET /v1/servers with Bearer
 * auth, `page`/`per_page`, `label_selector` (key=value and key!=value terms) and
 * `status`; answers `servers[]` with public_net.ipv4.ip, public_net.ipv6.ip (a /64),
 * private_net[].ip, labels, datacenter.location.name, and meta.pagination.
 */
import type { FakeMachine } from "./fixture.ts";
import { type FakeApi, fakePageSize, json, pageOf, startFake } from "./_server.ts";

export function startHetznerFake(machines: FakeMachine[]): FakeApi {
  const token = "hcloud-secret-token-0123456789";
  return startFake({
    authorized: (r) => r.headers.get("authorization") === `Bearer ${token}`,
    error: (status) => ({
      type: "application/json",
      body: JSON.stringify({
        error: status === 401
          ? { code: "unauthorized", message: "unable to authenticate", details: {} }
          : status === 403
          ? { code: "forbidden", message: "insufficient permissions for this request", details: {} }
          : status === 429
          ? {
            code: "rate_limit_exceeded",
            message: "limit of 3600 requests per hour reached",
            details: {},
          }
          : { code: "server_error", message: "an internal server error occurred", details: {} },
      }),
    }),
    answer: (r, all, fake) => {
      if (r.method !== "GET" || r.url.pathname !== "/v1/servers") {
        return json({ error: { code: "not_found" } }, 404);
      }
      const q = r.url.searchParams;
      let list = all;
      const selector = q.get("label_selector");
      if (selector) {
        for (const term of selector.split(",")) {
          const [k, v] = term.split(/!?=/);
          const negate = term.includes("!=");
          list = list.filter((m) => negate ? allLabels(m)[k] !== v : allLabels(m)[k] === v);
        }
      }
      const status = q.get("status");
      if (status) list = list.filter((m) => (m.running ? "running" : "off") === status);
      const page = Number(q.get("page") ?? "1");
      const size = fakePageSize(q.get("per_page"), fake.pageLimit);
      const last = Math.max(1, Math.ceil(list.length / size));
      return json({
        servers: pageOf(list, page, size).map(render),
        meta: {
          pagination: {
            page,
            per_page: size,
            previous_page: page > 1 ? page - 1 : null,
            next_page: page < last ? page + 1 : null,
            last_page: last,
            total_entries: list.length,
          },
        },
      });
    },
  }, {
    machines,
    env: { HCLOUD_TEST_TOKEN: token },
    secret: token,
    sourceLines: 'token_env = "HCLOUD_TEST_TOKEN"',
    path: "/v1",
  });
}

function allLabels(m: FakeMachine): Record<string, string> {
  return { ...Object.fromEntries(m.bare.map((b) => [b, ""])), ...m.tags };
}

function render(m: FakeMachine) {
  return {
    id: Number(m.id),
    name: m.name,
    status: m.running ? "running" : "off",
    created: "2026-01-01T00:00:00+00:00",
    public_net: {
      ipv4: m.publicV4 ? { id: 1, ip: m.publicV4, blocked: false, dns_ptr: "h.example.com" } : null,
      ipv6: m.publicV6
        ? { id: 2, ip: `${m.publicV6.replace(/1$/, "")}/64`, blocked: false, dns_ptr: [] }
        : null,
      floating_ips: [],
      firewalls: [],
    },
    private_net: m.privateV4
      ? [{ network: 4711, ip: m.privateV4, alias_ips: [], mac_address: "86:00:00:2a:7d:e0" }]
      : [],
    server_type: { id: 1, name: "cx22" },
    datacenter: { id: 1, name: `${m.region}-dc14`, location: { id: 1, name: m.region } },
    labels: allLabels(m),
  };
}
