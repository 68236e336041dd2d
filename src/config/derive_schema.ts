/**
 * deriveSchema: the schema of a defaults.toml text. Used by scripts/gen_configs.ts to
 * compile the embedded defaults (provctl itself never parses them at run time) and by
 * tests.
 */
import { ProvctlError } from "../core/errors.ts";
import { coerce, isTable, tomlTypeOf, type ValueType } from "./_check.ts";
import { parseTomlDocument } from "./_toml_file.ts";
import { ConfigSchema, type KeyConstraint, type KeySpec } from "./schema.ts";

/**
 * Derives a schema from a defaults.toml text: tables become tables, values become keys
 * typed by their value. A value of another type (date, mixed array) is a bug in the
 * file, reported as Internal; so is a default that breaks its own rules.
 */
export function deriveSchema(
  text: string,
  options: { file?: string; constraints?: Readonly<Record<string, KeyConstraint>> } = {},
): ConfigSchema {
  const file = options.file ?? "defaults.toml";
  const doc = parseTomlDocument(text, file);
  const keys = new Map<string, KeySpec>();
  const tables = new Set<string>();
  const bug = (detail: string) =>
    new ProvctlError("Internal", "errors.internal", { params: { detail } });
  const walk = (tree: Record<string, unknown>, prefix: string[]) => {
    for (const [name, raw] of Object.entries(tree)) {
      const path = [...prefix, name];
      const key = path.join(".");
      if (name.includes(".")) {
        throw bug(`${doc.locate(path)}: key ${JSON.stringify(name)} contains a dot`);
      }
      if (isTable(raw)) {
        tables.add(key);
        walk(raw, path);
        continue;
      }
      const type = typeOfDefault(raw);
      if (!type) throw bug(`${doc.locate(path)}: ${key} has unsupported type ${tomlTypeOf(raw)}`);
      // The origin (file:line) is looked up only when someone asks: locating keys costs
      // a scan of the text, and start-up never needs it.
      keys.set(key, {
        key,
        type,
        default: coerce(raw, type)!,
        get origin() {
          return doc.origin(path);
        },
      });
    }
  };
  walk(doc.tree, []);
  const schema = new ConfigSchema(keys, tables, options.constraints);
  for (const spec of keys.values()) {
    try {
      schema.check(spec.key, spec.default, { location: file });
    } catch (e) {
      throw bug(
        `${spec.origin}: the default of ${spec.key} breaks its own rules: ${(e as Error).message}`,
      );
    }
  }
  return schema;
}

function typeOfDefault(value: unknown): ValueType | undefined {
  if (typeof value === "bigint") return "integer";
  if (typeof value === "number") return "float";
  if (typeof value === "string") return "string";
  if (typeof value === "boolean") return "boolean";
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return "string[]";
  return undefined;
}
