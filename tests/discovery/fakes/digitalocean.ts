/**
 * Fake DigitalOcean API (docs.digitalocean.com/reference/api, "List All Droplets"):
 * GET /v2/droplets with Bearer auth, `page`/`per_page` and `tag_name`; answers
 * `droplets[]` with networks.v4[]/v6[] ({ip_address, netmask, gateway, type
 * public|private}), tags (bare strings; key/value ones written "key:value"),
 * region.slug, status active|off, and links.pages.next as an absolute URL, meta.total.
 */
import type { FakeMachine } from "./fixture.ts";
import { type FakeApi, fakePageSize, json, pageOf, startFake } from "./_server.ts";

export function startDigitalOceanFake(machines: FakeMachine[]): FakeApi {
  const token = "dop_v1_secret0123456789abcdef";
  return startFake({
    authorized: (r) => r.headers.get("authorization") === `Bearer ${token}`,
    error: (status) => ({
      type: "application/json",
      body: JSON.stringify({
        id: status === 401
          ? "Unauthorized"
          : status === 403
          ? "forbidden"
          : status === 429
          ? "too_many_requests"
          : "server_error",
        message: status === 401
          ? "Unable to authenticate you"
          : status === 403
          ? "You are not authorized to perform this operation"
          : status === 429
          ? "API Rate limit exceeded."
          : "Server was unable to give you a response.",
      }),
    }),
    answer: (r, all, fake) => {
      if (r.url.pathname !== "/v2/droplets") {
        return json({ id: "not_found", message: "not found" }, 404);
      }
      const q = r.url.searchParams;
      const tag = q.get("tag_name");
      const list = tag ? all.filter((m) => tagsOf(m).includes(tag)) : all;
      const page = Number(q.get("page") ?? "1");
      const size = fakePageSize(q.get("per_page"), fake.pageLimit);
      const last = Math.max(1, Math.ceil(list.length / size));
      const link = (p: number) => {
        const u = new URL(r.url);
        u.searchParams.set("page", String(p));
        u.searchParams.set("per_page", String(size));
        return u.href;
      };
      return json({
        droplets: pageOf(list, page, size).map(render),
        links: {
          pages: page < last
            ? {
              first: link(1),
              prev: page > 1 ? link(page - 1) : undefined,
              next: link(page + 1),
              last: link(last),
            }
            : page > 1
            ? { first: link(1), prev: link(page - 1) }
            : {},
        },
        meta: { total: list.length },
      });
    },
  }, {
    machines,
    env: { DO_TEST_TOKEN: token },
    secret: token,
    sourceLines: 'token_env = "DO_TEST_TOKEN"',
    path: "/v2",
  });
}

function tagsOf(m: FakeMachine): string[] {
  return [...Object.entries(m.tags).map(([k, v]) => `${k}:${v}`), ...m.bare];
}

function render(m: FakeMachine) {
  const v4 = [];
  if (m.publicV4) {
    v4.push({
      ip_address: m.publicV4,
      netmask: "255.255.240.0",
      gateway: "203.0.113.1",
      type: "public",
    });
  }
  if (m.privateV4) {
    v4.push({
      ip_address: m.privateV4,
      netmask: "255.255.0.0",
      gateway: "192.168.0.1",
      type: "private",
    });
  }
  return {
    id: Number(m.id),
    name: m.name,
    memory: 1024,
    vcpus: 1,
    disk: 25,
    locked: false,
    status: m.running ? "active" : "off",
    created_at: "2026-01-01T00:00:00Z",
    networks: {
      v4,
      v6: m.publicV6
        ? [{ ip_address: m.publicV6, netmask: 64, gateway: "2001:db8::1", type: "public" }]
        : [],
    },
    region: { name: "Frankfurt 1", slug: m.region, available: true },
    tags: tagsOf(m),
    vpc_uuid: "760e09ef-dc84-11e8-981e-3cfdfeaae000",
  };
}
