/** Asserting ProvctlErrors in tests: the kind, and that the message renders in full. */
import assert from "node:assert/strict";
import { type ErrorKind, isProvctlError, type ProvctlError } from "../../src/core/errors.ts";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";

const messages = new Messages(embeddedMessages());

/**
 * Awaits `action` (a promise or a function returning one), expects a ProvctlError of
 * `kind`, checks its message renders through the catalog with no placeholder left, and
 * returns it.
 */
export async function expectProvctlError(
  kind: ErrorKind | string,
  action: Promise<unknown> | (() => Promise<unknown>),
): Promise<ProvctlError> {
  try {
    await (typeof action === "function" ? action() : action);
  } catch (e) {
    assert.ok(isProvctlError(e), `expected ProvctlError ${kind}, got ${e}`);
    assert.equal(
      e.kind,
      kind,
      `expected ${kind}, got ${e.kind}: ${e.key} ${JSON.stringify(e.params)}`,
    );
    assert.doesNotMatch(
      messages.format(e.key, e.params),
      /\{[a-z_]+\}/,
      `message ${e.key} renders`,
    );
    return e;
  }
  assert.fail(`expected ProvctlError ${kind}, but it succeeded`);
}
