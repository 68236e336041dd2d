/**
 * Which machines a command applies to, as with kubectl: `--all`, names and globs
 * (`web-*`, `db-?`), a label selector (`-l role=web,env in (prod,staging)`),
 * `--profile prod` and `--limit N`, all combined with AND; the result keeps inventory
 * order. Asking for something that is not there is an error, never an empty fleet.
 *
 * Label selector grammar (kubectl's equality- and set-based requirements):
 *
 *   selector    = requirement *( "," requirement )
 *   requirement = key [ ( "=" | "==" | "!=" ) value ]      ; `key` alone: has the label
 *               / "!" key                                 ; lacks the label
 *               / key ( "in" | "notin" ) "(" value *( "," value ) ")"
 *
 * Whitespace is allowed between tokens; keys and values follow the label rules of
 * machines.toml. `!=` and `notin` also match machines without the label.
 */
import { isProvctlError, ProvctlError } from "../core/errors.ts";
import { nearest } from "../config/toml_document.ts";
import { embeddedMessages, Messages } from "../config/messages.ts";
import type { Inventory, MachineConfig } from "./inventory.ts";
import { checkLabelKey, checkLabelValue } from "./_labels.ts";
import { checkNamePattern, globMatch, isGlob, shown } from "./_names.ts";

export type LabelRequirement =
  | { readonly op: "=" | "!="; readonly key: string; readonly value: string }
  | { readonly op: "in" | "notin"; readonly key: string; readonly values: readonly string[] }
  | { readonly op: "exists" | "!exists"; readonly key: string };

export interface LabelSelector {
  /** As the user typed it. */
  readonly text: string;
  /** All must hold. */
  readonly requirements: readonly LabelRequirement[];
}

export interface SelectOptions {
  /** --all: every machine (other filters still apply). */
  all?: boolean;
  /** Machine names and globs; a machine matching any of them is in. */
  names?: readonly string[];
  /** -l: a selector text or one parsed by parseLabelSelector. */
  labels?: string | LabelSelector;
  /** --profile: machines whose profile is this one. */
  profile?: string;
  /** --limit N: the first N machines (inventory order) of the result. */
  limit?: number;
  /** For the reasons nested in selector errors (default: the embedded catalog). */
  messages?: Messages;
}

export const SELECTOR_MAX_LENGTH = 4096;

const KEY_CHAR = /[A-Za-z0-9_.\-/]/;
const VALUE_CHAR = /[A-Za-z0-9_.-]/;

/** Parses a label selector; errors are InvalidArgument with the 1-based column. */
export function parseLabelSelector(
  text: string,
  options: { messages?: Messages } = {},
): LabelSelector {
  return new SelectorParser(text, options.messages ?? new Messages(embeddedMessages())).parse();
}

/** True if `labels` satisfy every requirement of `selector`. */
export function matchesLabels(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>>,
): boolean {
  return selector.requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const value = has ? labels[r.key] : undefined;
    switch (r.op) {
      case "=":
        return has && value === r.value;
      case "!=":
        return !has || value !== r.value;
      case "in":
        return has && r.values.includes(value!);
      case "notin":
        return !has || !r.values.includes(value!);
      case "exists":
        return has;
      case "!exists":
        return !has;
    }
  });
}

/** The machines `options` select, in inventory order (see the module comment). */
export function selectMachines(inventory: Inventory, options: SelectOptions): MachineConfig[] {
  const names = options.names ?? [];
  const messages = options.messages ?? new Messages(embeddedMessages());
  if (options.limit !== undefined && !(Number.isSafeInteger(options.limit) && options.limit >= 1)) {
    throw new ProvctlError("InvalidArgument", "inventory.limit_invalid", {
      params: { value: String(options.limit) },
    });
  }
  if (options.all && names.length > 0) {
    throw new ProvctlError("Usage", "inventory.all_with_names", {
      params: { names: names.join(" ") },
    });
  }
  if (
    !options.all && names.length === 0 && options.labels === undefined &&
    options.profile === undefined
  ) {
    throw new ProvctlError("Usage", "inventory.nothing_asked");
  }
  // Check what was asked before looking at the inventory, so a typo is reported as such.
  for (const pattern of names) checkNamePattern(pattern);
  const selector = typeof options.labels === "string"
    ? parseLabelSelector(options.labels, { messages })
    : options.labels;

  const file = inventory.file;
  if (file === undefined) {
    throw new ProvctlError("NotFound", "inventory.none_found", {
      params: { searched: inventory.searched.join(", ") },
      hint: "inventory.hint_create",
    });
  }
  const machines = inventory.machines;
  if (machines.length === 0) {
    throw new ProvctlError("NotFound", "inventory.empty_inventory", {
      params: { file },
      hint: "inventory.hint_create",
    });
  }
  if (options.profile !== undefined && !inventory.profiles.has(options.profile)) {
    const defined = [...inventory.profiles.keys()];
    const suggestion = nearest(options.profile, defined);
    throw new ProvctlError(
      "NotFound",
      suggestion
        ? "inventory.unknown_selected_profile_suggest"
        : "inventory.unknown_selected_profile",
      {
        params: {
          profile: shown(options.profile),
          file,
          suggestion: suggestion === undefined ? undefined : shown(suggestion),
          defined: defined.length === 0 ? "none" : defined.join(", "),
        },
        hint: "inventory.hint_list",
      },
    );
  }

  const named = new Set<MachineConfig>();
  for (const pattern of names) {
    if (isGlob(pattern)) {
      const hits = machines.filter((m) => globMatch(pattern, m.name));
      if (hits.length === 0) {
        throw new ProvctlError("NotFound", "inventory.glob_no_match", {
          params: { pattern: shown(pattern), file },
          hint: "inventory.hint_list",
        });
      }
      for (const m of hits) named.add(m);
      continue;
    }
    // Names are unique regardless of case (the loader ensures it).
    const hit = machines.find((m) => m.name.toLowerCase() === pattern.toLowerCase());
    if (!hit) {
      const suggestion = nearest(pattern, machines.map((m) => m.name));
      throw new ProvctlError(
        "NotFound",
        suggestion ? "inventory.unknown_machine_suggest" : "inventory.unknown_machine",
        {
          params: {
            name: shown(pattern),
            file,
            suggestion: suggestion === undefined ? undefined : shown(suggestion),
          },
          hint: "inventory.hint_list",
        },
      );
    }
    named.add(hit);
  }

  const selected = machines.filter((m) =>
    (names.length === 0 || named.has(m)) &&
    (selector === undefined || matchesLabels(selector, m.labels)) &&
    (options.profile === undefined || m.profile === options.profile)
  );
  if (selected.length === 0) {
    const asked = [
      ...(options.all ? ["--all"] : []),
      ...names,
      ...(selector ? [`-l ${shown(selector.text)}`] : []),
      ...(options.profile !== undefined ? [`--profile ${shown(options.profile)}`] : []),
    ].join(" ");
    throw new ProvctlError("NotFound", "inventory.no_match", {
      params: { file, asked, count: machines.length },
      hint: "inventory.hint_list",
    });
  }
  return options.limit === undefined ? selected : selected.slice(0, options.limit);
}

class SelectorParser {
  readonly #text: string;
  readonly #messages: Messages;
  #pos = 0;

  constructor(text: string, messages: Messages) {
    this.#text = text;
    this.#messages = messages;
  }

  parse(): LabelSelector {
    const t = this.#text;
    if (t.length > SELECTOR_MAX_LENGTH) {
      throw this.#error(SELECTOR_MAX_LENGTH, "selector_too_long", {
        length: t.length,
        max: SELECTOR_MAX_LENGTH,
      });
    }
    this.#skipSpace();
    if (this.#pos >= t.length) throw this.#error(this.#pos, "selector_empty");
    const requirements: LabelRequirement[] = [];
    for (;;) {
      requirements.push(this.#requirement());
      this.#skipSpace();
      if (this.#pos >= t.length) break;
      if (t[this.#pos] !== ",") {
        throw this.#error(this.#pos, "selector_unexpected", { found: this.#found() });
      }
      this.#pos++;
    }
    return Object.freeze({ text: t, requirements: Object.freeze(requirements) });
  }

  #requirement(): LabelRequirement {
    const t = this.#text;
    this.#skipSpace();
    if (t[this.#pos] === "!" && t[this.#pos + 1] !== "=") {
      this.#pos++;
      this.#skipSpace();
      return { op: "!exists", key: this.#key() };
    }
    const key = this.#key();
    this.#skipSpace();
    if (this.#pos >= t.length || t[this.#pos] === ",") return { op: "exists", key };
    if (t.startsWith("==", this.#pos) || t.startsWith("!=", this.#pos)) {
      const op = t[this.#pos] === "!" ? "!=" : "=";
      this.#pos += 2;
      return { op, key, value: this.#value(key, true) };
    }
    if (t[this.#pos] === "=") {
      this.#pos++;
      return { op: "=", key, value: this.#value(key, true) };
    }
    const word = this.#word();
    if (word === "in" || word === "notin") {
      this.#pos += word.length;
      return { op: word, key, values: this.#list(key, word) };
    }
    throw this.#error(this.#pos, "selector_expected_operator", {
      label: shown(key),
      found: this.#found(),
    });
  }

  #key(): string {
    const start = this.#pos;
    const key = this.#run(KEY_CHAR);
    if (key === "") throw this.#error(start, "selector_expected_key", { found: this.#found() });
    this.#checkAt(start, () => checkLabelKey(key));
    return key;
  }

  /** A value; with `mayBeEmpty`, `key=` followed by ',' or the end means "". */
  #value(key: string, mayBeEmpty: boolean): string {
    this.#skipSpace();
    const start = this.#pos;
    const value = this.#run(VALUE_CHAR);
    if (value === "") {
      const next = this.#text[this.#pos];
      const atEnd = next === undefined || next === ",";
      if (!(mayBeEmpty && atEnd)) {
        throw this.#error(start, "selector_expected_value", { found: this.#found() });
      }
    }
    this.#checkAt(start, () => checkLabelValue(key, value));
    return value;
  }

  #list(key: string, operator: "in" | "notin"): string[] {
    const t = this.#text;
    this.#skipSpace();
    if (t[this.#pos] !== "(") {
      throw this.#error(this.#pos, "selector_expected_paren", { operator, found: this.#found() });
    }
    this.#pos++;
    this.#skipSpace();
    if (t[this.#pos] === ")") throw this.#error(this.#pos, "selector_empty_list", { operator });
    const values: string[] = [];
    for (;;) {
      values.push(this.#value(key, false));
      this.#skipSpace();
      const c = t[this.#pos];
      this.#pos++;
      if (c === ")") return values;
      if (c !== ",") {
        this.#pos--;
        throw this.#error(this.#pos, "selector_expected_list", { found: this.#found() });
      }
    }
  }

  /** The identifier at the cursor (for in/notin), without consuming it. */
  #word(): string {
    const match = /^[A-Za-z]+/.exec(this.#text.slice(this.#pos, this.#pos + 6));
    return match ? match[0] : "";
  }

  #run(chars: RegExp): string {
    const start = this.#pos;
    while (this.#pos < this.#text.length && chars.test(this.#text[this.#pos])) this.#pos++;
    return this.#text.slice(start, this.#pos);
  }

  #skipSpace(): void {
    while (this.#text[this.#pos] === " " || this.#text[this.#pos] === "\t") this.#pos++;
  }

  /** What is at the cursor, for "found X": a word, one character, or the end. */
  #found(): string {
    if (this.#pos >= this.#text.length) return this.#messages.format("inventory.selector_end");
    const rest = this.#text.slice(this.#pos);
    const word = /^[A-Za-z0-9_.\-/]+/.exec(rest);
    return shown(word ? word[0].slice(0, 40) : String.fromCodePoint(rest.codePointAt(0)!));
  }

  #checkAt(start: number, check: () => void): void {
    try {
      check();
    } catch (e) {
      if (!isProvctlError(e)) throw e;
      throw this.#error(start, e.key.slice("inventory.".length), e.params);
    }
  }

  #error(
    pos: number,
    problem: string,
    params: Record<string, string | number | boolean | undefined> = {},
  ): ProvctlError {
    const key = `inventory.${problem}`;
    return new ProvctlError("InvalidArgument", "inventory.selector_invalid", {
      params: {
        selector: shown(this.#text.length > 200 ? `${this.#text.slice(0, 200)}...` : this.#text),
        column: pos + 1,
        problem,
        reason: this.#messages.format(key, params),
      },
      hint: "inventory.selector_hint",
    });
  }
}
