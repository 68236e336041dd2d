/**
 * Finds where each key of a TOML document is written (line and column), so config
 * errors can point at `file:line:col` of an unknown or ill-typed key.
 *
 * Hand-written because smol-toml returns plain objects and keeps no source positions,
 * and no TOML parser on npm that we could pin gives key positions. This scanner runs
 * only on text smol-toml has already accepted, so it can assume valid TOML and only
 * needs to know enough syntax to skip values: strings (four kinds), arrays, inline
 * tables, comments, table and array-of-table headers, dotted and quoted keys.
 */

export interface Position {
  /** 1-based line. */
  readonly line: number;
  /** 1-based column, in UTF-16 code units like smol-toml's TomlError. */
  readonly column: number;
}

/** Positions of every key in a document, looked up by its path of key segments. */
export class KeyPositions {
  readonly #positions: Map<string, Position>;
  constructor(positions: Map<string, Position>) {
    this.#positions = positions;
  }

  /**
   * The position of the key at `path` (array elements as their index), or of the
   * nearest enclosing key that has one.
   */
  of(path: readonly (string | number)[]): Position | undefined {
    for (let n = path.length; n > 0; n--) {
      const found = this.#positions.get(pathId(path.slice(0, n)));
      if (found) return found;
    }
    return undefined;
  }
}

function pathId(path: readonly (string | number)[]): string {
  return path.map(String).join("\0");
}

const BARE_KEY = /[A-Za-z0-9_-]/;

/** Scans `text` (valid TOML) and records the position of every key it defines. */
export function keyPositions(text: string): KeyPositions {
  return new Scanner(text).run();
}

class Scanner {
  #pos = 0;
  readonly #text: string;
  readonly #lineStarts: number[] = [0];
  readonly #out = new Map<string, Position>();
  /** Array-of-tables paths (as ids) -> number of elements seen so far. */
  readonly #arrayTables = new Map<string, number>();

  constructor(text: string) {
    this.#text = text;
    for (let i = 0; i < text.length; i++) if (text[i] === "\n") this.#lineStarts.push(i + 1);
  }

  run(): KeyPositions {
    let table: (string | number)[] = [];
    for (;;) {
      this.#skipBlank(true);
      if (this.#pos >= this.#text.length) break;
      const before = this.#pos;
      if (this.#text[this.#pos] === "[") {
        table = this.#header();
      } else {
        this.#keyValue(table);
      }
      // Never loop forever on text this scanner does not understand.
      if (this.#pos === before) this.#pos++;
    }
    return new KeyPositions(this.#out);
  }

  #position(offset: number): Position {
    let lo = 0;
    let hi = this.#lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.#lineStarts[lo] + 1 };
  }

  #record(path: readonly (string | number)[], offset: number): void {
    const id = pathId(path);
    if (!this.#out.has(id)) this.#out.set(id, this.#position(offset));
  }

  /** Skips spaces and tabs, comments, and (if `newlines`) line breaks. */
  #skipBlank(newlines: boolean): void {
    const t = this.#text;
    while (this.#pos < t.length) {
      const c = t[this.#pos];
      if (c === " " || c === "\t") this.#pos++;
      else if (newlines && (c === "\n" || c === "\r")) this.#pos++;
      else if (c === "#") {
        while (this.#pos < t.length && t[this.#pos] !== "\n") this.#pos++;
      } else break;
    }
  }

  /** `[a.b]` or `[[a.b]]`; returns the path later key/values are relative to. */
  #header(): (string | number)[] {
    const isArray = this.#text.startsWith("[[", this.#pos);
    this.#pos += isArray ? 2 : 1;
    const keys = this.#dottedKey();
    // Resolve through earlier array tables: [a.b] after [[a]] means the last element of a.
    const path: (string | number)[] = [];
    for (const [i, key] of keys.entries()) {
      path.push(key.name);
      this.#record(path, key.offset);
      const count = this.#arrayTables.get(pathId(path));
      const last = i === keys.length - 1;
      if (last && isArray) {
        this.#arrayTables.set(pathId(path), (count ?? 0) + 1);
        path.push(count ?? 0);
        this.#record(path, key.offset);
      } else if (count !== undefined) {
        path.push(count - 1);
      }
    }
    this.#pos += isArray ? 2 : 1; // the closing bracket(s)
    return path;
  }

  #keyValue(base: readonly (string | number)[]): void {
    const keys = this.#dottedKey();
    const path = [...base];
    for (const key of keys) {
      path.push(key.name);
      this.#record(path, key.offset);
    }
    this.#skipBlank(false);
    this.#pos++; // "="
    this.#skipBlank(false);
    this.#value(path);
  }

  /** A key of one or more segments separated by dots, each bare or quoted. */
  #dottedKey(): { name: string; offset: number }[] {
    const keys: { name: string; offset: number }[] = [];
    for (;;) {
      this.#skipBlank(false);
      const offset = this.#pos;
      const c = this.#text[this.#pos];
      let name: string;
      if (c === '"') name = this.#basicString();
      else if (c === "'") name = this.#literalString();
      else {
        const start = this.#pos;
        while (this.#pos < this.#text.length && BARE_KEY.test(this.#text[this.#pos])) this.#pos++;
        name = this.#text.slice(start, this.#pos);
      }
      keys.push({ name, offset });
      this.#skipBlank(false);
      if (this.#text[this.#pos] !== ".") return keys;
      this.#pos++;
    }
  }

  #value(path: (string | number)[]): void {
    const t = this.#text;
    const c = t[this.#pos];
    if (c === "{") {
      this.#pos++;
      for (;;) {
        this.#skipBlank(true);
        if (t[this.#pos] === "}" || this.#pos >= t.length) break;
        if (t[this.#pos] === ",") {
          this.#pos++;
          continue;
        }
        const before = this.#pos;
        this.#keyValue(path);
        if (this.#pos === before) this.#pos++;
      }
      this.#pos++;
    } else if (c === "[") {
      this.#pos++;
      for (let index = 0;; index++) {
        this.#skipBlank(true);
        if (t[this.#pos] === "]" || this.#pos >= t.length) break;
        const before = this.#pos;
        this.#value([...path, index]);
        this.#skipBlank(true);
        if (t[this.#pos] === ",") this.#pos++;
        else if (this.#pos === before) this.#pos++;
      }
      this.#pos++;
    } else if (t.startsWith('"""', this.#pos)) {
      this.#multiline('"""');
    } else if (t.startsWith("'''", this.#pos)) {
      this.#multiline("'''");
    } else if (c === '"') {
      this.#basicString();
    } else if (c === "'") {
      this.#literalString();
    } else {
      // Number, boolean or date-time (which may contain one space): up to a delimiter.
      while (this.#pos < t.length && !/[,\]}\r\n#]/.test(t[this.#pos])) this.#pos++;
    }
  }

  #multiline(quote: '"""' | "'''"): void {
    const t = this.#text;
    this.#pos += 3;
    while (this.#pos < t.length) {
      if (quote === '"""' && t[this.#pos] === "\\") {
        this.#pos += 2;
        continue;
      }
      if (t.startsWith(quote, this.#pos)) {
        this.#pos += 3;
        // Up to two more quotes may close the string as part of its content.
        let extra = 0;
        while (extra < 2 && t[this.#pos] === quote[0]) {
          this.#pos++;
          extra++;
        }
        return;
      }
      this.#pos++;
    }
  }

  /** A "..." string (used for keys too); returns its decoded value. */
  #basicString(): string {
    const t = this.#text;
    this.#pos++;
    let out = "";
    while (this.#pos < t.length && t[this.#pos] !== '"') {
      if (t[this.#pos] === "\\") {
        const e = t[this.#pos + 1];
        this.#pos += 2;
        if (e === "u" || e === "U") {
          const len = e === "u" ? 4 : 8;
          out += String.fromCodePoint(parseInt(t.slice(this.#pos, this.#pos + len), 16));
          this.#pos += len;
        } else if (e === "x") {
          out += String.fromCodePoint(parseInt(t.slice(this.#pos, this.#pos + 2), 16));
          this.#pos += 2;
        } else {
          out += ESCAPES[e] ?? e;
        }
      } else {
        out += t[this.#pos++];
      }
    }
    this.#pos++;
    return out;
  }

  #literalString(): string {
    const start = ++this.#pos;
    while (this.#pos < this.#text.length && this.#text[this.#pos] !== "'") this.#pos++;
    return this.#text.slice(start, this.#pos++);
  }
}

const ESCAPES: Record<string, string> = {
  b: "\b",
  t: "\t",
  n: "\n",
  f: "\f",
  r: "\r",
  e: "\x1b",
  '"': '"',
  "\\": "\\",
};
