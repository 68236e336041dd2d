/**
 * Serialized answers of read routes, kept per version of what they were built from (an
 * object that is replaced when its source changes, such as the cached inventory) and per
 * query: a repeated GET costs a map lookup instead of building and serializing records.
 * Each answer has an ETag; a client that sends it back in If-None-Match gets a 304.
 */

export interface CachedAnswer {
  readonly body: string;
  readonly etag: string;
}

// ETags differ between server runs: a restart may read a changed file as the same object.
const RUN = crypto.randomUUID().slice(0, 8);
let built = 0;

export class AnswerCache {
  readonly #max: number;
  readonly #entries = new Map<string, { source: object; answer: CachedAnswer }>();

  constructor(max = 64) {
    this.#max = max;
  }

  /** The answer for `key` built from `source` (the same object), if there is one. */
  get(key: string, source: object): CachedAnswer | undefined {
    const known = this.#entries.get(key);
    return known?.source === source ? known.answer : undefined;
  }

  /** Keeps `value`, serialized, as the answer for `key` built from `source`. */
  set(key: string, source: object, value: unknown): CachedAnswer {
    const body = JSON.stringify(value);
    const known = this.#entries.get(key);
    // Rebuilt with the same result (a file touched, a fresh discovery): the same ETag.
    const answer = known?.answer.body === body
      ? known.answer
      : { body, etag: `"${RUN}-${(++built).toString(36)}"` };
    // Keys come from clients' queries: bounded, the oldest forgotten first.
    this.#entries.delete(key);
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { source, answer });
    return answer;
  }
}

/** 200 with the answer, or 304 when the client's If-None-Match already names it. */
export function answerResponse(answer: CachedAnswer, ifNoneMatch: string | undefined): Response {
  if (ifNoneMatch !== undefined && matchesEtag(ifNoneMatch, answer.etag)) {
    return new Response(null, { status: 304, headers: { etag: answer.etag } });
  }
  const response = new Response(answer.body, { headers: { "content-type": "application/json" } });
  // Set afterwards: in Deno 2.9 a Response whose init headers hold more than the content
  // type keeps about its body's size of memory after it is gone (RSS grew per request).
  response.headers.set("etag", answer.etag);
  return response;
}

/** If-None-Match: "*" or a list of (possibly weak) tags; compared weakly (RFC 9110 13.1.2). */
function matchesEtag(header: string, etag: string): boolean {
  if (header.trim() === "*") return true;
  return header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}
