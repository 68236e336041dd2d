/** Text rendering helpers: colours (only on a TTY, never with NO_COLOR) and tables. */
import { escapeControl } from "../core/terminal_text.ts";

export interface Palette {
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const wrap = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
const plain = (s: string) => s;

export function palette(enabled: boolean): Palette {
  return enabled
    ? {
      green: wrap(32, 39),
      red: wrap(31, 39),
      yellow: wrap(33, 39),
      dim: wrap(2, 22),
      bold: wrap(1, 22),
    }
    : { green: plain, red: plain, yellow: plain, dim: plain, bold: plain };
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const visibleLength = (s: string) => s.replace(ANSI, "").length;

// The colour codes `palette` writes; any other control character in a cell is untrusted.
// deno-lint-ignore no-control-regex
const PALETTE_CODE = /(\x1b\[(?:1|2|22|31|32|33|39)m)/;

/** A cell with its control characters escaped, except the palette's own colour codes. */
function safeCell(cell: string): string {
  return cell.split(PALETTE_CODE).map((part, i) => (i % 2 ? part : escapeControl(part))).join("");
}

/**
 * Left-aligned columns separated by two spaces; the last column is not padded. Cells are
 * names, labels and remote text: their control characters are shown escaped.
 */
export function table(input: readonly (readonly string[])[]): string {
  const rows = input.map((row) => row.map(safeCell));
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))));
  }
  return rows.map((row) =>
    row.map((
      cell,
      i,
    ) => (i === row.length - 1 ? cell : cell + " ".repeat(widths[i] - visibleLength(cell))))
      .join("  ").trimEnd()
  ).join("\n") + "\n";
}

/** "3s", "5m", "2h", "4d" */
export function shortDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}
