/**
 * The message catalog: every user-facing string lives in configs/messages.toml (embedded,
 * compiled into _embedded_configs.ts so no TOML is parsed at start-up) and may be
 * overridden by messages.toml in the config directories. Templates use {name}
 * placeholders; a missing parameter is a bug and shows as {name}.
 */
import { MESSAGE_TABLES } from "./_embedded_configs.ts";
import { type MessageParams, ProvctlError } from "../core/errors.ts";
import { escapeControl, escapeControlLines } from "../core/terminal_text.ts";

type Tree = { [key: string]: string | Tree };

/**
 * A catalog of flat dotted keys grouped by top-level table, each table the JSON text of
 * { dotted key: template } (the compiled embedded messages): a table is parsed the first
 * time one of its keys is looked up.
 */
export class FlatCatalog {
  readonly #tables: Readonly<Record<string, string>>;
  readonly #parsed = new Map<string, Readonly<Record<string, string>>>();
  #all?: ReadonlyMap<string, string>;

  constructor(tables: Readonly<Record<string, string>>) {
    this.#tables = tables;
  }

  #table(name: string): Readonly<Record<string, string>> | undefined {
    if (!Object.hasOwn(this.#tables, name)) return undefined;
    let entries = this.#parsed.get(name);
    if (!entries) {
      entries = JSON.parse(this.#tables[name]) as Record<string, string>;
      this.#parsed.set(name, entries);
    }
    return entries;
  }

  get(key: string): string | undefined {
    const entries = this.#table(key.split(".", 1)[0]);
    return entries && Object.hasOwn(entries, key) ? entries[key] : undefined;
  }

  all(): ReadonlyMap<string, string> {
    this.#all ??= new Map(
      Object.keys(this.#tables).flatMap((name) => Object.entries(this.#table(name)!)),
    );
    return this.#all;
  }
}

export type MessageLayer = Tree | FlatCatalog;

export class Messages {
  /** Later layers win. */
  readonly #layers: { flat?: Map<string, string>; catalog?: FlatCatalog }[] = [];

  constructor(...layers: MessageLayer[]) {
    for (const layer of layers) {
      if (layer instanceof FlatCatalog) this.#layers.push({ catalog: layer });
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
      const value = layer.flat ? layer.flat.get(key) : layer.catalog!.get(key);
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
      for (const key of (layer.flat ?? layer.catalog!.all()).keys()) keys.add(key);
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

let embeddedCatalog: FlatCatalog | undefined;
/** The embedded catalog (shared). */
export function embeddedMessages(): FlatCatalog {
  embeddedCatalog ??= new FlatCatalog(MESSAGE_TABLES);
  return embeddedCatalog;
}
