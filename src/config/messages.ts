/**
 * The message catalog: every user-facing string lives in configs/messages.toml
 * (embedded) and may be overridden by messages.toml in the config directories.
 * Templates use {name} placeholders; a missing parameter is a bug and shows as {name}.
 */
import { parse } from "smol-toml";
import embedded from "../../configs/messages.toml" with { type: "text" };
import { type MessageParams, ProvctlError } from "../core/errors.ts";

type Tree = { [key: string]: string | Tree };

export class Messages {
  readonly #flat = new Map<string, string>();

  constructor(...layers: Tree[]) {
    for (const layer of layers) flatten(layer, "", this.#flat);
  }

  has(key: string): boolean {
    return this.#flat.has(key);
  }

  keys(): string[] {
    return [...this.#flat.keys()];
  }

  /** The template for `key`; an unknown key is a bug in provctl. */
  template(key: string): string {
    const text = this.#flat.get(key);
    if (text === undefined) {
      throw new ProvctlError("Internal", "errors.internal", { params: { detail: `missing message ${key}` } });
    }
    return text;
  }

  format(key: string, params: MessageParams = {}): string {
    return fill(this.template(key), params);
  }
}

export function fill(template: string, params: MessageParams): string {
  return template.replace(/\{([a-z_][a-z0-9_]*)\}/g, (whole, name: string) => {
    const value = params[name];
    return value === undefined ? whole : String(value);
  });
}

function flatten(tree: Tree, prefix: string, out: Map<string, string>): void {
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof value === "string") out.set(path, value);
    else if (value && typeof value === "object") flatten(value as Tree, path, out);
  }
}

let embeddedTree: Tree | undefined;
/** The embedded catalog parsed once. */
export function embeddedMessages(): Tree {
  embeddedTree ??= parse(embedded) as Tree;
  return embeddedTree;
}
