/**
 * Hetzner Cloud: GET /servers, Bearer token, pages by `page`/`per_page` (at most 50) until
 * `meta.pagination.next_page` is null. `label_selector`, `status` and `name` filter on the
 * server side. Addresses: public_net.ipv4.ip, public_net.ipv6.ip (a /64 network: the
 * server's address is its ::1), private_net[].ip. Labels are key/value already.
 */
import { PROVIDER_INFO } from "./provider.ts";
import type { ListRequest, MachineRecord, Provider } from "./provider.ts";
import { arr, authorization, joinUrl, obj, str } from "./_util.ts";

export const hetzner: Provider = {
  ...PROVIDER_INFO.hetzner,
  async *list(request: ListRequest) {
    let page: number | null = 1;
    while (page !== null) {
      const url = joinUrl(request.apiUrl, "servers");
      for (const [key, value] of Object.entries(request.filters)) url.searchParams.set(key, value);
      url.searchParams.set("page", String(page));
      url.searchParams.set("per_page", String(request.pageSize ?? 50));
      const body = obj(
        await request.http.json(url.href, {
          headers: { authorization: authorization(request.credentials) },
        }),
      );
      yield arr(body.servers).map(toRecord);
      const next: unknown = obj(obj(body.meta).pagination).next_page;
      page = typeof next === "number" && Number.isSafeInteger(next) && next > page ? next : null;
    }
  },
};

function toRecord(raw: unknown): MachineRecord {
  const server = obj(raw);
  const publicNet = obj(server.public_net);
  const ipv6Net = str(obj(publicNet.ipv6).ip);
  const privateIp = arr(server.private_net).map((n) => str(obj(n).ip)).find((ip) => ip !== "");
  const datacenter = obj(server.datacenter);
  return {
    id: str(server.id),
    name: str(server.name),
    addresses: {
      public_ipv4: str(obj(publicNet.ipv4).ip) || undefined,
      public_ipv6: ipv6Net ? firstHost(ipv6Net) : undefined,
      private_ipv4: privateIp,
    },
    status: str(server.status),
    running: server.status === "running",
    region: str(obj(datacenter.location).name) || str(datacenter.name),
    tags: Object.entries(obj(server.labels)).map(([key, value]) => ({ key, value: str(value) })),
  };
}

/** "2001:db8:1234::/64" -> "2001:db8:1234::1" (Hetzner gives the server a /64). */
function firstHost(network: string): string | undefined {
  const [prefix] = network.split("/");
  if (!prefix.includes(":")) return undefined;
  return prefix.endsWith("::") ? `${prefix}1` : prefix;
}
