/**
 * SigV4 against AWS's published Signature Version 4 test suite (the
 * "aws-sig-v4-test-suite": credentials AKIDEXAMPLE, region us-east-1, service "service",
 * 2015-08-30T12:36:00Z). The canonical requests, strings to sign and Authorization
 * headers below are the suite's published values, copied as facts. Both the signing
 * library provctl uses (aws4fetch) and the AWS fake's own verifier must reproduce them.
 */
import assert from "node:assert/strict";
import { AwsV4Signer } from "aws4fetch";
import { verifySigV4 } from "./fakes/sigv4_verify.ts";
import { describeInstancesForm } from "../../src/discovery/aws.ts";

const ACCESS_KEY = "AKIDEXAMPLE";
const SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const DATE = "20150830T123600Z";
const EMPTY_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

interface Vector {
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  creq: string;
  sts: string;
  authz: string;
}

const VECTORS: Vector[] = [
  {
    name: "get-vanilla",
    method: "GET",
    path: "/",
    headers: {},
    body: "",
    creq:
      `GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:${DATE}\n\nhost;x-amz-date\n${EMPTY_HASH}`,
    sts:
      "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
    authz:
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
  },
  {
    name: "get-vanilla-query-order-key-case",
    method: "GET",
    path: "/?Param2=value2&Param1=value1",
    headers: {},
    body: "",
    creq:
      `GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:${DATE}\n\nhost;x-amz-date\n${EMPTY_HASH}`,
    sts:
      "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
    authz:
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
  },
  {
    name: "post-x-www-form-urlencoded",
    method: "POST",
    path: "/",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "Param1=value1",
    creq:
      `POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:${DATE}\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e`,
    sts:
      "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
    authz:
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
  },
];

function signer(v: Vector) {
  return new AwsV4Signer({
    method: v.method,
    url: `https://example.amazonaws.com${v.path}`,
    headers: v.headers,
    body: v.body === "" ? undefined : v.body,
    accessKeyId: ACCESS_KEY,
    secretAccessKey: SECRET,
    service: "service",
    region: "us-east-1",
    datetime: DATE,
    // The suite signs every header it sends (aws4fetch leaves content-type out by default).
    allHeaders: true,
  });
}

for (const v of VECTORS) {
  Deno.test(`SigV4 suite ${v.name}: aws4fetch gives the published canonical request, string to sign and Authorization`, async () => {
    const s = signer(v);
    assert.equal(await s.canonicalString(), v.creq);
    assert.equal(await s.stringToSign(), v.sts);
    assert.equal(await s.authHeader(), v.authz);
  });

  Deno.test(`SigV4 suite ${v.name}: the fake's verifier accepts the published signature and rebuilds the same strings`, async () => {
    const request = {
      method: v.method,
      url: new URL(`https://example.amazonaws.com${v.path}`),
      headers: new Headers({
        ...v.headers,
        host: "example.amazonaws.com",
        "x-amz-date": DATE,
        authorization: v.authz,
      }),
      body: v.body,
    };
    const verdict = await verifySigV4(request, (id) => id === ACCESS_KEY ? SECRET : undefined);
    assert.equal(verdict.canonicalRequest, v.creq);
    assert.equal(verdict.stringToSign, v.sts);
    assert.ok(verdict.ok, verdict.reason);
    // Any change to what was signed breaks it.
    const tampered = await verifySigV4(
      {
        ...request,
        body: `${v.body}x`,
        url: new URL(`${request.url.href}${v.path.includes("?") ? "&" : "?"}a=b`),
      },
      () => SECRET,
    );
    assert.equal(tampered.ok, false);
    const wrongSecret = await verifySigV4(request, () => `${SECRET}x`);
    assert.equal(wrongSecret.ok, false);
  });
}

Deno.test("DescribeInstances: filters become Filter.N.Name / Filter.N.Value.M, status is instance-state-name", () => {
  const form = describeInstancesForm({ "tag:env": "prod, staging", status: "running" });
  assert.equal(
    form.toString(),
    "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3Aenv&Filter.1.Value.1=prod" +
      "&Filter.1.Value.2=staging&Filter.2.Name=instance-state-name&Filter.2.Value.1=running",
  );
});
