/** provctl __complete -- WORDS...: completion candidates for the shell scripts (hidden). */
import { proposeCompletions } from "@stricli/core";
import type { ProvctlContext } from "../context.ts";

export default async function (
  this: ProvctlContext,
  _flags: Record<string, never>,
  ...words: string[]
): Promise<void> {
  const { fullApp } = await import("../app.ts");
  const inputs = words.length === 0 ? [""] : words;
  const proposals = await proposeCompletions(fullApp(), inputs, this);
  for (const p of proposals) this.process.stdout.write(`${p.completion}\n`);
}
