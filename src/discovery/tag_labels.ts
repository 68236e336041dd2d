/**
 * Provider tags -> provctl labels (documented in the README, "Cloud discovery"):
 *
 * - key/value tags (AWS tagSet, Hetzner labels, UpCloud labels) keep key and value;
 * - a bare tag containing '=' or ':' (DigitalOcean, Linode, Vultr, UpCloud tags such as
 *   "env=prod" or "env:prod") splits at the first of them into key and value;
 * - any other bare tag "web" becomes the label `tag/web` with an empty value;
 * - a key that is not a valid label key has every character other than letters, digits,
 *   '-', '_' and '.' replaced by '_', leading/trailing non-alphanumerics removed and is cut
 *   to 63 characters (a `prefix/` is kept, lowercased, when it is a DNS subdomain); values
 *   get the same treatment. A tag whose key ends up empty is dropped. Every change is
 *   reported (shown with -v), and when two tags map to the same key the later one wins.
 */
import { checkLabelKey, checkLabelValue, LABEL_NAME_MAX } from "../fleet/inventory.ts";
import type { ProviderTag } from "./provider.ts";

/** A message key of configs/messages.toml [discovery] with its parameters. */
export interface Note {
  readonly key: string;
  readonly params: Record<string, string>;
}

export interface LabelMapping {
  readonly labels: Record<string, string>;
  /** What was changed or dropped (untrusted text JSON-quoted). */
  readonly notes: Note[];
}

const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

export function tagsToLabels(tags: readonly ProviderTag[]): LabelMapping {
  const labels: Record<string, string> = {};
  const notes: Note[] = [];
  for (const tag of tags) {
    let key = tag.key;
    let value = tag.value;
    if (value === undefined) {
      const split = key.search(/[=:]/);
      if (split > 0) {
        value = key.slice(split + 1);
        key = key.slice(0, split);
      } else {
        const name = cleanName(key);
        if (name === "") {
          notes.push({ key: "discovery.note_tag_dropped", params: { tag: q(tag.key) } });
          continue;
        }
        if (name !== key) {
          notes.push({
            key: "discovery.note_tag_renamed",
            params: { tag: q(tag.key), label: `tag/${name}` },
          });
        }
        set(labels, notes, `tag/${name}`, "");
        continue;
      }
    }
    const cleanKey = labelKey(key);
    if (cleanKey === "") {
      notes.push({ key: "discovery.note_tag_dropped", params: { tag: q(tag.key) } });
      continue;
    }
    const cleanValue = validValue(value) ? value : cleanName(value);
    if (cleanKey !== key || cleanValue !== value) {
      notes.push({
        key: "discovery.note_tag_renamed",
        params: { tag: q(`${key}=${value}`), label: `${cleanKey}=${cleanValue}` },
      });
    }
    set(labels, notes, cleanKey, cleanValue);
  }
  return { labels, notes };
}

function set(labels: Record<string, string>, notes: Note[], key: string, value: string) {
  if (Object.hasOwn(labels, key) && labels[key] !== value) {
    notes.push({
      key: "discovery.note_label_replaced",
      params: { label: key, old: q(labels[key]), value: q(value) },
    });
  }
  labels[key] = value;
}

function labelKey(key: string): string {
  try {
    checkLabelKey(key);
    return key;
  } catch {
    // cleaned below
  }
  const slash = key.lastIndexOf("/");
  if (slash > 0) {
    const prefix = key.slice(0, slash).toLowerCase();
    const name = cleanName(key.slice(slash + 1));
    if (name !== "" && prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix)) {
      return `${prefix}/${name}`;
    }
  }
  return cleanName(key);
}

function validValue(value: string): boolean {
  try {
    checkLabelValue("v", value);
    return true;
  } catch {
    return false;
  }
}

/** Letters, digits, '-', '_', '.'; alphanumeric at both ends; at most 63 characters. */
export function cleanName(text: string, max = LABEL_NAME_MAX): string {
  const replaced = text.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^[^A-Za-z0-9]+/, "");
  return replaced.slice(0, max).replace(/[^A-Za-z0-9]+$/, "");
}

/** Untrusted text as shown: JSON-quoted, so control characters stay visible. */
function q(text: string): string {
  return JSON.stringify(text);
}
