/**
 * The AWS fake's own SigV4 verifier, written from AWS's description of Signature Version
 * 4 (canonical request -> string to sign -> HMAC chain), independently of aws4fetch so
 * that the two check each other. Proven against AWS's published test-suite vectors in
 * tests/discovery/aws_sigv4_test.ts.
 */

export interface SignedRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Headers;
  readonly body: string;
}

export interface Verdict {
  readonly ok: boolean;
  readonly reason?: string;
  readonly accessKeyId?: string;
  readonly region?: string;
  readonly service?: string;
  readonly canonicalRequest?: string;
  readonly stringToSign?: string;
}

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/\s]+)\/(\d{8})\/([^/\s]+)\/([^/\s]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;
const enc = new TextEncoder();

export async function verifySigV4(
  request: SignedRequest,
  secretOf: (accessKeyId: string) => string | undefined,
): Promise<Verdict> {
  const header = request.headers.get("authorization") ?? "";
  const m = AUTH.exec(header);
  if (!m) return { ok: false, reason: "no SigV4 Authorization header" };
  const [, accessKeyId, date, region, service, signedHeaders, signature] = m;
  const secret = secretOf(accessKeyId);
  if (secret === undefined) return { ok: false, reason: "unknown access key" };
  const amzDate = request.headers.get("x-amz-date") ?? "";
  if (!amzDate.startsWith(date)) {
    return { ok: false, reason: "x-amz-date does not match the scope" };
  }
  const names = signedHeaders.split(";");
  if (!names.includes("host")) return { ok: false, reason: "host is not signed" };
  if (request.headers.has("x-amz-security-token") && !names.includes("x-amz-security-token")) {
    return { ok: false, reason: "the session token is not signed" };
  }
  const canonicalRequest = await canonical(request, names);
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${await sha256Hex(
    canonicalRequest,
  )}`;
  let key = await hmac(enc.encode(`AWS4${secret}`), date);
  key = await hmac(key, region);
  key = await hmac(key, service);
  key = await hmac(key, "aws4_request");
  const expected = hex(await hmac(key, stringToSign));
  return {
    ok: expected === signature,
    reason: expected === signature ? undefined : "signature mismatch",
    accessKeyId,
    region,
    service,
    canonicalRequest,
    stringToSign,
  };
}

/** The canonical request of `request` for the signed header `names`. */
export async function canonical(request: SignedRequest, names: readonly string[]): Promise<string> {
  const path = request.url.pathname.split("/").map((seg) => rfc3986(decodeURIComponent(seg))).join(
    "/",
  );
  const query = [...request.url.searchParams.entries()]
    .map(([k, v]) => [rfc3986(k), rfc3986(v)])
    .sort(([ak, av], [bk, bv]) => ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0)
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const headers = names.map((n) => {
    const value = n === "host"
      ? (request.headers.get("host") ?? request.url.host)
      : request.headers.get(n) ?? "";
    return `${n}:${value.trim().replace(/\s+/g, " ")}\n`;
  }).join("");
  const payload = request.headers.get("x-amz-content-sha256") ?? await sha256Hex(request.body);
  return [request.method, path || "/", query, headers, names.join(";"), payload].join("\n");
}

function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

async function sha256Hex(text: string): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(text))));
}

async function hmac(key: Uint8Array<ArrayBuffer>, data: string): Promise<Uint8Array<ArrayBuffer>> {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, enc.encode(data)));
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
