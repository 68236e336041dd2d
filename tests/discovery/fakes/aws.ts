/**
 * Fake EC2 Query API (docs.aws.amazon.com/AWSEC2/latest/APIReference,
 * "DescribeInstances"): POST /{region}/ with a form body (Action, Version, MaxResults,
 * NextToken, Filter.N.Name / Filter.N.Value.M for tag:KEY and instance-state-name),
 * checked with the fake's own SigV4 verifier (region from the path, service ec2, the STS
 * session token signed). Answers DescribeInstancesResponse XML: reservationSet/item/
 * instancesSet/item with instanceId, instanceState/name, privateIpAddress, ipAddress,
 * ipv6Address, dnsName, placement/availabilityZone, tagSet/item {key, value}, and
 * <nextToken> while more remain. Errors are EC2's <Response><Errors><Error> documents.
 * Machines 1-5 live in eu-west-1, 6-7 in us-east-1.
 */
import type { FakeMachine } from "./fixture.ts";
import { type FakeApi, fakePageSize, pageOf, startFake } from "./_server.ts";
import { verifySigV4 } from "./sigv4_verify.ts";

export const AWS_REGIONS = ["eu-west-1", "us-east-1"];
const ACCESS_KEY = "AKIAIOSFODNN7FAKEKEY";
const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYFAKEKEYSECRET";
const SESSION = "IQoJb3JpZ2luX2VjEFAKE//////////wEaCXVzLWVhc3QtMSJHMEUCIQ";

export function startAwsFake(machines: FakeMachine[]): FakeApi {
  const regionOf = (m: FakeMachine, all: FakeMachine[]) =>
    all.indexOf(m) < 5 ? AWS_REGIONS[0] : AWS_REGIONS[1];
  return startFake({
    authorized: async (r) => {
      const region = r.url.pathname.split("/")[1];
      const verdict = await verifySigV4(r, (id) => id === ACCESS_KEY ? SECRET : undefined);
      return verdict.ok && verdict.region === region && verdict.service === "ec2" &&
        r.headers.get("x-amz-security-token") === SESSION;
    },
    error: (status) => {
      const [code, message] = status === 401
        ? ["AuthFailure", "AWS was not able to validate the provided access credentials"]
        : status === 403
        ? ["UnauthorizedOperation", "You are not authorized to perform this operation."]
        : status === 429
        ? ["RequestLimitExceeded", "Request limit exceeded."]
        : ["InternalError", "An internal error has occurred."];
      return {
        type: "text/xml;charset=UTF-8",
        body:
          `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-cb5432daacc0</RequestID></Response>`,
      };
    },
    answer: (r, all, fake) => {
      const region = r.url.pathname.split("/")[1];
      const form = new URLSearchParams(r.body);
      if (
        r.method !== "POST" || form.get("Action") !== "DescribeInstances" ||
        form.get("Version") !== "2016-11-15"
      ) {
        return new Response(
          "<Response><Errors><Error><Code>InvalidAction</Code></Error></Errors></Response>",
          { status: 400 },
        );
      }
      let list = all.filter((m) => regionOf(m, all) === region);
      for (let n = 1; form.has(`Filter.${n}.Name`); n++) {
        const name = form.get(`Filter.${n}.Name`)!;
        const values: string[] = [];
        for (let v = 1; form.has(`Filter.${n}.Value.${v}`); v++) {
          values.push(form.get(`Filter.${n}.Value.${v}`)!);
        }
        if (name.startsWith("tag:")) {
          list = list.filter((m) => values.includes(m.tags[name.slice(4)]));
        } else if (name === "instance-state-name") {
          list = list.filter((m) => values.includes(m.running ? "running" : "stopped"));
        } else {return new Response(
            `<Response><Errors><Error><Code>InvalidParameterValue</Code><Message>The filter '${name}' is invalid</Message></Error></Errors></Response>`,
            { status: 400 },
          );}
      }
      const max = Number(form.get("MaxResults") ?? "1000");
      if (max < 5 || max > 1000) {
        return new Response(
          "<Response><Errors><Error><Code>InvalidParameterValue</Code></Error></Errors></Response>",
          { status: 400 },
        );
      }
      const offset = form.get("NextToken") ? Number(atob(form.get("NextToken")!)) : 0;
      const size = fakePageSize(String(max), fake.pageLimit);
      const page = pageOf(list.slice(offset), 1, size);
      const next = offset + size < list.length ? btoa(String(offset + size)) : undefined;
      const xml = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
  <reservationSet>${page.map((m) => reservation(m, region)).join("")}
  </reservationSet>${next ? `\n  <nextToken>${next}</nextToken>` : ""}
</DescribeInstancesResponse>`;
      return new Response(xml, { headers: { "content-type": "text/xml;charset=UTF-8" } });
    },
  }, {
    machines,
    env: {
      AWS_ACCESS_KEY_ID: ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: SECRET,
      AWS_SESSION_TOKEN: SESSION,
    },
    secret: SECRET,
    sourceLines: `regions = ${JSON.stringify(AWS_REGIONS)}`,
    path: "/{region}/",
  });
}

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function reservation(m: FakeMachine, region: string): string {
  const tags = [["Name", m.name], ...Object.entries(m.tags), ...m.bare.map((b) => [b, ""])];
  const id = `i-0${m.id.padStart(16, "0")}`;
  return `
    <item>
      <reservationId>r-0${m.id}</reservationId>
      <ownerId>123456789012</ownerId>
      <groupSet/>
      <instancesSet>
        <item>
          <instanceId>${id}</instanceId>
          <imageId>ami-0abcdef1234567890</imageId>
          <instanceState><code>${m.running ? 16 : 80}</code><name>${
    m.running ? "running" : "stopped"
  }</name></instanceState>
          <privateDnsName>${
    m.privateV4 ? `ip-${m.privateV4.replaceAll(".", "-")}.${region}.compute.internal` : ""
  }</privateDnsName>
          <dnsName>${
    m.publicV4 ? `ec2-${m.publicV4.replaceAll(".", "-")}.${region}.compute.amazonaws.com` : ""
  }</dnsName>
          <instanceType>t3.micro</instanceType>
          <placement><availabilityZone>${region}a</availabilityZone><tenancy>default</tenancy></placement>
          ${m.privateV4 ? `<privateIpAddress>${m.privateV4}</privateIpAddress>` : ""}
          ${m.publicV4 ? `<ipAddress>${m.publicV4}</ipAddress>` : ""}
          ${m.publicV6 ? `<ipv6Address>${m.publicV6}</ipv6Address>` : ""}
          <tagSet>${
    tags.map(([k, v]) => `<item><key>${esc(k)}</key><value>${esc(v)}</value></item>`).join("")
  }</tagSet>
          <networkInterfaceSet>
            <item><networkInterfaceId>eni-0${m.id}</networkInterfaceId>${
    m.publicV6
      ? `<ipv6AddressesSet><item><ipv6Address>${m.publicV6}</ipv6Address></item></ipv6AddressesSet>`
      : "<ipv6AddressesSet/>"
  }</item>
          </networkInterfaceSet>
        </item>
      </instancesSet>
    </item>`;
}
