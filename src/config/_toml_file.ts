/** Parses a TOML config file into a tree plus a locator for `file:line:col` of its keys. */
import { parse, TomlError } from "smol-toml";
import { ProvctlError } from "../core/errors.ts";
import { type KeyPositions, keyPositions, type Position } from "./_toml_position.ts";
export { readConfigText } from "./_config_text.ts";

export type TomlTree = Record<string, unknown>;
export type KeyPath = readonly (string | number)[];

export interface TomlDocument {
  readonly tree: TomlTree;
  /** The file name shown in errors and origins. */
  readonly file: string;
  /** `file:line:col` of the key at `path` (or `file` if it cannot be found). */
  locate(path: KeyPath): string;
  /** `file:line` of the key at `path`, for origins. */
  origin(path: KeyPath): string;
}

/**
 * Parses `text`; invalid TOML is an InvalidConfig error with the file, line, column and
 * smol-toml's reason. Integers come back as bigint so they can be told apart from floats.
 */
export function parseTomlDocument(text: string, file: string): TomlDocument {
  let tree: TomlTree;
  try {
    tree = parse(text, { integersAsBigInt: true, unsafeKeyBehaviour: "throw" }) as TomlTree;
  } catch (e) {
    if (e instanceof TomlError) {
      throw new ProvctlError("InvalidConfig", "config.toml_invalid", {
        params: { file, line: e.line, column: e.column, reason: tomlReason(e) },
        cause: e,
      });
    }
    throw e;
  }
  let positions: KeyPositions | undefined;
  const at = (path: KeyPath): Position | undefined => {
    positions ??= keyPositions(text);
    return positions.of(path);
  };
  return {
    tree,
    file,
    locate(path) {
      const p = at(path);
      return p ? `${file}:${p.line}:${p.column}` : file;
    },
    origin(path) {
      const p = at(path);
      return p ? `${file}:${p.line}` : file;
    },
  };
}

/** smol-toml's message is "Invalid TOML document: REASON\n\nCODEBLOCK"; keep REASON. */
function tomlReason(e: TomlError): string {
  return e.message.replace(/^Invalid TOML document: /, "").split("\n\n")[0].trim();
}
