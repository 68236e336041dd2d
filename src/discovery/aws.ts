/**
 * AWS EC2: DescribeInstances (Query API, version 2016-11-15) per region, in parallel,
 * signed with SigV4 (npm aws4fetch) and answered in XML (npm fast-xml-parser); pages
 * follow <nextToken> with MaxResults (5..1000). Any EC2 filter name works as a filter key
 * (`tag:env`, `instance-state-name`, `vpc-id`...) and becomes Filter.N.Name/Value.M
 * (comma-separated values); `status` is short for instance-state-name. Credentials come
 * from the standard environment variables or ~/.aws/credentials (see _credentials.ts),
 * STS session tokens included. Addresses: ipAddress, privateIpAddress, ipv6Address (or
 * the first interface's IPv6), dnsName, privateDnsName; the name is the Name tag.
 */
import { AwsV4Signer } from "aws4fetch";
import { XMLParser } from "fast-xml-parser";
import { ProvctlError } from "../core/errors.ts";
import { PROVIDER_INFO } from "./provider.ts";
import type { ListRequest, MachineRecord, Provider } from "./provider.ts";
import { arr, obj, str, tooManyPages } from "./_util.ts";

const VERSION = "2016-11-15";

export const aws: Provider = {
  ...PROVIDER_INFO.aws,
  async *list(request: ListRequest) {
    // All regions run to their end before a failure is reported: nothing is left in flight.
    // Pages are only handed on at the end, so the page limit is counted here, all regions
    // together: an API that keeps giving new tokens would otherwise be paged forever.
    const pages = { read: 0 };
    const settled = await Promise.allSettled(
      request.regions.map((region) => listRegion(request, region, pages)),
    );
    const failed = settled.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    for (const r of settled) yield* (r as PromiseFulfilledResult<MachineRecord[][]>).value;
  },
};

/** The form fields of DescribeInstances for `filters` (without paging). */
export function describeInstancesForm(filters: Readonly<Record<string, string>>): URLSearchParams {
  const form = new URLSearchParams({ Action: "DescribeInstances", Version: VERSION });
  let n = 0;
  for (const [rawKey, rawValue] of Object.entries(filters)) {
    const key = rawKey === "status" ? "instance-state-name" : rawKey;
    n++;
    form.set(`Filter.${n}.Name`, key);
    rawValue.split(",").map((v) => v.trim()).filter((v) => v !== "").forEach((value, i) =>
      form.set(`Filter.${n}.Value.${i + 1}`, value)
    );
  }
  return form;
}

async function listRegion(
  request: ListRequest,
  region: string,
  counted: { read: number },
): Promise<MachineRecord[][]> {
  const credentials = request.credentials;
  if (credentials.kind !== "aws") throw new Error("aws needs AWS credentials");
  const url = request.apiUrl.replaceAll("{region}", region);
  const parser = new XMLParser({
    ignoreAttributes: true,
    parseTagValue: false,
    processEntities: true,
    isArray: (name) => name === "item",
  });
  const pages: MachineRecord[][] = [];
  let nextToken = "";
  const seen = new Set<string>();
  do {
    const form = describeInstancesForm(request.filters);
    form.set("MaxResults", String(Math.min(1000, Math.max(5, request.pageSize ?? 1000))));
    if (nextToken !== "") form.set("NextToken", nextToken);
    const body = form.toString();
    const { text } = await request.http.send(url, async () => {
      const signed = await new AwsV4Signer({
        method: "POST",
        url,
        headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
        body,
        accessKeyId: credentials.accessKeyId,
        secretAccessKey: credentials.secretAccessKey,
        sessionToken: credentials.sessionToken,
        service: "ec2",
        region,
      }).sign();
      return new Request(signed.url, {
        method: signed.method,
        headers: signed.headers,
        body: signed.body as string,
      });
    });
    // EC2 never sends a DTD; refusing one rules out entity-expansion tricks.
    if (/<!DOCTYPE|<!ENTITY/i.test(text)) {
      throw new ProvctlError("CommandFailed", "discovery.bad_response", {
        params: {
          source: request.http.options.source,
          provider: "aws",
          url,
          detail: "a DOCTYPE/ENTITY declaration (refused)",
        },
      });
    }
    let doc: Record<string, unknown>;
    try {
      doc = obj(obj(parser.parse(text)).DescribeInstancesResponse);
    } catch {
      throw new ProvctlError("CommandFailed", "discovery.bad_response", {
        params: { source: request.http.options.source, provider: "aws", url, detail: "not XML" },
      });
    }
    const records: MachineRecord[] = [];
    for (const reservation of arr(obj(doc.reservationSet).item)) {
      for (const instance of arr(obj(obj(reservation).instancesSet).item)) {
        records.push(toRecord(obj(instance), region));
      }
    }
    pages.push(records);
    nextToken = str(doc.nextToken);
    if (nextToken !== "" && ++counted.read >= request.maxPages) {
      throw tooManyPages(request.http.options.source, "aws", request.maxPages);
    }
    if (seen.has(nextToken)) {
      throw new ProvctlError("CommandFailed", "discovery.bad_next_page", {
        params: { provider: "aws", source: request.http.options.source },
      });
    }
    seen.add(nextToken);
  } while (nextToken !== "");
  return pages;
}

function toRecord(instance: Record<string, unknown>, region: string): MachineRecord {
  const tags = arr(obj(instance.tagSet).item).map(obj).map((t) => ({
    key: str(t.key),
    value: str(t.value),
  })).filter((t) => t.key !== "");
  const interfaceIpv6 = arr(obj(instance.networkInterfaceSet).item).flatMap((ni) =>
    arr(obj(obj(ni).ipv6AddressesSet).item).map((a) => str(obj(a).ipv6Address))
  ).find((ip) => ip !== "");
  const state = str(obj(instance.instanceState).name);
  const id = str(instance.instanceId);
  return {
    id,
    name: tags.find((t) => t.key === "Name")?.value || id,
    addresses: {
      public_ipv4: str(instance.ipAddress) || undefined,
      private_ipv4: str(instance.privateIpAddress) || undefined,
      public_ipv6: str(instance.ipv6Address) || interfaceIpv6 || undefined,
      public_dns: str(instance.dnsName) || undefined,
      private_dns: str(instance.privateDnsName) || undefined,
    },
    status: state,
    running: state === "running",
    region: str(obj(instance.placement).availabilityZone) || region,
    tags,
  };
}
