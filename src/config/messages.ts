/**
 * The message catalog: every user-facing string lives in configs/messages.toml
 * (embedded) and may be overridden by messages.toml in the config directories.
 * Templates use {name} placeholders; a missing parameter is a bug and shows as {name}.
 *
 * The embedded catalog is parsed one [table] at a time, on first use: a command prints
 * a handful of messages, and parsing the whole file would cost a noticeable part of
 * provctl's start-up.
 */
import { parse } from "smol-toml";
import embedded from "../../configs/messages.toml" with { type: "text" };
import { type MessageParams, ProvctlError } from "../core/errors.ts";
import { escapeControl, escapeControlLines } from "../core/terminal_text.ts";

type Tree = { [key: string]: string | Tree };

/** A TOML catalog split at its top-level [table] headers, each parsed when first needed. */
export class SectionedCatalog {
  readonly #text: string;
  readonly #sections = new Map<string, string>();
  readonly #parsed = new Set<string>();
  readonly #flat = new Map<string, string>();
  #complete = false;

  constructor(text: string) {
    this.#text = text;
    // A header is a line "[name]" (optionally followed by a comment).
    const header = /^\[([A-Za-z0-9_.-]+)\][ \t]*(?:#.*)?$/gm;
    let name = "";
    let start = 0;
    for (const match of text.matchAll(header)) {
      this.#append(name, text.slice(start, match.index));
      name = match[1];
      start = match.index;
    }
    this.#append(name, text.slice(start));
  }

  #append(name: string, chunk: string) {
    this.#sections.set(name, (this.#sections.get(name) ?? "") + chunk);
  }

  get(key: string): string | undefined {
    const hit = this.#flat.get(key);
    if (hit !== undefined || this.#complete) return hit;
    for (let dot = key.lastIndexOf("."); dot > 0; dot = key.lastIndexOf(".", dot - 1)) {
      const section = key.slice(0, dot);
      if (this.#sections.has(section) && !this.#parsed.has(section)) {
        this.#parsed.add(section);
        flatten(parse(this.#sections.get(section)!) as Tree, "", this.#flat);
        const found = this.#flat.get(key);
        if (found !== undefined) return found;
      }
    }
    // Not where its name says (e.g. a dotted key): parse everything once.
    return this.all().get(key);
  }

  all(): ReadonlyMap<string, string> {
    if (!this.#complete) {
      flatten(parse(this.#text) as Tree, "", this.#flat);
      this.#complete = true;
    }
    return this.#flat;
  }
}

export type MessageLayer = Tree | SectionedCatalog;

export class Messages {
  /** Later layers win. */
  readonly #layers: { flat?: Map<string, string>; lazy?: SectionedCatalog }[] = [];

  constructor(...layers: MessageLayer[]) {
    for (const layer of layers) {
      if (layer instanceof SectionedCatalog) this.#layers.push({ lazy: layer });
      else {
        const flat = new Map<string, string>();
        flatten(layer, "", flat);
        this.#layers.push({ flat });
      }
    }
  }

  #lookup(key: string): string | undefined {
    for (let i = this.#layers.length - 1; i >= 0; i--) {
      const layer = this.#layers[i];
      const value = layer.flat ? layer.flat.get(key) : layer.lazy!.get(key);
      if (value !== undefined) return value;
    }
    return undefined;
  }

  has(key: string): boolean {
    return this.#lookup(key) !== undefined;
  }

  keys(): string[] {
    const keys = new Set<string>();
    for (const layer of this.#layers) {
      for (const key of (layer.flat ?? layer.lazy!.all()).keys()) keys.add(key);
    }
    return [...keys];
  }

  /** The template for `key`; an unknown key is a bug in provctl. */
  template(key: string): string {
    const text = this.#lookup(key);
    if (text === undefined) {
      throw new ProvctlError("Internal", "errors.internal", {
        params: { detail: `missing message ${key}` },
      });
    }
    return text;
  }

  format(key: string, params: MessageParams = {}): string {
    return fill(this.template(key), params);
  }
}

/**
 * Fills a template. Parameter values are untrusted text (names, labels, remote output):
 * their control characters are shown as visible escapes, so a value can neither split a
 * one-line message nor send escape sequences to the terminal. A placeholder that stands
 * on a line of its own at the end of a template (a log tail, journal lines) keeps the
 * value's line breaks; each of its lines is escaped the same way.
 */
export function fill(template: string, params: MessageParams): string {
  return template.replace(
    /\{([a-z_][a-z0-9_]*)\}/g,
    (whole, name: string, offset: number) => {
      const value = params[name];
      if (value === undefined) return whole;
      const text = String(value);
      const block = template[offset - 1] === "\n" && offset + whole.length === template.length;
      return block ? escapeControlLines(text) : escapeControl(text);
    },
  );
}

function flatten(tree: Tree, prefix: string, out: Map<string, string>): void {
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof value === "string") out.set(path, value);
    else if (value && typeof value === "object") flatten(value as Tree, path, out);
  }
}

let embeddedCatalog: SectionedCatalog | undefined;
/** The embedded catalog (shared, parsed lazily). */
export function embeddedMessages(): SectionedCatalog {
  embeddedCatalog ??= new SectionedCatalog(embedded);
  return embeddedCatalog;
}

/** The embedded catalog's text, for tests. */
export function embeddedMessagesText(): string {
  return embedded;
}
