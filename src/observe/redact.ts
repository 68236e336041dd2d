/**
 * Redactor: hides secrets in commands before they reach the audit log or any output.
 *
 * What counts as a secret value:
 * - the value of a `NAME=value` assignment (env or query string) whose name looks secret;
 * - the value of a `--name=value`, `--name value`, `-name value` flag whose name looks secret;
 * - the password of a URL's `user:password@`;
 * - the value of a header `Name: value` whose name looks secret (`Authorization: Bearer x`);
 * - a JSON member `"name": "value"` whose name looks secret;
 * - a PEM private key block;
 * - options of well-known programs that carry a password without saying so in their
 *   name: `curl -u/--user user:PASS` (the part after the colon), `mysql -pPASS` (and the
 *   other MySQL/MariaDB clients), `sshpass -p PASS`, `redis-cli -a PASS`,
 *   `docker|podman login -p PASS` — in argv and inside shell text;
 * - tokens recognisable by their form: AWS access key ids (AKIA..., ASIA...), GitHub
 *   (ghp_..., github_pat_...), Slack (xoxb-...) and Google (AIza...) tokens, JWTs;
 * - whatever the configured extra patterns match.
 *
 * A name looks secret when one of its words (split at `_`, `-`, `.` and camelCase) is
 * password, passwd, passphrase, pass, secret, token, key, credential(s), creds, cookie,
 * auth/authorization/authn/..., or ends in password/secret/token/apikey/... (DBPASSWORD).
 * Whole words only, so `--keyboard`, `monkey=1`, `PASSIVE=1`, `GIT_AUTHOR_NAME` and
 * `TOKENIZER=x` stay readable; names whose last word says the value is a reference
 * (`--password-file`, `SSH_AUTH_SOCK`, `KEY_ID`, `PASSWORD_STORE_DIR`) stay too, and so
 * does `PWD` (the working directory). Over-redaction is preferred to leaking: a secret-
 * looking flag hides the next argument even when that flag takes no value.
 */
import { ProvctlError } from "../core/errors.ts";

/** What replaces every secret: constant, so the length is not revealed. */
export const MASK = "***";

export interface RedactorOptions {
  /**
   * Extra regular expressions (source text, as in defaults.toml `observe.redact_patterns`).
   * Without capture groups the whole match is hidden; with groups, only the groups.
   */
  readonly extraPatterns?: readonly (string | RegExp)[];
}

const EXACT_WORDS = new Set([
  "password",
  "passwd",
  "passphrase",
  "pass",
  "secret",
  "secrets",
  "token",
  "tokens",
  "key",
  "apikey",
  "credential",
  "credentials",
  "creds",
  "cookie",
  "auth",
  "authn",
  "authz",
]);
const SUFFIXES = [
  "password",
  "passwd",
  "passphrase",
  "secret",
  "token",
  "credential",
  "credentials",
  "apikey",
  "accesskey",
  "privatekey",
  "secretkey",
  "signingkey",
  "auth",
];
/** A last word that says the value names where the secret is, not the secret. */
const REFERENCE_WORDS = new Set([
  "file",
  "path",
  "dir",
  "env",
  "fd",
  "stdin",
  "sock",
  "socket",
  "id",
  "name",
  "prompt",
  "cmd",
  "command",
  "length",
  "len",
  "min",
  "max",
  "type",
  "policy",
  "url", // the URL itself is still scanned for user:password@
]);

function splitWords(name: string): string[] {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase().split(/[^a-z0-9]+/)
    .filter((w) => w !== "");
}

function secretWord(word: string, index: number, words: readonly string[]): boolean {
  if (word === "key" && words[index - 1] === "public") return false;
  if (EXACT_WORDS.has(word)) return true;
  // "pwd" alone is the shell's working directory; DB_PWD is a password.
  if (word === "pwd") return words.length > 1;
  if (word.startsWith("auth")) {
    // author, authority are not secrets; authorization, authtoken are.
    return !word.startsWith("author") || word.startsWith("authoriz");
  }
  return SUFFIXES.some((s) => word.length > s.length && word.endsWith(s));
}

/** True when a variable, flag, header or field named `name` probably holds a secret. */
export function isSecretName(name: string): boolean {
  const words = splitWords(name);
  if (words.length === 0) return false;
  if (words[0] === "no") return false; // --no-password: a switch
  if (words.length > 1 && REFERENCE_WORDS.has(words[words.length - 1])) return false;
  return words.some(secretWord);
}

// Names are bounded ({0,63}) so a long run of letters costs linear, not quadratic, time.
// Quoted ('...' or "...") or bare up to whitespace, a quote, & or ; (shell and query
// string separators).
const VALUE = `(?:'[^']*'|"(?:[^"\\\\]|\\\\.)*"|[^\\s'"&;]+)`;
const ASSIGNMENT = new RegExp(`(^|[^A-Za-z0-9_.-])([A-Za-z_][A-Za-z0-9_.-]{0,63})=(${VALUE})`, "g");
const FLAG = new RegExp(`(^|\\s)(--?[A-Za-z][A-Za-z0-9_.-]{0,63})(=|\\s+)(${VALUE})`, "g");
const URL_USERINFO = /([A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/[^\s:/@'"]*):([^\s@/'"]*)@/g;
const HEADER = /(^|[\s"'])([A-Za-z][A-Za-z0-9-]{0,63})[ \t]*:[ \t]*([^\n"']+)/g;
const JSON_MEMBER = /("([A-Za-z0-9_.-]{1,64})"\s*:\s*)("(?:[^"\\]|\\.)*"|[^\s,}\]]+)/g;
const PEM =
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g;
const BARE_FLAG = /^--?([A-Za-z][A-Za-z0-9_.-]*)$/;
const KNOWN_TOKENS = new RegExp(
  [
    "\\b(?:AKIA|ASIA)[0-9A-Z]{16}\\b",
    "\\bgh[pousr]_[A-Za-z0-9]{30,}",
    "\\bgithub_pat_[A-Za-z0-9_]{30,}",
    "\\bxox[abposr]-[A-Za-z0-9-]{10,}",
    "\\bAIza[0-9A-Za-z_-]{35}",
    "\\beyJ[A-Za-z0-9_-]{5,}\\.eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]{5,}",
  ].join("|"),
  "g",
);

/** Options of a program whose values are secrets although their names do not say so. */
interface ProgramRule {
  readonly programs: RegExp;
  /** Only when this word is among the arguments (a subcommand such as `login`). */
  readonly when?: string;
  /** `-p VALUE`, `-pVALUE`, `--opt=VALUE`: the value is a secret. */
  readonly value?: readonly string[];
  /** `-pVALUE` only (`-p` alone prompts, and the next word is something else). */
  readonly attached?: readonly string[];
  /** `-u user:PASS`: the part after the first colon is a secret. */
  readonly userinfo?: readonly string[];
}

const PROGRAM_RULES: readonly ProgramRule[] = [
  { programs: /^curl$/, userinfo: ["-u", "--user", "-U", "--proxy-user"] },
  {
    programs:
      /^(?:mysql|mariadb|mysqldump|mariadb-dump|mysqladmin|mysqlimport|mysqlcheck|mysqlshow|mysqlpump)$/,
    attached: ["-p"],
  },
  { programs: /^sshpass$/, value: ["-p"] },
  { programs: /^redis-cli$/, value: ["-a"] },
  { programs: /^(?:docker|podman|nerdctl|buildah)$/, when: "login", value: ["-p"] },
];

function ruleFor(program: string, args: readonly string[]): ProgramRule | undefined {
  const name = unquote(program).split("/").pop() ?? "";
  return PROGRAM_RULES.find((r) =>
    r.programs.test(name) && (r.when === undefined || args.some((a) => unquote(a) === r.when))
  );
}

function unquote(word: string): string {
  const q = word[0];
  return (q === "'" || q === '"') && word.endsWith(q) && word.length >= 2
    ? word.slice(1, -1)
    : word;
}

/** `user:PASS` with the password masked (nothing when there is no colon). */
function maskUserinfo(value: string): string {
  const q = value[0] === "'" || value[0] === '"' ? value[0] : "";
  const inner = q ? unquote(value) : value;
  const colon = inner.indexOf(":");
  return colon < 0 ? value : `${q}${inner.slice(0, colon + 1)}${MASK}${q}`;
}

/**
 * The words of one command (program first) with the rule's secrets masked. Words may be
 * shell-quoted (from text) or plain (argv); masking keeps the quotes.
 */
function applyRule(rule: ProgramRule, args: readonly string[]): string[] {
  const out = [...args];
  for (let i = 0; i < out.length; i++) {
    const word = unquote(out[i]);
    for (const opt of rule.value ?? []) {
      if (word === opt && i + 1 < out.length) out[i + 1] = maskValue(out[++i]);
      else if (word.startsWith(`${opt}=`)) out[i] = `${opt}=${MASK}`;
      else if (opt.length === 2 && word.startsWith(opt) && word.length > 2) {
        out[i] = `${opt}${MASK}`;
      }
    }
    for (const opt of rule.attached ?? []) {
      if (word.startsWith(opt) && word.length > opt.length && !word.startsWith("--")) {
        out[i] = `${opt}${MASK}`;
      }
    }
    for (const opt of rule.userinfo ?? []) {
      if (word === opt && i + 1 < out.length) out[i + 1] = maskUserinfo(out[++i]);
      else if (word.startsWith(`${opt}=`)) {
        out[i] = `${opt}=${maskUserinfo(word.slice(opt.length + 1))}`;
      } else if (opt.length === 2 && word.startsWith(opt) && word.length > 2) {
        out[i] = `${opt}${maskUserinfo(word.slice(2))}`;
      }
    }
  }
  return out;
}

/** A word of shell text: quoted or bare. */
const WORD = `(?:'[^']*'|"(?:[^"\\\\]|\\\\.)*"|[^\\s;&|()'"\\\`<>])+`;
/** A word that may be a program: at the start, or after a blank or ; & | ( `. */
const PROGRAM_WORD = new RegExp(`(^|[\\s;&|(\\\`])(${WORD})`, "g");
/** The arguments after it: blanks and words up to ; & | ) < > or a line end. */
const ARGS = new RegExp(`(?:[ \\t]+${WORD})*`, "y");
const WORDS = new RegExp(`[ \\t]+|${WORD}`, "g");

/** Shell text with the program rules applied to every simple command that has one. */
function maskPrograms(text: string): string {
  let out = "";
  let copied = 0;
  PROGRAM_WORD.lastIndex = 0;
  for (let m = PROGRAM_WORD.exec(text); m !== null; m = PROGRAM_WORD.exec(text)) {
    const program = m[2];
    // Cheap test first: only a known program's arguments are read.
    if (!PROGRAM_RULES.some((r) => r.programs.test(unquote(program).split("/").pop() ?? ""))) {
      continue;
    }
    ARGS.lastIndex = PROGRAM_WORD.lastIndex;
    const rest = ARGS.exec(text)?.[0] ?? "";
    const pieces = rest.match(WORDS) ?? [];
    const words = pieces.filter((p) => !/^[ \t]+$/.test(p));
    const rule = ruleFor(program, words);
    const end = PROGRAM_WORD.lastIndex + rest.length;
    if (!rule) {
      // Its arguments are not programs: go on after them (linear time).
      PROGRAM_WORD.lastIndex = end;
      continue;
    }
    const masked = applyRule(rule, words);
    let k = 0;
    out += text.slice(copied, PROGRAM_WORD.lastIndex) +
      pieces.map((p) => /^[ \t]+$/.test(p) ? p : masked[k++]).join("");
    copied = end;
    PROGRAM_WORD.lastIndex = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}
const LOOKS_LIKE_FLAG = /^--?[A-Za-z]/;

function maskValue(value: string): string {
  const q = value[0];
  return (q === "'" || q === '"') && value.length >= 2 ? `${q}${MASK}${q}` : MASK;
}

function compile(pattern: string | RegExp): RegExp {
  if (pattern instanceof RegExp) {
    return new RegExp(pattern.source, pattern.flags.replace(/[gdy]/g, "") + "gd");
  }
  try {
    return new RegExp(pattern, "gd");
  } catch (error) {
    throw new ProvctlError("InvalidConfig", "observe.redact_pattern_invalid", {
      params: { pattern, reason: error instanceof Error ? error.message : String(error) },
      cause: error,
    });
  }
}

export class Redactor {
  readonly #extra: RegExp[];

  constructor(options: RedactorOptions = {}) {
    this.#extra = (options.extraPatterns ?? []).map(compile);
  }

  /** Free text (one argument, a shell script, an error message) with secrets masked. */
  text(text: string): string {
    if (text === "") return text;
    let out = text.replace(PEM, MASK);
    out = out.replace(KNOWN_TOKENS, MASK);
    out = out.replace(URL_USERINFO, (_m, head: string) => `${head}:${MASK}@`);
    out = maskPrograms(out);
    out = scan(
      out,
      HEADER,
      ([, lead, name]) => isSecretName(name) ? `${lead}${name}: ${MASK}` : undefined,
    );
    out = scan(
      out,
      JSON_MEMBER,
      ([, head, name, value]) => isSecretName(name) ? head + maskValue(value) : undefined,
    );
    out = scan(
      out,
      FLAG,
      ([, lead, flag, sep, value]) =>
        isSecretName(flag) && (sep === "=" || !LOOKS_LIKE_FLAG.test(value))
          ? `${lead}${flag}${sep}${maskValue(value)}`
          : undefined,
    );
    out = scan(
      out,
      ASSIGNMENT,
      ([, lead, name, value]) =>
        isSecretName(name) && value !== MASK ? `${lead}${name}=${maskValue(value)}` : undefined,
    );
    for (const pattern of this.#extra) out = maskPattern(out, pattern);
    return out;
  }

  /** Each argument masked; an argument after a bare secret-looking flag is masked whole. */
  argv(args: readonly string[]): string[] {
    const out: string[] = [];
    let hideNext = false;
    for (const arg of args) {
      if (hideNext && !LOOKS_LIKE_FLAG.test(arg)) {
        out.push(MASK);
        hideNext = false;
        continue;
      }
      const bare = BARE_FLAG.exec(arg);
      hideNext = bare !== null && isSecretName(bare[1]);
      out.push(this.text(arg));
    }
    return out;
  }

  /** `[program, ...args]` as words, secrets masked as `command` masks them. */
  commandArgv(argv: readonly string[]): string[] {
    if (argv.length === 0) return [];
    const [program, ...args] = argv;
    const rule = ruleFor(program, args);
    return [this.text(program), ...this.argv(rule ? applyRule(rule, args) : args)];
  }

  /** `program args...` as one display line, secrets masked, arguments shell-quoted. */
  command(program: string, args: readonly string[]): string {
    const rule = ruleFor(program, args);
    const masked = rule ? applyRule(rule, args) : args;
    return [this.text(program), ...this.argv(masked)].map(displayQuote).join(" ");
  }
}

/**
 * Replaces each match of the global `re` for which `replace` returns a string. A match
 * it declines is not consumed: scanning resumes one character after its start, so a
 * secret inside a declined match (e.g. a header inside an error line) is still found.
 */
function scan(
  text: string,
  re: RegExp,
  replace: (match: RegExpExecArray) => string | undefined,
): string {
  let out = "";
  let copied = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const replacement = replace(m);
    if (replacement === undefined) {
      re.lastIndex = m.index + 1;
      continue;
    }
    out += text.slice(copied, m.index) + replacement;
    copied = m.index + m[0].length;
    if (m[0].length === 0) re.lastIndex++;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** An extra pattern's matches masked: its capture groups, or the whole match. */
function maskPattern(text: string, re: RegExp): string {
  return scan(text, re, (m) => {
    if (m[0] === "") return undefined;
    const spans = (m.indices ?? []).slice(1).filter((s): s is [number, number] =>
      s !== undefined && s[1] > s[0]
    );
    if (m.length === 1) return MASK;
    let out = "";
    let at = m.index;
    for (const [from, to] of spans) {
      if (from < at) continue; // nested group: its outer group is masked already
      out += text.slice(at, from) + MASK;
      at = to;
    }
    return out + text.slice(at, m.index + m[0].length);
  });
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./*-]+$/;

/** Shell-style quoting for display only (the audit log is read by people and grep). */
function displayQuote(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
