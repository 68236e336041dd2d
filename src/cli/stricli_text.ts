/**
 * Stricli's built-in text (help headers, parse errors) taken from messages.toml, so
 * every line provctl prints is in the catalog. Parse errors are usage errors: one line
 * and a pointer to --help.
 */
import { type ApplicationText, formatMessageForArgumentScannerError, text_en } from "@stricli/core";
import { helpMessages } from "./help_text.ts";

/** Stricli names flags in camelCase internally; users type --kebab-case. */
const flag = (name: string) =>
  `--${name.replace(/^-+/, "").replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)}`;
/** Positional placeholders are upper case (NAME, SHELL); anything else is a flag. */
const parameter = (name: string) => (name === name.toUpperCase() ? name : flag(name));

export function applicationText(): ApplicationText {
  const m = helpMessages();
  const t = (key: string, params: Record<string, string | number> = {}) =>
    m.format(`usage.${key}`, params);
  const usageLine = (text: string) =>
    `${m.format("cli.error_prefix")} ${text}\n${m.format("cli.hint_prefix")} ${t("see_help")}`;
  return {
    ...text_en,
    keywords: {
      default: t("kw_default"),
      separator: t("kw_separator"),
    },
    headers: {
      usage: t("hdr_usage"),
      aliases: t("hdr_aliases"),
      commands: t("hdr_commands"),
      flags: t("hdr_flags"),
      arguments: t("hdr_arguments"),
    },
    briefs: {
      help: t("brief_help"),
      helpAll: t("brief_help_all"),
      version: t("brief_version"),
      argumentEscapeSequence: t("brief_escape"),
    },
    noCommandRegisteredForInput: ({ input, corrections }) =>
      usageLine(
        corrections.length > 0
          ? t("unknown_command_suggest", {
            input,
            suggestion: corrections.map((c) => c.replaceAll("`", "")).join(", "),
          })
          : t("unknown_command", { input }),
      ),
    exceptionWhileParsingArguments: (exc: unknown) => {
      if (!(exc instanceof Error)) return usageLine(String(exc));
      // deno-lint-ignore no-explicit-any
      const e = exc as any;
      const text = formatMessageForArgumentScannerError(e, {
        FlagNotFoundError: (x) =>
          x.corrections.length > 0
            ? t("unknown_flag_suggest", {
              flag: flag(x.input),
              suggestion: x.corrections.map(flag).join(", "),
            })
            : t("unknown_flag", { flag: flag(x.input) }),
        AliasNotFoundError: (x) => t("unknown_alias", { flag: `-${x.input}` }),
        ArgumentParseError: (x) =>
          t("bad_value", {
            name: parameter(x.externalFlagNameOrPlaceholder),
            value: x.input,
            reason: x.exception instanceof Error ? x.exception.message : String(x.exception),
          }),
        EnumValidationError: (x) =>
          t("bad_choice", {
            name: flag(x.externalFlagName),
            value: x.input,
            allowed: x.values.join(", "),
          }),
        UnsatisfiedFlagError: (x) => t("missing_flag_value", { name: flag(x.externalFlagName) }),
        UnexpectedPositionalError: (x) =>
          t("unexpected_argument", { value: x.input, count: x.expectedCount }),
        UnsatisfiedPositionalError: (x) => t("missing_argument", { name: x.placeholder }),
        InvalidNegatedFlagSyntaxError: (x) =>
          t("bad_negation", { name: flag(x.externalFlagName), value: x.valueText }),
        UnexpectedFlagError: (x) => t("repeated_flag", { name: flag(x.externalFlagName) }),
      });
      return usageLine(text);
    },
  };
}
