/** provctl's version, shown by `provctl version` and `--version`. */
export const VERSION = "0.1.0";
