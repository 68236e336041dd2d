/**
 * UpCloud: GET /1.3/server (`limit`/`offset`, at most 100 a page; a short page is the
 * last), Basic auth (API user) or a Bearer API token. `label` ("env=prod") filters on the
 * server side; `tag` and `status` ("started", "stopped", ...) are applied here. The server
 * list carries no addresses, so the account-wide GET /1.3/ip_address (one call, fetched
 * alongside the first page) gives them: `access` public/private/utility, `family`
 * IPv4/IPv6, `server` the UUID. Tags are bare (tags.tag[]), labels key/value
 * (labels.label[]).
 */
import { PROVIDER_INFO } from "./provider.ts";
import type { AddressKind, ListRequest, MachineRecord, Provider } from "./provider.ts";
import { arr, authorization, joinUrl, obj, str } from "./_util.ts";

type Addresses = Partial<Record<AddressKind, string>>;

export const upcloud: Provider = {
  ...PROVIDER_INFO.upcloud,
  async *list(request: ListRequest) {
    const headers = { authorization: authorization(request.credentials) };
    const limit = request.pageSize ?? 100;
    // Started now, awaited with the first page: one request instead of one per server.
    const addressesPromise = fetchAddresses(request, headers);
    addressesPromise.catch(() => {});
    let addresses: Map<string, Addresses> | undefined;
    const tag = request.filters.tag;
    for (let offset = 0;; offset += limit) {
      const url = joinUrl(request.apiUrl, "server");
      url.searchParams.set("limit", String(limit));
      url.searchParams.set("offset", String(offset));
      if (request.filters.label !== undefined) url.searchParams.set("label", request.filters.label);
      let body: Record<string, unknown>;
      try {
        body = obj(await request.http.json(url.href, { headers }));
      } catch (error) {
        // Let the address request finish first: nothing is left in flight.
        await addressesPromise.catch(() => {});
        throw error;
      }
      const servers = arr(obj(body.servers).server).map(obj);
      addresses ??= await addressesPromise;
      yield servers
        .filter((s) => tag === undefined || arr(obj(s.tags).tag).includes(tag))
        .map((s) => toRecord(s, addresses!));
      if (servers.length < limit) break;
    }
  },
};

async function fetchAddresses(
  request: ListRequest,
  headers: Record<string, string>,
): Promise<Map<string, Addresses>> {
  const body = obj(
    await request.http.json(joinUrl(request.apiUrl, "ip_address").href, { headers }),
  );
  const byServer = new Map<string, Addresses>();
  for (const raw of arr(obj(body.ip_addresses).ip_address)) {
    const ip = obj(raw);
    const server = str(ip.server);
    const address = str(ip.address);
    if (server === "" || address === "") continue;
    const family = ip.family === "IPv6" ? "ipv6" : "ipv4";
    const access = ip.access === "public" ? "public" : ip.access === "private" ? "private" : "";
    if (access === "") continue; // "utility": UpCloud's internal service network
    const kind = `${access}_${family}` as AddressKind;
    const entry = byServer.get(server) ?? {};
    entry[kind] ??= address;
    byServer.set(server, entry);
  }
  return byServer;
}

function toRecord(
  server: Record<string, unknown>,
  addresses: Map<string, Addresses>,
): MachineRecord {
  const id = str(server.uuid);
  return {
    id,
    name: str(server.hostname) || str(server.title),
    addresses: addresses.get(id) ?? {},
    status: str(server.state),
    running: server.state === "started",
    region: str(server.zone),
    tags: [
      ...arr(obj(server.labels).label).map(obj).map((l) => ({
        key: str(l.key),
        value: str(l.value),
      })),
      ...arr(obj(server.tags).tag).map(str).filter((t) => t !== "").map((key) => ({ key })),
    ],
  };
}
