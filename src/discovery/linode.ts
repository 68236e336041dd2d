/**
 * Linode (Akamai): GET /v4/linode/instances, Bearer token, `page`/`page_size` (at most 500)
 * until `page` reaches `pages`. Filters go in the X-Filter header as JSON (`tags`, `region`,
 * `label`, `type`, `image`); `status` (running, offline, ...) is applied here. `ipv4` is
 * one array of public and private addresses (private: 192.168.128.0/17 and other RFC 1918);
 * `ipv6` is "address/128".
 */
import { PROVIDER_INFO } from "./provider.ts";
import type { ListRequest, MachineRecord, Provider } from "./provider.ts";
import { arr, authorization, bareTags, isPrivateAddress, joinUrl, obj, str } from "./_util.ts";

export const linode: Provider = {
  ...PROVIDER_INFO.linode,
  async *list(request: ListRequest) {
    const filter = Object.fromEntries(
      Object.entries(request.filters).filter(([key]) => key !== "status"),
    );
    const headers: Record<string, string> = {
      authorization: authorization(request.credentials),
    };
    if (Object.keys(filter).length > 0) headers["x-filter"] = JSON.stringify(filter);
    let page = 1;
    for (;;) {
      const url = joinUrl(request.apiUrl, "linode/instances");
      url.searchParams.set("page", String(page));
      url.searchParams.set("page_size", String(request.pageSize ?? 500));
      const body = obj(await request.http.json(url.href, { headers }));
      const data = arr(body.data);
      yield data.map(toRecord);
      const pages = typeof body.pages === "number" ? body.pages : 1;
      // An empty page ends it too, whatever `pages` claims.
      if (page >= pages || data.length === 0) break;
      page++;
    }
  },
};

function toRecord(raw: unknown): MachineRecord {
  const instance = obj(raw);
  const ipv4 = arr(instance.ipv4).map(str).filter((ip) => ip !== "");
  const ipv6 = str(instance.ipv6).split("/")[0];
  return {
    id: str(instance.id),
    name: str(instance.label),
    addresses: {
      public_ipv4: ipv4.find((ip) => !isPrivateAddress(ip)),
      private_ipv4: ipv4.find(isPrivateAddress),
      public_ipv6: ipv6 || undefined,
    },
    status: str(instance.status),
    running: instance.status === "running",
    region: str(instance.region),
    tags: bareTags(instance.tags),
  };
}
