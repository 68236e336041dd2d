/**
 * The shared part of the fake provider APIs: a real HTTP server on 127.0.0.1 (port 0),
 * a log of requests, an auth check, and a script of failures to answer before the real
 * data (401, 403, 429 with Retry-After, 500, or a hang that only ends when the server
 * closes), and a delay before every real answer (a slow API), counting the requests whose
 * client went away while it waited. Each provider's fake (fakes/<provider>.ts) renders the machines of
 * fixture.ts in that provider's documented field shapes.
 */
import type { FakeMachine } from "./fixture.ts";

export type Failure = "401" | "403" | "429" | "500" | "hang";

export interface LoggedRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Headers;
  readonly body: string;
}

export interface FakeApi {
  /** api_url to configure (AWS: with a {region} placeholder). */
  readonly apiUrl: string;
  /** Environment of a source that reaches this fake with valid credentials. */
  readonly env: Record<string, string>;
  /** The secret in env (must never be printed). */
  readonly secret: string;
  /** TOML lines for [sources.X] besides provider/api_url (e.g. token_env, regions). */
  readonly sourceLines: string;
  /** The machines served (change them between fetches). */
  machines: FakeMachine[];
  readonly requests: LoggedRequest[];
  /** Failures answered first, one per request, in order. */
  script: Failure[];
  /** A failure answered to every request while set. */
  always?: Failure;
  /** Retry-After sent with 429 (seconds). */
  retryAfter: string;
  /** Largest page served, whatever the client asks (default 2: several pages). */
  pageLimit: number;
  /** Wait this long before each real answer (default 0). */
  delayMs: number;
  /** Requests whose connection the client closed during delayMs (it gave up on them). */
  cancelled: number;
  close(): Promise<void>;
}

export interface FakeHandler {
  /** True when the request carries valid credentials. */
  authorized(request: LoggedRequest): boolean | Promise<boolean>;
  /** The provider's error body for a status. */
  error(status: number): { body: string; type: string };
  /** The real answer for the machines. */
  answer(
    request: LoggedRequest,
    machines: FakeMachine[],
    fake: FakeApi,
  ): Response | Promise<Response>;
}

export function startFake(
  handler: FakeHandler,
  init: {
    machines: FakeMachine[];
    env: Record<string, string>;
    secret: string;
    sourceLines: string;
    path: string;
  },
): FakeApi {
  const closing = Promise.withResolvers<void>();
  const fake: FakeApi = {
    apiUrl: "",
    env: init.env,
    secret: init.secret,
    sourceLines: init.sourceLines,
    machines: init.machines,
    requests: [],
    script: [],
    retryAfter: "1",
    pageLimit: 2,
    delayMs: 0,
    cancelled: 0,
    close: async () => {
      closing.resolve();
      await server.shutdown();
    },
  };
  const reply = (status: number, extra: Record<string, string> = {}) => {
    const { body, type } = handler.error(status);
    return new Response(body, { status, headers: { "content-type": type, ...extra } });
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const logged: LoggedRequest = {
        method: req.method,
        url: new URL(req.url),
        headers: req.headers,
        body: await req.text(),
      };
      fake.requests.push(logged);
      const failure = fake.script.shift() ?? fake.always;
      if (failure === "hang") {
        await closing.promise;
        return reply(503);
      }
      if (failure === "429") return reply(429, { "retry-after": fake.retryAfter });
      if (failure !== undefined) return reply(Number(failure));
      if (!(await handler.authorized(logged))) return reply(401);
      if (fake.delayMs > 0 && await clientLeft(req, fake.delayMs)) {
        fake.cancelled++;
        return reply(503);
      }
      return await handler.answer(logged, fake.machines, fake);
    },
  );
  (fake as { apiUrl: string }).apiUrl = `http://127.0.0.1:${server.addr.port}${init.path}`;
  return fake;
}

/** Waits `ms`; true if the client closed the connection meanwhile. */
function clientLeft(req: Request, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      req.signal.removeEventListener("abort", onAbort);
      resolve(false);
    }, ms);
    req.signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** `items` cut into pages of `size` (at least 1). */
export function pageOf<T>(items: readonly T[], page: number, size: number): T[] {
  const n = Math.max(1, size);
  return items.slice((page - 1) * n, page * n);
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** The page size a fake uses: what the client asked for, but at most `limit`. */
export function fakePageSize(asked: string | null, limit: number): number {
  const n = Number(asked ?? String(limit));
  return Number.isSafeInteger(n) && n > 0 ? Math.min(n, limit) : limit;
}
