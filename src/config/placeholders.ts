/**
 * Path templates: `{home}/x/{service_name}.pid`. A placeholder is a name in braces;
 * an unknown one, or a brace that does not close, is an InvalidConfig error naming the
 * allowed placeholders, never a silent literal.
 */
import { ProvctlError } from "../core/errors.ts";

/** Every placeholder a configured path may use. */
export const PATH_PLACEHOLDERS = [
  "home",
  "tmp",
  "xdg_state_home",
  "state_dir",
  "service_name",
] as const;

/** Values for placeholders; an undefined value means "known but not available here". */
export type TemplateVars = Readonly<Record<string, string | undefined>>;

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** The placeholder names in `template`, and whether a brace is left unmatched. */
export function scanTemplate(template: string): { names: string[]; strayBrace: boolean } {
  const names = [...template.matchAll(PLACEHOLDER)].map((m) => m[1]);
  const strayBrace = /[{}]/.test(template.replace(PLACEHOLDER, ""));
  return { names, strayBrace };
}

/** Formats placeholder names for messages: "{home}, {tmp}". */
export function listPlaceholders(names: readonly string[]): string {
  return names.map((n) => `{${n}}`).join(", ");
}

/**
 * Replaces each `{name}` in `template` with `vars[name]`. The keys of `vars` are the
 * allowed placeholders: any other name is an error, and so is an allowed one whose
 * value is undefined.
 */
export function expandTemplate(template: string, vars: TemplateVars): string {
  const allowed = Object.keys(vars);
  if (scanTemplate(template).strayBrace) {
    throw new ProvctlError("InvalidConfig", "config.template_brace", {
      params: { template, example: "{home}" },
    });
  }
  return template.replace(PLACEHOLDER, (_whole, name: string) => {
    if (!Object.hasOwn(vars, name)) {
      throw new ProvctlError("InvalidConfig", "config.unknown_placeholder", {
        params: { placeholder: `{${name}}`, template, allowed: listPlaceholders(allowed) },
      });
    }
    const value = vars[name];
    if (value === undefined) {
      throw new ProvctlError("InvalidConfig", "config.placeholder_unset", {
        params: { placeholder: `{${name}}`, template },
      });
    }
    return value;
  });
}

/**
 * The placeholders that come from the environment: {home} ($HOME), {tmp} ($TMPDIR or
 * /tmp), {xdg_state_home} ($XDG_STATE_HOME or {home}/.local/state). XDG variables
 * that are not absolute paths are ignored, as the XDG spec says.
 */
export function environmentVars(env: Readonly<Record<string, string>>): {
  home: string | undefined;
  tmp: string;
  xdg_state_home: string | undefined;
} {
  const home = nonEmpty(env.HOME) ?? nonEmpty(env.USERPROFILE);
  const tmp = nonEmpty(env.TMPDIR) ?? nonEmpty(env.TEMP) ?? nonEmpty(env.TMP) ?? "/tmp";
  const xdgState = absolute(env.XDG_STATE_HOME);
  return {
    home,
    tmp: tmp.length > 1 ? tmp.replace(/\/+$/, "") : tmp,
    xdg_state_home: xdgState ?? (home === undefined ? undefined : `${home}/.local/state`),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

export function absolute(value: string | undefined): string | undefined {
  return value && (value.startsWith("/") || /^[A-Za-z]:[\\/]/.test(value)) ? value : undefined;
}
