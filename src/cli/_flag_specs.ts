/**
 * Short forms for the flag and documentation specs the command tree declares. Briefs are
 * getters, so the [help] messages are only parsed when help or an error needs them.
 */
import { brief } from "./help_text.ts";

/** An optional flag taking a value (`--name VALUE`). */
export function valueFlag<T = string>(
  briefKey: string,
  placeholder: string,
  parse: (input: string) => T = String as unknown as (input: string) => T,
) {
  return {
    kind: "parsed" as const,
    parse,
    optional: true as const,
    placeholder,
    get brief() {
      return brief(briefKey);
    },
  };
}

/** An optional on/off flag without a --no- form. */
export function switchFlag(briefKey: string) {
  return {
    kind: "boolean" as const,
    optional: true as const,
    withNegated: false,
    get brief() {
      return brief(briefKey);
    },
  };
}

/** Command or route documentation with a lazily read brief. */
export function docs(briefKey: string) {
  return {
    get brief() {
      return brief(briefKey);
    },
  };
}
