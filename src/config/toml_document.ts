/**
 * What other layers use to read their own TOML files (machines.toml, deployments in
 * provctl.toml, cloud sources): parsing with key positions for file:line:col errors, the
 * value checks and "did you mean" of the config loader, and path helpers. The modules
 * behind it stay private to config/.
 */
export {
  coerce,
  type ConfigValue,
  displayKey,
  invalid,
  isTable,
  MAX_INTEGER,
  nearest,
  unknownKey,
  type ValueType,
  wrongType,
} from "./_check.ts";
export { dirname, join, resolve } from "./_path.ts";
export { parseTomlDocument, readConfigText, type TomlDocument } from "./_toml_file.ts";
export { keyPositions } from "./_toml_position.ts";
