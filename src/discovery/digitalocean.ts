/**
 * DigitalOcean: GET /v2/droplets, Bearer token, `page`/`per_page` (at most 200), following
 * `links.pages.next` (an absolute URL, accepted only on the API's origin). `tag_name` and
 * `name` filter on the server side; `status` (new, active, off, archive) is applied here.
 * Addresses: networks.v4[] and networks.v6[] with type "public" or "private".
 */
import { PROVIDER_INFO } from "./provider.ts";
import type { ListRequest, MachineRecord, Provider } from "./provider.ts";
import { arr, authorization, bareTags, joinUrl, obj, sameOrigin, str } from "./_util.ts";
import { ProvctlError } from "../core/errors.ts";

export const digitalocean: Provider = {
  ...PROVIDER_INFO.digitalocean,
  async *list(request: ListRequest) {
    const first = joinUrl(request.apiUrl, "droplets");
    for (const [key, value] of Object.entries(request.filters)) {
      if (key !== "status") first.searchParams.set(key, value);
    }
    first.searchParams.set("page", "1");
    first.searchParams.set("per_page", String(request.pageSize ?? 200));
    let url: string | undefined = first.href;
    const seen = new Set<string>();
    while (url !== undefined) {
      seen.add(url);
      const body = obj(
        await request.http.json(url, {
          headers: { authorization: authorization(request.credentials) },
        }),
      );
      yield arr(body.droplets).map(toRecord);
      const next = str(obj(obj(body.links).pages).next);
      if (next === "") break;
      url = sameOrigin(next, request.apiUrl);
      if (url === undefined || seen.has(url)) {
        throw new ProvctlError("CommandFailed", "discovery.bad_next_page", {
          params: { provider: "digitalocean", source: request.http.options.source },
        });
      }
    }
  },
};

function toRecord(raw: unknown): MachineRecord {
  const droplet = obj(raw);
  const networks = obj(droplet.networks);
  const pick = (family: "v4" | "v6", type: string) =>
    arr(networks[family]).map(obj).find((n) => n.type === type && str(n.ip_address) !== "")
      ?.ip_address as string | undefined;
  return {
    id: str(droplet.id),
    name: str(droplet.name),
    addresses: {
      public_ipv4: pick("v4", "public"),
      private_ipv4: pick("v4", "private"),
      public_ipv6: pick("v6", "public"),
    },
    status: str(droplet.status),
    running: droplet.status === "active",
    region: str(obj(droplet.region).slug),
    tags: bareTags(droplet.tags),
  };
}
