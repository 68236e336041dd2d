/**
 * Vultr: GET /v2/instances, Bearer API key, `per_page` (at most 500) and a cursor: the
 * next page's `cursor` is `meta.links.next`, "" on the last page. `tag`, `label`,
 * `region` and `main_ip` filter on the server side; `status` is matched here against
 * `power_status` (running, stopped). Addresses: main_ip and v6_main_ip (public; Vultr
 * writes "0.0.0.0" / "" when there is none), internal_ip (the VPC address, "" if none).
 */
import { PROVIDER_INFO } from "./provider.ts";
import type { ListRequest, MachineRecord, Provider } from "./provider.ts";
import { arr, authorization, bareTags, joinUrl, obj, str } from "./_util.ts";
import { ProvctlError } from "../core/errors.ts";

export const vultr: Provider = {
  ...PROVIDER_INFO.vultr,
  async *list(request: ListRequest) {
    let cursor = "";
    const seen = new Set<string>();
    for (;;) {
      const url = joinUrl(request.apiUrl, "instances");
      for (const [key, value] of Object.entries(request.filters)) {
        if (key !== "status") url.searchParams.set(key, value);
      }
      url.searchParams.set("per_page", String(request.pageSize ?? 500));
      if (cursor !== "") url.searchParams.set("cursor", cursor);
      const body = obj(
        await request.http.json(url.href, {
          headers: { authorization: authorization(request.credentials) },
        }),
      );
      yield arr(body.instances).map(toRecord);
      cursor = str(obj(obj(body.meta).links).next);
      if (cursor === "") break;
      if (seen.has(cursor)) {
        throw new ProvctlError("CommandFailed", "discovery.bad_next_page", {
          params: { provider: "vultr", source: request.http.options.source },
        });
      }
      seen.add(cursor);
    }
  },
};

function toRecord(raw: unknown): MachineRecord {
  const instance = obj(raw);
  const address = (value: unknown) => {
    const ip = str(value);
    return ip === "" || ip === "0.0.0.0" || ip === "::" ? undefined : ip;
  };
  const power = str(instance.power_status);
  return {
    id: str(instance.id),
    name: str(instance.label) || str(instance.hostname),
    addresses: {
      public_ipv4: address(instance.main_ip),
      public_ipv6: address(instance.v6_main_ip),
      private_ipv4: address(instance.internal_ip),
    },
    status: power || str(instance.status),
    running: power === "running" && instance.status === "active",
    region: str(instance.region),
    tags: bareTags(instance.tags),
  };
}
