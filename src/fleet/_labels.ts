/**
 * Label keys and values, with kubectl's rules: a key is `[prefix/]name`, the name at
 * most 63 letters, digits, '-', '_' or '.' starting and ending with a letter or digit,
 * the optional prefix a lowercase DNS subdomain; a value is empty or follows the name
 * rule. Shared by machines.toml and `-l` selectors, so both accept the same labels.
 */
import { ProvctlError } from "../core/errors.ts";
import { shown } from "./_names.ts";

export const LABEL_NAME_MAX = 63;
export const LABEL_PREFIX_MAX = 253;
const NAME = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;

function fail(key: string, params: Record<string, string | number>): never {
  throw new ProvctlError("InvalidArgument", `inventory.${key}`, { params });
}

/** Throws InvalidArgument naming the rule `key` breaks. */
export function checkLabelKey(key: string): void {
  const label = shown(key);
  if (key === "") fail("label_key_empty", {});
  const slash = key.indexOf("/");
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    const valid = prefix.length > 0 && prefix.length <= LABEL_PREFIX_MAX &&
      prefix.split(".").every((part) => DNS_LABEL.test(part));
    if (!valid) fail("label_prefix_invalid", { label, prefix: shown(prefix) });
  }
  if (name.length > LABEL_NAME_MAX) {
    fail("label_key_too_long", { label, length: name.length, max: LABEL_NAME_MAX });
  }
  if (!NAME.test(name)) fail("label_key_chars", { label, name: shown(name) });
}

/** Throws InvalidArgument naming the rule `value` (of label `key`) breaks. */
export function checkLabelValue(key: string, value: string): void {
  if (value.length > LABEL_NAME_MAX) {
    fail("label_value_too_long", {
      label: key,
      value: shown(value),
      length: value.length,
      max: LABEL_NAME_MAX,
    });
  }
  if (value !== "" && !NAME.test(value)) {
    fail("label_value_chars", { label: key, value: shown(value) });
  }
}
