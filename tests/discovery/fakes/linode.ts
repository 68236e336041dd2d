/**
 * Fake Linode API (techdocs.akamai.com/linode-api, "List Linodes"): GET
 * /v4/linode/instances with Bearer auth, `page`/`page_size` and an X-Filter JSON header
 * (`{"tags": "..."}`, `{"region": "..."}`); answers `data[]` with `ipv4` (public and
 * private 192.168.128.0/17 addresses in one array), `ipv6` ("addr/128"), `label`,
 * `status` running|offline, `region`, `tags`, and `page`, `pages`, `results`.
 */
import type { FakeMachine } from "./fixture.ts";
import { type FakeApi, fakePageSize, json, pageOf, startFake } from "./_server.ts";

export function startLinodeFake(machines: FakeMachine[]): FakeApi {
  const token = "linode-secret-token-0123456789";
  return startFake({
    authorized: (r) => r.headers.get("authorization") === `Bearer ${token}`,
    error: (status) => ({
      type: "application/json",
      body: JSON.stringify({
        errors: [{
          reason: status === 401
            ? "Invalid Token"
            : status === 403
            ? "Your OAuth token is not authorized to use this endpoint."
            : status === 429
            ? "Too Many Requests"
            : "Internal Server Error",
        }],
      }),
    }),
    answer: (r, all, fake) => {
      if (r.url.pathname !== "/v4/linode/instances") {
        return json({ errors: [{ reason: "Not found" }] }, 404);
      }
      let list = all;
      const filter = r.headers.get("x-filter");
      if (filter) {
        const f = JSON.parse(filter) as Record<string, string>;
        if (f.tags) list = list.filter((m) => tagsOf(m).includes(f.tags));
        if (f.region) list = list.filter((m) => m.region === f.region);
      }
      const q = r.url.searchParams;
      const page = Number(q.get("page") ?? "1");
      const size = fakePageSize(q.get("page_size"), fake.pageLimit);
      return json({
        data: pageOf(list, page, size).map(render),
        page,
        pages: Math.max(1, Math.ceil(list.length / size)),
        results: list.length,
      });
    },
  }, {
    machines,
    env: { LINODE_TEST_TOKEN: token },
    secret: token,
    sourceLines: 'token_env = "LINODE_TEST_TOKEN"',
    path: "/v4",
  });
}

function tagsOf(m: FakeMachine): string[] {
  return [...Object.entries(m.tags).map(([k, v]) => `${k}:${v}`), ...m.bare];
}

function render(m: FakeMachine) {
  return {
    id: Number(m.id),
    label: m.name,
    group: "",
    status: m.running ? "running" : "offline",
    created: "2026-01-01T00:00:00",
    type: "g6-standard-1",
    ipv4: [m.publicV4, m.privateV4].filter((a) => a !== undefined),
    ipv6: m.publicV6 ? `${m.publicV6}/128` : null,
    image: "linode/debian12",
    region: m.region,
    tags: tagsOf(m),
    hypervisor: "kvm",
  };
}
