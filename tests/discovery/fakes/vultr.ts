/**
 * Fake Vultr API (www.vultr.com/api, "List Instances"): GET /v2/instances with Bearer
 * auth, `per_page`, `cursor` and `tag`; answers `instances[]` with main_ip ("0.0.0.0"
 * when none), v6_main_ip ("" when none), internal_ip ("" when none), label, hostname,
 * status active, power_status running|stopped, region, tags, and meta.links.next/prev
 * cursors ("" at the ends), meta.total.
 */
import type { FakeMachine } from "./fixture.ts";
import { type FakeApi, fakePageSize, json, pageOf, startFake } from "./_server.ts";

export function startVultrFake(machines: FakeMachine[]): FakeApi {
  const token = "VULTRSECRETAPIKEY0123456789ABCDEF";
  return startFake({
    authorized: (r) => r.headers.get("authorization") === `Bearer ${token}`,
    error: (status) => ({
      type: "application/json",
      body: JSON.stringify({
        error: status === 401
          ? "Invalid API token."
          : status === 403
          ? "Unauthorized IP address"
          : status === 429
          ? "Rate limit reached"
          : "Internal error",
        status,
      }),
    }),
    answer: (r, all, fake) => {
      if (r.url.pathname !== "/v2/instances") {
        return json({ error: "Invalid API URL", status: 404 }, 404);
      }
      const q = r.url.searchParams;
      const tag = q.get("tag");
      const list = tag ? all.filter((m) => tagsOf(m).includes(tag)) : all;
      // The cursor is opaque to clients: base64 of the next offset.
      const offset = q.get("cursor") ? Number(atob(q.get("cursor")!).replace("next__", "")) : 0;
      const size = fakePageSize(q.get("per_page"), fake.pageLimit);
      const next = offset + size < list.length ? btoa(`next__${offset + size}`) : "";
      const prev = offset > 0 ? btoa(`prev__${Math.max(0, offset - size)}`) : "";
      return json({
        instances: pageOf(list.slice(offset), 1, size).map(render),
        meta: { total: list.length, links: { next, prev } },
      });
    },
  }, {
    machines,
    env: { VULTR_TEST_KEY: token },
    secret: token,
    sourceLines: 'token_env = "VULTR_TEST_KEY"',
    path: "/v2",
  });
}

function tagsOf(m: FakeMachine): string[] {
  return [...Object.entries(m.tags).map(([k, v]) => `${k}:${v}`), ...m.bare];
}

function render(m: FakeMachine) {
  return {
    id: `cb676a46-66fd-4dfb-b839-443f2e6c${m.id.padStart(4, "0")}`,
    os: "Debian 12 x64 (bookworm)",
    ram: 1024,
    main_ip: m.publicV4 ?? "0.0.0.0",
    v6_main_ip: m.publicV6 ?? "",
    internal_ip: m.privateV4 ?? "",
    label: m.name,
    hostname: m.name,
    status: "active",
    power_status: m.running ? "running" : "stopped",
    server_status: m.running ? "ok" : "none",
    region: m.region,
    tag: "",
    tags: tagsOf(m),
  };
}
