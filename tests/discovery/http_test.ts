import assert from "node:assert/strict";
import { ApiClient, retryAfter } from "../../src/discovery/_http.ts";
import { expectProvctlError } from "../helpers/errors.ts";

Deno.test("Retry-After: seconds, an HTTP date, garbage", () => {
  assert.equal(retryAfter("3"), 3000);
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(retryAfter("Thu, 01 Jan 2026 00:00:05 GMT", now), 5000);
  assert.equal(retryAfter("Thu, 01 Jan 2025 00:00:05 GMT", now), 0);
  assert.equal(retryAfter("soon"), undefined);
  assert.equal(retryAfter(null), undefined);
});

Deno.test("provider text in errors: one line, short, the secret masked, the message extracted", () => {
  const client = new ApiClient({
    source: "s",
    provider: "p",
    variable: "V",
    secrets: ["tok-123456"],
  });
  assert.equal(
    client.detail('{"error":{"code":"x","message":"bad token tok-123456\\n\\u001b[31m"}}'),
    "bad token *** [31m",
  );
  assert.equal(
    client.detail(
      "<Response><Errors><Error><Code>AuthFailure</Code><Message>no</Message></Error></Errors></Response>",
    ),
    "AuthFailure: no",
  );
  assert.equal(client.detail("x".repeat(500)).length, 203);
  assert.equal(client.detail(""), "(empty)");
});

Deno.test("HTTP: a 404 is not retried; a redirect (token to another host) is refused", async () => {
  let hits = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    hits++;
    if (new URL(req.url).pathname === "/redirect") {
      return new Response(null, { status: 302, headers: { location: "http://127.0.0.2:1/steal" } });
    }
    return new Response('{"message":"no such thing"}', { status: 404 });
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const client = new ApiClient({
      source: "s",
      provider: "p",
      variable: "V",
      secrets: [],
      retries: 0,
    });
    const e = await expectProvctlError("CommandFailed", client.json(`${base}/x`));
    assert.equal(e.params.status, 404);
    assert.equal(e.params.detail, "no such thing");
    assert.equal(hits, 1);
    await expectProvctlError("ConnectionFailed", client.json(`${base}/redirect`));
  } finally {
    await server.shutdown();
  }
});

Deno.test("HTTP: an answer larger than maxBytes is cut off with an error", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    // Streamed without a Content-Length, so only counting the bytes catches it.
    const body = new ReadableStream({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode("x".repeat(1000)));
        c.close();
      },
    });
    return new Response(body);
  });
  try {
    const client = new ApiClient({
      source: "s",
      provider: "p",
      variable: "V",
      secrets: [],
      retries: 0,
      maxBytes: 4096,
    });
    const e = await expectProvctlError(
      "CommandFailed",
      client.json(`http://127.0.0.1:${server.addr.port}/`),
    );
    assert.equal(e.key, "discovery.response_too_large");
  } finally {
    await server.shutdown();
  }
});
